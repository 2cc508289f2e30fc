package embedded_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestLetInWrites(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seedNumbers(t, coll, 4)
	byID := bson.D{{Key: "$expr", Value: bson.D{{Key: "$eq", Value: bson.A{"$_id", "$$id"}}}}}
	res, err := coll.UpdateOne(ctx, byID, mongo.Pipeline{bson.D{{Key: "$set", Value: bson.D{
		{Key: "y", Value: "$$y"},
		{Key: "lit", Value: "$$lit"},
		// An inner $let shadows the command's variable.
		{Key: "shadow", Value: bson.D{{Key: "$let", Value: bson.D{{Key: "vars", Value: bson.D{{Key: "y", Value: "inner"}}}, {Key: "in", Value: "$$y"}}}}},
	}}}}, options.UpdateOne().SetLet(bson.D{{Key: "id", Value: 1}, {Key: "y", Value: "outer"}, {Key: "lit", Value: bson.D{{Key: "$literal", Value: "$notAField"}}}}))
	if err != nil || res.ModifiedCount != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	var d bson.D
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&d); err != nil {
		t.Fatal(err)
	}
	wantJSON(t, d, `{"_id":1,"x":11,"even":false,"y":"outer","lit":"$notAField","shadow":"inner"}`)

	// In operator updates "$$y" is a plain string.
	if _, err := coll.UpdateOne(ctx, byID, bson.D{{Key: "$set", Value: bson.D{{Key: "s", Value: "$$y"}}}},
		options.UpdateOne().SetLet(bson.D{{Key: "id", Value: 2}, {Key: "y", Value: 5}})); err != nil {
		t.Fatal(err)
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 2}}).Decode(&d); err != nil {
		t.Fatal(err)
	}
	wantJSON(t, get(d, "s"), `"$$y"`)

	if err := coll.FindOneAndDelete(ctx, byID, options.FindOneAndDelete().SetLet(bson.D{{Key: "id", Value: 3}})).Decode(&d); err != nil {
		t.Fatal(err)
	}
	wantJSON(t, get(d, "_id"), `3`)
	del, err := coll.DeleteMany(ctx, bson.D{{Key: "$or", Value: bson.A{byID}}}, options.DeleteMany().SetLet(bson.D{{Key: "id", Value: 4}}))
	if err != nil || del.DeletedCount != 1 {
		t.Fatalf("%+v %v", del, err)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 2 {
		t.Fatalf("left %d (%v), want 2", n, err)
	}
	// Variable names follow MongoDB's rules.
	_, err = coll.DeleteMany(ctx, bson.D{}, options.DeleteMany().SetLet(bson.D{{Key: "Bad", Value: 1}}))
	wantCode(t, err, 16870, "invalid character")
}
