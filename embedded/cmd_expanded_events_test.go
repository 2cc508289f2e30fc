package embedded_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// nextExpandedEvent returns the stream's next event or fails.
func nextExpandedEvent(t *testing.T, cs *mongo.ChangeStream) bson.Raw {
	t.Helper()
	if !cs.Next(testCtx(t)) {
		t.Fatalf("no event: %v", cs.Err())
	}
	return cs.Current
}

// TestExpandedEvents checks showExpandedEvents: the catalog events
// (create, createIndexes, dropIndexes, modify, rename, drop) with
// collectionUUID and operationDescription as MongoDB reports them, and
// none of them on a stream without the option.
func TestExpandedEvents(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	plain, err := db.Watch(ctx, bson.A{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close(ctx)
	cs, err := db.Watch(ctx, bson.A{}, options.ChangeStream().SetShowExpandedEvents(true))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(ctx)

	if err := db.CreateCollection(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	coll := db.Collection("c")
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "x", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := coll.Indexes().DropOne(ctx, "x_1"); err != nil {
		t.Fatal(err)
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "c"}, {Key: "validator", Value: bson.D{{Key: "a", Value: bson.D{{Key: "$exists", Value: true}}}}}}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "a", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Client().Database("admin").RunCommand(ctx, bson.D{{Key: "renameCollection", Value: db.Name() + ".c"}, {Key: "to", Value: db.Name() + ".d"}}).Err(); err != nil {
		t.Fatal(err)
	}

	create := nextExpandedEvent(t, cs)
	_, uuid, ok := create.Lookup("collectionUUID").BinaryOK()
	if create.Lookup("operationType").StringValue() != "create" || !ok || uuid == nil ||
		create.Lookup("operationDescription", "idIndex", "name").StringValue() != "_id_" {
		t.Fatalf("create event: %v", create)
	}
	ci := nextExpandedEvent(t, cs)
	if ci.Lookup("operationType").StringValue() != "createIndexes" || ci.Lookup("operationDescription", "indexes", "0", "name").StringValue() != "x_1" {
		t.Fatalf("createIndexes event: %v", ci)
	}
	di := nextExpandedEvent(t, cs)
	if di.Lookup("operationType").StringValue() != "dropIndexes" || di.Lookup("operationDescription", "indexes", "0", "name").StringValue() != "x_1" {
		t.Fatalf("dropIndexes event: %v", di)
	}
	mod := nextExpandedEvent(t, cs)
	if mod.Lookup("operationType").StringValue() != "modify" || mod.Lookup("operationDescription", "validator").Type != bson.TypeEmbeddedDocument {
		t.Fatalf("modify event: %v", mod)
	}
	if ins := nextExpandedEvent(t, cs); ins.Lookup("operationType").StringValue() != "insert" {
		t.Fatalf("insert event: %v", ins)
	}
	ren := nextExpandedEvent(t, cs)
	if ren.Lookup("operationType").StringValue() != "rename" || ren.Lookup("operationDescription", "to", "coll").StringValue() != "d" {
		t.Fatalf("rename event: %v", ren)
	}
	// The plain stream sees only the insert and the rename.
	if ev := nextExpandedEvent(t, plain); ev.Lookup("operationType").StringValue() != "insert" {
		t.Fatalf("plain stream's first event: %v", ev)
	}
	if ev := nextExpandedEvent(t, plain); ev.Lookup("operationType").StringValue() != "rename" {
		t.Fatalf("plain stream's second event: %v", ev)
	}
}

// TestDisambiguatedPaths checks updateDescription.disambiguatedPaths of an
// expanded stream: present (empty) on every update, with the components of
// paths through numeric field names or dotted field names, array indexes
// as numbers (MongoDB's change_stream_show_expanded_events tests).
func TestDisambiguatedPaths(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	coll := db.Collection("c")
	seed(t, coll, bson.D{{Key: "_id", Value: 100},
		{Key: "arr", Value: bson.A{bson.A{bson.D{{Key: "0", Value: "numeric"}}}}},
		{Key: "obj", Value: bson.D{{Key: "0", Value: bson.D{{Key: "1", Value: "numeric"}}}}},
		{Key: "top", Value: bson.A{1, 2}},
	})
	cs, err := coll.Watch(ctx, bson.A{}, options.ChangeStream().SetShowExpandedEvents(true))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(ctx)
	update := func(set bson.D) bson.Raw {
		t.Helper()
		if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 100}}, bson.D{{Key: "$set", Value: set}}); err != nil {
			t.Fatal(err)
		}
		return nextExpandedEvent(t, cs).Lookup("updateDescription", "disambiguatedPaths").Document()
	}
	if got := update(bson.D{{Key: "top.1", Value: 3}}); len(got) != 5 {
		t.Fatalf("array index only: disambiguatedPaths = %v, want {}", got)
	}
	got := update(bson.D{{Key: "arr.0.0.0", Value: "x"}})
	wantJSON(t, got.Lookup("arr.0.0.0"), `["arr",0,0,"0"]`)
	got = update(bson.D{{Key: "obj.0.1", Value: "y"}})
	wantJSON(t, got.Lookup("obj.0.1"), `["obj","0","1"]`)
}
