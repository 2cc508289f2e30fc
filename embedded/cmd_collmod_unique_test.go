package embedded_test

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestCollModPrepareUniqueThroughDriver is the collection-management spec's
// scenario: prepareUnique refuses new duplicates while old ones stay, and
// converting to unique fails with 359 listing the conflicting _ids; once
// they are resolved the index becomes unique.
func TestCollModPrepareUniqueThroughDriver(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	coll := db.Collection("test")
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 1}}, bson.D{{Key: "_id", Value: 2}, {Key: "x", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "x", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	collMod := func(index bson.D) error {
		return db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "test"}, {Key: "index", Value: index}}).Err()
	}
	if err := collMod(bson.D{{Key: "keyPattern", Value: bson.D{{Key: "x", Value: 1}}}, {Key: "unique", Value: true}}); err == nil {
		t.Fatal("unique without prepareUnique accepted")
	}
	if err := collMod(bson.D{{Key: "keyPattern", Value: bson.D{{Key: "x", Value: 1}}}, {Key: "prepareUnique", Value: true}}); err != nil {
		t.Fatal(err)
	}
	_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 3}, {Key: "x", Value: 1}})
	if code, _ := serverError(t, err); code != 11000 {
		t.Fatalf("duplicate insert under prepareUnique: code %d, want 11000", code)
	}
	// Equality on x still finds both old duplicates (no unique lookup).
	if n, err := coll.CountDocuments(ctx, bson.D{{Key: "x", Value: 1}}); err != nil || n != 2 {
		t.Fatalf("count x=1 = %d, %v; want 2", n, err)
	}
	err = collMod(bson.D{{Key: "keyPattern", Value: bson.D{{Key: "x", Value: 1}}}, {Key: "unique", Value: true}})
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 359 {
		t.Fatalf("converting with duplicates: %v, want 359", err)
	}
	ids, _ := ce.Raw.Lookup("violations", "0", "ids").ArrayOK()
	if vals, _ := ids.Values(); len(vals) != 2 {
		t.Fatalf("violations = %v, want ids [1, 2]", ce.Raw)
	}
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := collMod(bson.D{{Key: "name", Value: "x_1"}, {Key: "unique", Value: true}}); err != nil {
		t.Fatalf("converting without duplicates: %v", err)
	}
	cur, err := coll.Indexes().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ixs []struct{ Unique bool }
	if err := cur.All(ctx, &ixs); err != nil || len(ixs) != 2 || !ixs[1].Unique {
		t.Fatalf("indexes = %+v, %v; want x_1 unique", ixs, err)
	}
}
