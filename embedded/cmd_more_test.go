package embedded_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestHintsAreValidatedEverywhere(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seedNumbers(t, coll, 3)
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "x", Value: -1}}}); err != nil {
		t.Fatal(err)
	}
	good := []any{"x_-1", bson.D{{Key: "x", Value: -1}}, bson.D{{Key: "$natural", Value: 1}}}
	bad := []any{"y_1", bson.D{{Key: "x", Value: 1}}}
	for _, h := range good {
		if _, err := coll.CountDocuments(ctx, bson.D{}, options.Count().SetHint(h)); err != nil {
			t.Fatalf("count hint %v: %v", h, err)
		}
		if _, err := coll.Find(ctx, bson.D{}, options.Find().SetHint(h)); err != nil {
			t.Fatalf("find hint %v: %v", h, err)
		}
		if err := coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "h", Value: 1}}}},
			options.FindOneAndUpdate().SetHint(h)).Err(); err != nil {
			t.Fatalf("findAndModify hint %v: %v", h, err)
		}
	}
	for _, h := range bad {
		_, err := coll.Find(ctx, bson.D{}, options.Find().SetHint(h))
		wantCode(t, err, 2, "hint")
		_, err = coll.Aggregate(ctx, bson.A{}, options.Aggregate().SetHint(h))
		wantCode(t, err, 2, "hint")
		_, err = coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: 99}}, options.DeleteOne().SetHint(h))
		wantCode(t, err, 2, "hint")
		err = coll.FindOneAndDelete(ctx, bson.D{{Key: "_id", Value: 99}}, options.FindOneAndDelete().SetHint(h)).Err()
		wantCode(t, err, 2, "hint")
	}
}

func TestBulkWriteCommandShape(t *testing.T) {
	db := testDB(t)
	admin := db.Client().Database("admin")
	ns := db.Name() + ".c"
	out := mustRun(t, admin, bson.D{{Key: "bulkWrite", Value: 1}, {Key: "errorsOnly", Value: true}, {Key: "ordered", Value: false},
		{Key: "ops", Value: bson.A{
			bson.D{{Key: "insert", Value: 0}, {Key: "document", Value: bson.D{{Key: "_id", Value: 1}}}},
			bson.D{{Key: "insert", Value: 0}, {Key: "document", Value: bson.D{{Key: "_id", Value: 1}}}},
			bson.D{{Key: "update", Value: 0}, {Key: "filter", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "updateMods", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}}},
			bson.D{{Key: "delete", Value: 0}, {Key: "filter", Value: bson.D{{Key: "_id", Value: 7}}}, {Key: "multi", Value: false}},
		}},
		{Key: "nsInfo", Value: bson.A{bson.D{{Key: "ns", Value: ns}}}}})
	for key, want := range map[string]int64{"nErrors": 1, "nInserted": 1, "nMatched": 1, "nModified": 1, "nUpserted": 0, "nDeleted": 0} {
		if got := asInt(t, get(out, key)); got != want {
			t.Fatalf("%s = %d, want %d in %v", key, got, want, out)
		}
	}
	cur := get(out, "cursor").(bson.D)
	batch := get(cur, "firstBatch").(bson.A)
	if len(batch) != 1 || get(cur, "ns") != "admin.$cmd.bulkWrite" {
		t.Fatalf("errorsOnly cursor %v", cur)
	}
	item := batch[0].(bson.D)
	if asInt(t, get(item, "idx")) != 1 || asInt(t, get(item, "code")) != 11000 || asInt(t, get(item, "ok")) != 0 {
		t.Fatalf("error item %v", item)
	}
	bw := func(ops bson.A, nsInfo bson.A) error {
		_, err := runCommand(t, admin, bson.D{{Key: "bulkWrite", Value: 1}, {Key: "ops", Value: ops}, {Key: "nsInfo", Value: nsInfo}})
		return err
	}
	nsInfo := bson.A{bson.D{{Key: "ns", Value: ns}}}
	if err := bw(bson.A{bson.D{{Key: "insert", Value: 3}, {Key: "document", Value: bson.D{}}}}, nsInfo); err == nil {
		t.Fatal("an nsInfo index out of range was accepted")
	}
	wantCode(t, bw(bson.A{bson.D{{Key: "insert", Value: 0}, {Key: "document", Value: bson.D{}}, {Key: "bogus", Value: 1}}}, nsInfo), 40415, "bogus")
	wantCode(t, bw(bson.A{bson.D{{Key: "update", Value: 0}, {Key: "filter", Value: bson.D{}}}}, nsInfo), 40414, "updateMods")
}

func TestCatalogEdges(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	admin := db.Client().Database("admin")
	coll := db.Collection("c")
	seedNumbers(t, coll, 2)
	// Indexes: a list of names, TTL bounds.
	if _, err := coll.Indexes().CreateMany(ctx, []mongo.IndexModel{{Keys: bson.D{{Key: "a", Value: 1}}}, {Keys: bson.D{{Key: "b", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, db, bson.D{{Key: "dropIndexes", Value: "c"}, {Key: "index", Value: bson.A{"a_1", "b_1"}}})
	if asInt(t, get(out, "nIndexesWas")) != 3 {
		t.Fatalf("dropIndexes %v", out)
	}
	_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "t", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(-5)})
	if err == nil {
		t.Fatal("negative expireAfterSeconds accepted")
	}
	// collMod validator, then a failing insert.
	mustRun(t, db, bson.D{{Key: "collMod", Value: "c"}, {Key: "validator", Value: bson.D{{Key: "x", Value: bson.D{{Key: "$exists", Value: true}}}}}})
	_, err = coll.InsertOne(ctx, bson.D{{Key: "y", Value: 1}})
	wantCode(t, err, 121, "")
	// Rename across databases.
	other := db.Client().Database(db.Name() + "_to")
	t.Cleanup(func() { _ = other.Drop(ctx) })
	mustRun(t, admin, bson.D{{Key: "renameCollection", Value: db.Name() + ".c"}, {Key: "to", Value: other.Name() + ".moved"}})
	if n, err := other.Collection("moved").CountDocuments(ctx, bson.D{}); err != nil || n != 2 {
		t.Fatalf("moved holds %d (%v)", n, err)
	}
	_, err = runCommand(t, admin, bson.D{{Key: "renameCollection", Value: "nodot"}, {Key: "to", Value: other.Name() + ".x"}})
	if err == nil {
		t.Fatal("rename of an invalid namespace accepted")
	}
}
