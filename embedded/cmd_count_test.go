package embedded_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestCountAndEstimatedCount(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seedNumbers(t, coll, 10)
	if n, err := coll.EstimatedDocumentCount(ctx); err != nil || n != 10 {
		t.Fatalf("EstimatedDocumentCount %d %v", n, err)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{{Key: "even", Value: true}}, options.Count().SetSkip(1).SetLimit(3)); err != nil || n != 3 {
		t.Fatalf("CountDocuments %d %v", n, err)
	}
	if n, err := db.Collection("missing").EstimatedDocumentCount(ctx); err != nil || n != 0 {
		t.Fatalf("missing collection %d %v", n, err)
	}
	if n, err := db.Collection("missing").CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
		t.Fatalf("missing collection %d %v", n, err)
	}
	count := func(extra ...bson.E) (bson.D, error) {
		return runCommand(t, db, append(bson.D{{Key: "count", Value: "c"}}, extra...))
	}
	for _, tc := range []struct {
		extra []bson.E
		want  int64
	}{
		{nil, 10},
		{[]bson.E{{Key: "query", Value: bson.D{{Key: "x", Value: bson.D{{Key: "$lt", Value: 50}}}}}}, 4},
		{[]bson.E{{Key: "skip", Value: 8}}, 2},
		{[]bson.E{{Key: "limit", Value: 3}}, 3},
		{[]bson.E{{Key: "limit", Value: -3}}, 3},
		{[]bson.E{{Key: "skip", Value: 20}}, 0},
	} {
		out, err := count(tc.extra...)
		if err != nil {
			t.Fatal(err)
		}
		if got := asInt(t, get(out, "n")); got != tc.want {
			t.Fatalf("count %v = %d, want %d", tc.extra, got, tc.want)
		}
	}
	_, err := count(bson.E{Key: "bogus", Value: 1})
	wantCode(t, err, 40415, "BSON field 'count.bogus' is an unknown field.")
	_, err = count(bson.E{Key: "skip", Value: -1})
	wantCode(t, err, 51024, "skip")
}

func TestDistinct(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seed(t, coll,
		bson.D{{Key: "_id", Value: 1}, {Key: "t", Value: "b"}},
		bson.D{{Key: "_id", Value: 2}, {Key: "t", Value: bson.A{"a", "c"}}},
		bson.D{{Key: "_id", Value: 3}, {Key: "t", Value: "b"}},
		bson.D{{Key: "_id", Value: 4}})
	res := coll.Distinct(ctx, "t", bson.D{})
	var vals []string
	if err := res.Decode(&vals); err != nil {
		t.Fatal(err)
	}
	wantJSON(t, vals, `["a","b","c"]`)
	if err := coll.Distinct(ctx, "t", bson.D{{Key: "_id", Value: bson.D{{Key: "$ne", Value: 2}}}}).Decode(&vals); err != nil {
		t.Fatal(err)
	}
	wantJSON(t, vals, `["b"]`)
	out := mustRun(t, db, bson.D{{Key: "distinct", Value: "missing"}, {Key: "key", Value: "x"}})
	wantJSON(t, get(out, "values"), `[]`)
	_, err := runCommand(t, db, bson.D{{Key: "distinct", Value: "c"}})
	wantCode(t, err, 40414, "key")
	_, err = runCommand(t, db, bson.D{{Key: "distinct", Value: "c"}, {Key: "key", Value: 1}})
	wantCode(t, err, 14, "distinct.key")
}

func TestAggregate(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seedNumbers(t, coll, 6)
	docs := all(t)(coll.Aggregate(ctx, bson.A{
		bson.D{{Key: "$match", Value: bson.D{{Key: "x", Value: bson.D{{Key: "$gt", Value: 11}}}}}},
		bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$even"}, {Key: "sum", Value: bson.D{{Key: "$sum", Value: "$x"}}}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
		bson.D{{Key: "$sort", Value: bson.D{{Key: "_id", Value: 1}}}},
	}))
	wantJSON(t, docs, `[{"_id":false,"sum":88,"n":2},{"_id":true,"sum":132,"n":3}]`)
	// Batches of 2 through getMore.
	docs = all(t)(coll.Aggregate(ctx, bson.A{bson.D{{Key: "$sort", Value: bson.D{{Key: "_id", Value: -1}}}}}, options.Aggregate().SetBatchSize(2)))
	wantJSON(t, ids(docs), `[6,5,4,3,2,1]`)
	docs = all(t)(coll.Aggregate(ctx, bson.A{bson.D{{Key: "$count", Value: "n"}}}))
	wantJSON(t, docs, `[{"n":6}]`)
	// let variables reach expressions.
	docs = all(t)(coll.Aggregate(ctx, bson.A{
		bson.D{{Key: "$project", Value: bson.D{{Key: "x", Value: 1}, {Key: "hit", Value: bson.D{{Key: "$eq", Value: bson.A{"$x", "$$target"}}}}}}},
		bson.D{{Key: "$match", Value: bson.D{{Key: "hit", Value: true}}}},
		bson.D{{Key: "$project", Value: bson.D{{Key: "hit", Value: 0}}}},
	}, options.Aggregate().SetLet(bson.D{{Key: "target", Value: 33}})))
	wantJSON(t, docs, `[{"_id":3,"x":33}]`)
	docs = all(t)(coll.Aggregate(ctx, bson.A{
		bson.D{{Key: "$match", Value: bson.D{{Key: "$expr", Value: bson.D{{Key: "$eq", Value: bson.A{"$x", "$$target"}}}}}}},
	}, options.Aggregate().SetLet(bson.D{{Key: "target", Value: 44}})))
	wantJSON(t, ids(docs), `[4]`)
	docs = all(t)(db.Collection("missing").Aggregate(ctx, bson.A{}))
	if len(docs) != 0 {
		t.Fatalf("missing collection: %v", docs)
	}
}

func TestAggregateErrors(t *testing.T) {
	db := testDB(t)
	seedNumbers(t, db.Collection("c"), 2)
	agg := func(first any, extra ...bson.E) error {
		_, err := runCommand(t, db, append(bson.D{{Key: "aggregate", Value: first}}, extra...))
		return err
	}
	cur := bson.E{Key: "cursor", Value: bson.D{}}
	pipe := bson.E{Key: "pipeline", Value: bson.A{}}
	wantCode(t, agg("c", pipe), 9, "'cursor' option is required")
	wantCode(t, agg("c", cur), 40414, "pipeline")
	wantCode(t, agg("c", pipe, cur, bson.E{Key: "bogus", Value: 1}), 40415, "BSON field 'aggregate.bogus' is an unknown field.")
	wantCode(t, agg("c", bson.E{Key: "pipeline", Value: bson.A{bson.D{{Key: "$bogus", Value: 1}}}}, cur), 40324, "$bogus")
	wantCode(t, agg(1, bson.E{Key: "pipeline", Value: bson.A{bson.D{{Key: "$match", Value: bson.D{}}}}}, cur), 73, "a collection is required")
	wantCode(t, agg("c", bson.E{Key: "pipeline", Value: bson.A{bson.D{{Key: "$match", Value: bson.D{}}}, bson.D{{Key: "$changeStream", Value: bson.D{}}}}}, cur),
		40602, "$changeStream is only valid as the first stage")
}
