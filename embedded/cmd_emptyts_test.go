package embedded_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestEmptyTimestampReplacement checks MongoDB's rule for Timestamp(0, 0):
// in inserted documents and replacements a top-level empty timestamp
// becomes the current time, operator updates keep it, and
// bypassEmptyTsReplacement keeps it everywhere.
func TestEmptyTimestampReplacement(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	coll := db.Collection("c")
	empty := bson.Timestamp{}
	run := func(cmd bson.D) {
		t.Helper()
		if err := db.RunCommand(ctx, cmd).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	insert := func(id int, bypass bool) {
		run(bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: id}, {Key: "a", Value: empty}}}}, {Key: "bypassEmptyTsReplacement", Value: bypass}})
	}
	insert(1, false)
	insert(2, true)
	insert(3, false)
	insert(4, false)
	run(bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{{Key: "_id", Value: 3}}}, {Key: "u", Value: bson.D{{Key: "a", Value: empty}}}}}}, {Key: "bypassEmptyTsReplacement", Value: true}})
	run(bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{{Key: "_id", Value: 4}}}, {Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: empty}}}}}}}}})
	run(bson.D{{Key: "findAndModify", Value: "c"}, {Key: "query", Value: bson.D{{Key: "_id", Value: 5}}}, {Key: "update", Value: bson.D{{Key: "a", Value: empty}}}, {Key: "upsert", Value: true}})
	want := map[int]bool{1: true, 2: false, 3: false, 4: false, 5: true} // replaced?
	for id, replaced := range want {
		var doc struct {
			A bson.Timestamp `bson:"a"`
		}
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if got := doc.A != empty; got != replaced {
			t.Errorf("_id %d: a = %v, want replaced %v", id, doc.A, replaced)
		}
	}
	if _, err := db.Client().BulkWrite(ctx, []mongo.ClientBulkWrite{{Database: db.Name(), Collection: "c",
		Model: mongo.NewClientInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: 6}, {Key: "a", Value: empty}})}}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		A bson.Timestamp `bson:"a"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 6}}).Decode(&doc); err != nil || doc.A == empty {
		t.Fatalf("bulkWrite insert: a = %v (%v), want the current time", doc.A, err)
	}
}
