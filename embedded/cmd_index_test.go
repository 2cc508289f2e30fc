package embedded_test

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestIndexesLifecycle(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	name, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true)})
	if err != nil || name != "email_1" {
		t.Fatalf("CreateOne %q %v", name, err)
	}
	if _, err := coll.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "a", Value: 1}, {Key: "b", Value: -1}}},
		{Keys: bson.D{{Key: "s", Value: 1}}, Options: options.Index().SetSparse(true).SetName("sparse_s")},
	}); err != nil {
		t.Fatal(err)
	}
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range specs {
		got = append(got, s.Name)
	}
	wantJSON(t, got, `["_id_","email_1","a_1_b_-1","sparse_s"]`)
	if specs[1].Unique == nil || !*specs[1].Unique {
		t.Fatalf("email_1 not unique: %+v", specs[1])
	}
	// The unique index is enforced, with keyPattern/keyValue in the write error.
	seed(t, coll, bson.D{{Key: "_id", Value: 1}, {Key: "email", Value: "x@y"}})
	_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}, {Key: "email", Value: "x@y"}})
	var we mongo.WriteException
	if !errors.As(err, &we) || len(we.WriteErrors) != 1 || we.WriteErrors[0].Code != 11000 {
		t.Fatalf("want duplicate key, got %v", err)
	}
	raw := we.WriteErrors[0].Raw
	if kp, err := raw.LookupErr("keyPattern"); err != nil || kp.String() != `{"email": {"$numberInt":"1"}}` {
		t.Fatalf("keyPattern in %v", raw)
	}
	// Creating an existing index again is a no-op.
	out := mustRun(t, db, bson.D{{Key: "createIndexes", Value: "c"}, {Key: "indexes", Value: bson.A{bson.D{{Key: "key", Value: bson.D{{Key: "email", Value: 1}}}, {Key: "name", Value: "email_1"}, {Key: "unique", Value: true}}}}})
	if asInt(t, get(out, "numIndexesBefore")) != 4 || asInt(t, get(out, "numIndexesAfter")) != 4 {
		t.Fatalf("reply %v", out)
	}
	// Dropping by name, by key, then all.
	if err := coll.Indexes().DropOne(ctx, "sparse_s"); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, db, bson.D{{Key: "dropIndexes", Value: "c"}, {Key: "index", Value: bson.D{{Key: "a", Value: 1}, {Key: "b", Value: -1}}}})
	if asInt(t, get(out, "nIndexesWas")) != 3 {
		t.Fatalf("reply %v", out)
	}
	if err := coll.Indexes().DropAll(ctx); err != nil {
		t.Fatal(err)
	}
	specs, err = coll.Indexes().ListSpecifications(ctx)
	if err != nil || len(specs) != 1 || specs[0].Name != "_id_" {
		t.Fatalf("after DropAll %v %v", specs, err)
	}
	wantCode(t, coll.Indexes().DropOne(ctx, "nope_1"), 27, "")
}

func TestIndexErrors(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seed(t, coll, bson.D{{Key: "_id", Value: 1}, {Key: "k", Value: 1}}, bson.D{{Key: "_id", Value: 2}, {Key: "k", Value: 1}})
	_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "k", Value: 1}}, Options: options.Index().SetUnique(true)})
	wantCode(t, err, 11000, "")
	_, err = runCommand(t, db, bson.D{{Key: "createIndexes", Value: "c"}, {Key: "indexes", Value: bson.A{bson.D{{Key: "key", Value: bson.D{{Key: "z", Value: 1}}}}}}})
	wantCode(t, err, 9, "name")
	_, err = runCommand(t, db, bson.D{{Key: "listIndexes", Value: "missing"}})
	wantCode(t, err, 26, "")
	_, err = runCommand(t, db, bson.D{{Key: "dropIndexes", Value: "c"}, {Key: "index", Value: "_id_"}})
	wantCode(t, err, 72, "")
}
