package embedded_test

import (
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestViews(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	seedNumbers(t, db.Collection("c"), 6)
	over3 := bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: 3}}}}}}}
	if err := db.CreateView(ctx, "big", "c", over3); err != nil {
		t.Fatal(err)
	}
	// Defining it again identically succeeds; differently fails.
	if err := db.CreateView(ctx, "big", "c", over3); err != nil {
		t.Fatalf("same view again: %v", err)
	}
	wantCode(t, db.CreateView(ctx, "big", "c", bson.A{}), 48, "")
	wantCode(t, db.CreateCollection(ctx, "big"), 48, "")
	// A view on the view: pipelines compose.
	evens := bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "even", Value: true}}}}, bson.D{{Key: "$project", Value: bson.D{{Key: "even", Value: 0}}}}}
	if err := db.CreateView(ctx, "bigEven", "big", evens); err != nil {
		t.Fatal(err)
	}
	big, bigEven := db.Collection("big"), db.Collection("bigEven")

	if n, err := big.EstimatedDocumentCount(ctx); err != nil || n != 3 {
		t.Fatalf("count on view: %d %v", n, err)
	}
	if n, err := bigEven.CountDocuments(ctx, bson.D{}); err != nil || n != 2 {
		t.Fatalf("CountDocuments on view of view: %d %v", n, err)
	}
	docs := all(t)(bigEven.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: -1}})))
	wantJSON(t, docs, `[{"_id":6,"x":66},{"_id":4,"x":44}]`)
	docs = all(t)(big.Find(ctx, bson.D{{Key: "x", Value: bson.D{{Key: "$lt", Value: 60}}}}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetSkip(1).SetLimit(1).SetSort(bson.D{{Key: "_id", Value: 1}})))
	wantJSON(t, docs, `[{"_id":5}]`)
	// Find-only projections work on views too.
	seed(t, db.Collection("arr"), bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: bson.A{1, 2, 3, 4}}})
	if err := db.CreateView(ctx, "arrView", "arr", bson.A{}); err != nil {
		t.Fatal(err)
	}
	docs = all(t)(db.Collection("arrView").Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "a", Value: bson.D{{Key: "$slice", Value: -2}}}})))
	wantJSON(t, docs, `[{"_id":1,"a":[3,4]}]`)
	docs = all(t)(bigEven.Aggregate(ctx, bson.A{bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: nil}, {Key: "s", Value: bson.D{{Key: "$sum", Value: "$x"}}}}}}}))
	wantJSON(t, docs, `[{"_id":null,"s":110}]`)
	var evenFlags []bool
	if err := big.Distinct(ctx, "even", bson.D{}).Decode(&evenFlags); err != nil {
		t.Fatal(err)
	}
	wantJSON(t, evenFlags, `[false,true]`)

	// listCollections reports views with their definition.
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{{Key: "type", Value: "view"}})
	if err != nil || len(specs) != 3 {
		t.Fatalf("views listed: %+v %v", specs, err)
	}
	byName := map[string]mongo.CollectionSpecification{}
	for _, sp := range specs {
		byName[sp.Name] = sp
	}
	if sp := byName["big"]; sp.Type != "view" || !sp.ReadOnly {
		t.Fatalf("view spec %+v", sp)
	}
	wantJSON(t, byName["big"].Options, `{"viewOn":"c","pipeline":[{"$match":{"_id":{"$gt":3}}}]}`)

	// Views are read-only and have no indexes.
	_, err = big.InsertOne(ctx, bson.D{{Key: "a", Value: 1}})
	wantCode(t, err, 166, "is a view")
	_, err = big.UpdateOne(ctx, bson.D{}, bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}})
	wantCode(t, err, 166, "")
	_, err = big.DeleteMany(ctx, bson.D{})
	wantCode(t, err, 166, "")
	wantCode(t, big.FindOneAndDelete(ctx, bson.D{}).Err(), 166, "")
	_, err = big.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "x", Value: 1}}})
	wantCode(t, err, 166, "")
	_, err = big.Indexes().ListSpecifications(ctx)
	wantCode(t, err, 166, "")
	_, err = big.Watch(ctx, mongo.Pipeline{})
	wantCode(t, err, 166, "")

	// View definitions cannot be written directly.
	_, err = db.Collection("system.views").InsertOne(ctx, bson.D{{Key: "_id", Value: db.Name() + ".x"}, {Key: "viewOn", Value: "c"}, {Key: "pipeline", Value: bson.A{}}})
	wantCode(t, err, 73, "cannot write to")
	_, err = db.Collection("system.views").DeleteMany(ctx, bson.D{})
	wantCode(t, err, 73, "cannot write to")

	// Bad definitions fail at creation.
	if err := db.CreateView(ctx, "bad", "c", bson.A{bson.D{{Key: "$out", Value: "x"}}}); err == nil {
		t.Fatal("view writing with $out created")
	}
	if err := db.CreateView(ctx, "bad", "c", bson.A{bson.D{{Key: "$bogus", Value: 1}}}); err == nil {
		t.Fatal("view with an unknown stage created")
	}

	// collMod redefines a view; a definition that loops back fails.
	mustRun(t, db, bson.D{{Key: "collMod", Value: "big"}, {Key: "viewOn", Value: "c"},
		{Key: "pipeline", Value: bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: 4}}}}}}}}})
	if n, err := big.CountDocuments(ctx, bson.D{}); err != nil || n != 2 {
		t.Fatalf("after collMod: %d %v", n, err)
	}
	_, err = runCommand(t, db, bson.D{{Key: "collMod", Value: "big"}, {Key: "viewOn", Value: "bigEven"}, {Key: "pipeline", Value: bson.A{}}})
	wantCode(t, err, 160, "")

	// Dropping a view leaves its source alone.
	if err := bigEven.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	names, err := db.ListCollectionNames(ctx, bson.D{{Key: "name", Value: bson.D{{Key: "$in", Value: bson.A{"c", "big", "bigEven"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	wantJSON(t, names, `["big","c"]`)
	if n, err := db.Collection("c").CountDocuments(ctx, bson.D{}); err != nil || n != 6 {
		t.Fatalf("source after drop: %d %v", n, err)
	}
}
