package embedded_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func seedNumbers(t *testing.T, coll *mongo.Collection, n int) {
	t.Helper()
	docs := make([]any, n)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: int32(i + 1)}, {Key: "x", Value: int32((i + 1) * 11)}, {Key: "even", Value: (i+1)%2 == 0}}
	}
	if _, err := coll.InsertMany(testCtx(t), docs); err != nil {
		t.Fatal(err)
	}
}

func TestFindFilterSortSkipLimitProjection(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seedNumbers(t, coll, 10)
	docs := all(t)(coll.Find(ctx, bson.D{{Key: "even", Value: true}},
		options.Find().SetSort(bson.D{{Key: "x", Value: -1}}).SetSkip(1).SetLimit(2).SetProjection(bson.D{{Key: "even", Value: 0}})))
	wantJSON(t, docs, `[{"_id":8,"x":88},{"_id":6,"x":66}]`)
	// An inclusion projection keeps _id unless excluded.
	docs = all(t)(coll.Find(ctx, bson.D{{Key: "_id", Value: 3}}, options.Find().SetProjection(bson.D{{Key: "x", Value: 1}})))
	wantJSON(t, docs, `[{"_id":3,"x":33}]`)
	// A missing collection is an empty result, not an error.
	docs = all(t)(db.Collection("missing").Find(ctx, bson.D{}))
	if len(docs) != 0 {
		t.Fatalf("missing collection returned %v", docs)
	}
}

func TestFindBatchesThroughGetMore(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seedNumbers(t, coll, 250)
	// Default first batch (101) then getMores.
	if docs := all(t)(coll.Find(ctx, bson.D{})); len(docs) != 250 {
		t.Fatalf("got %d docs", len(docs))
	}
	// Small batches, a limit that is not a multiple of the batch size.
	docs := all(t)(coll.Find(ctx, bson.D{}, options.Find().SetBatchSize(7).SetLimit(30).SetSort(bson.D{{Key: "_id", Value: 1}})))
	if len(docs) != 30 || asInt(t, get(docs[29], "_id")) != 30 {
		t.Fatalf("got %d docs, last %v", len(docs), docs[len(docs)-1])
	}
	// The raw reply: first batch of 3, open cursor, ns.
	out := mustRun(t, db, bson.D{{Key: "find", Value: "c"}, {Key: "batchSize", Value: 3}})
	cur := get(out, "cursor").(bson.D)
	if len(get(cur, "firstBatch").(bson.A)) != 3 || asInt(t, get(cur, "id")) == 0 || get(cur, "ns") != db.Name()+".c" {
		t.Fatalf("cursor %v", cur)
	}
	// A limit exhausted in the first batch closes the cursor.
	out = mustRun(t, db, bson.D{{Key: "find", Value: "c"}, {Key: "limit", Value: 5}})
	cur = get(out, "cursor").(bson.D)
	if len(get(cur, "firstBatch").(bson.A)) != 5 || asInt(t, get(cur, "id")) != 0 {
		t.Fatalf("cursor %v", cur)
	}
	// A negative limit asks for one batch.
	out = mustRun(t, db, bson.D{{Key: "find", Value: "c"}, {Key: "limit", Value: -3}})
	cur = get(out, "cursor").(bson.D)
	if len(get(cur, "firstBatch").(bson.A)) != 3 || asInt(t, get(cur, "id")) != 0 {
		t.Fatalf("cursor %v", cur)
	}
	out = mustRun(t, db, bson.D{{Key: "find", Value: "c"}, {Key: "limit", Value: -150}})
	cur = get(out, "cursor").(bson.D)
	if len(get(cur, "firstBatch").(bson.A)) != 150 || asInt(t, get(cur, "id")) != 0 {
		t.Fatalf("limit -150: %d docs, cursor id %v", len(get(cur, "firstBatch").(bson.A)), get(cur, "id"))
	}
	out = mustRun(t, db, bson.D{{Key: "find", Value: "c"}, {Key: "batchSize", Value: 4}, {Key: "singleBatch", Value: true}})
	cur = get(out, "cursor").(bson.D)
	if len(get(cur, "firstBatch").(bson.A)) != 4 || asInt(t, get(cur, "id")) != 0 {
		t.Fatalf("cursor %v", cur)
	}
}

func TestFindOne(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seedNumbers(t, coll, 5)
	var d bson.D
	if err := coll.FindOne(ctx, bson.D{{Key: "x", Value: bson.D{{Key: "$gt", Value: 20}}}}, options.FindOne().SetSort(bson.D{{Key: "x", Value: 1}}).SetSkip(1)).Decode(&d); err != nil {
		t.Fatal(err)
	}
	wantJSON(t, d, `{"_id":3,"x":33,"even":false}`)
	if err := coll.FindOne(ctx, bson.D{{Key: "x", Value: 0}}).Err(); err != mongo.ErrNoDocuments {
		t.Fatalf("want ErrNoDocuments, got %v", err)
	}
}

func TestFindRejectsBadOptions(t *testing.T) {
	db := testDB(t)
	seedNumbers(t, db.Collection("c"), 2)
	find := func(extra ...bson.E) error {
		_, err := runCommand(t, db, append(bson.D{{Key: "find", Value: "c"}}, extra...))
		return err
	}
	wantCode(t, find(bson.E{Key: "bogus", Value: 1}), 40415, "BSON field 'find.bogus' is an unknown field.")
	wantCode(t, find(bson.E{Key: "filter", Value: 3}), 14, "find.filter")
	wantCode(t, find(bson.E{Key: "skip", Value: -1}), 51024, "skip")
	wantCode(t, find(bson.E{Key: "batchSize", Value: -1}), 51024, "batchSize")
	wantCode(t, find(bson.E{Key: "hint", Value: "nope"}), 2, "hint")
	if err := find(bson.E{Key: "tailable", Value: true}); err == nil {
		t.Fatal("tailable find on a non-capped collection succeeded")
	}
	wantCode(t, find(bson.E{Key: "filter", Value: bson.D{{Key: "a", Value: bson.D{{Key: "$bogus", Value: 1}}}}}), 2, "$bogus")
	// Accepted: hints naming existing indexes, harmless flags.
	if err := find(bson.E{Key: "hint", Value: bson.D{{Key: "_id", Value: 1}}}, bson.E{Key: "allowDiskUse", Value: true},
		bson.E{Key: "noCursorTimeout", Value: true}, bson.E{Key: "comment", Value: "x"}, bson.E{Key: "maxTimeMS", Value: 5000}); err != nil {
		t.Fatal(err)
	}
	if err := find(bson.E{Key: "collation", Value: bson.D{{Key: "locale", Value: "simple"}}}); err != nil {
		t.Fatal(err)
	}
}

func TestFindWithLet(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seedNumbers(t, coll, 3)
	docs := all(t)(coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$lte", Value: 2}}}}, options.Find().
		SetLet(bson.D{{Key: "k", Value: 100}}).
		SetProjection(bson.D{{Key: "y", Value: bson.D{{Key: "$add", Value: bson.A{"$x", "$$k"}}}}}).
		SetSort(bson.D{{Key: "_id", Value: -1}})))
	wantJSON(t, docs, `[{"_id":2,"y":122},{"_id":1,"y":111}]`)
	// Variables in the filter's $expr.
	docs = all(t)(coll.Find(ctx, bson.D{{Key: "$expr", Value: bson.D{{Key: "$eq", Value: bson.A{"$x", "$$want"}}}}},
		options.Find().SetLet(bson.D{{Key: "want", Value: 33}})))
	wantJSON(t, ids(docs), `[3]`)
}
