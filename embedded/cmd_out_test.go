package embedded_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestAggregateOut(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	src, target := db.Collection("c"), db.Collection("t")
	seedNumbers(t, src, 5)
	seed(t, target, bson.D{{Key: "_id", Value: "old"}})
	if _, err := target.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "x", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
	docs := all(t)(src.Aggregate(ctx, bson.A{
		bson.D{{Key: "$match", Value: bson.D{{Key: "even", Value: true}}}},
		bson.D{{Key: "$project", Value: bson.D{{Key: "x", Value: 1}}}},
		bson.D{{Key: "$out", Value: "t"}},
	}))
	if len(docs) != 0 {
		t.Fatalf("$out returned documents: %v", docs)
	}
	// The target holds exactly the result and keeps its indexes.
	wantJSON(t, all(t)(target.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))), `[{"_id":2,"x":22},{"_id":4,"x":44}]`)
	specs, err := target.Indexes().ListSpecifications(ctx)
	if err != nil || len(specs) != 2 || specs[1].Name != "x_1" {
		t.Fatalf("indexes after $out: %v %v", specs, err)
	}

	// A result violating the target's unique index leaves the target as it was.
	_, err = src.Aggregate(ctx, bson.A{
		bson.D{{Key: "$project", Value: bson.D{{Key: "x", Value: "same"}}}},
		bson.D{{Key: "$out", Value: "t"}},
	})
	wantCode(t, err, 11000, "")
	wantJSON(t, ids(all(t)(target.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})))), `[2,4]`)
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil || len(names) != 2 {
		t.Fatalf("collections after a failed $out (temporary one left behind?): %v %v", names, err)
	}

	// Into another database, creating the collection.
	other := db.Client().Database(db.Name() + "_out")
	t.Cleanup(func() { _ = other.Drop(ctx) })
	if _, err := src.Aggregate(ctx, bson.A{bson.D{{Key: "$out", Value: bson.D{{Key: "db", Value: other.Name()}, {Key: "coll", Value: "copy"}}}}}); err != nil {
		t.Fatal(err)
	}
	if n, err := other.Collection("copy").CountDocuments(ctx, bson.D{}); err != nil || n != 5 {
		t.Fatalf("copy holds %d (%v)", n, err)
	}

	_, err = runCommand(t, db, bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{
		bson.D{{Key: "$out", Value: "t"}}, bson.D{{Key: "$match", Value: bson.D{}}},
	}}, {Key: "cursor", Value: bson.D{}}})
	wantCode(t, err, 40601, "final stage")
	_, err = runCommand(t, db, bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$out", Value: "t"}}}},
		{Key: "cursor", Value: bson.D{}}, {Key: "readConcern", Value: bson.D{{Key: "level", Value: "linearizable"}}}})
	if err == nil {
		t.Fatal("$out with linearizable read concern succeeded")
	}
}
