package embedded_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// personSchema requires a string name and an int age of at least 0.
var personSchema = bson.D{{Key: "$jsonSchema", Value: bson.D{
	{Key: "bsonType", Value: "object"},
	{Key: "required", Value: bson.A{"name", "age"}},
	{Key: "properties", Value: bson.D{
		{Key: "name", Value: bson.D{{Key: "bsonType", Value: "string"}}},
		{Key: "age", Value: bson.D{{Key: "bsonType", Value: "int"}, {Key: "minimum", Value: 0}}},
	}},
}}}

func TestJSONSchemaValidatorThroughDriver(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	if err := db.CreateCollection(ctx, "people", options.CreateCollection().SetValidator(personSchema)); err != nil {
		t.Fatal(err)
	}
	coll := db.Collection("people")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "name", Value: "ann"}, {Key: "age", Value: int32(30)}}); err != nil {
		t.Fatalf("valid document refused: %v", err)
	}
	for _, bad := range []bson.D{
		{{Key: "name", Value: "bob"}},
		{{Key: "name", Value: 7}, {Key: "age", Value: int32(1)}},
		{{Key: "name", Value: "cy"}, {Key: "age", Value: int32(-1)}},
	} {
		_, err := coll.InsertOne(ctx, bad)
		if code, _ := serverError(t, err); code != 121 {
			t.Errorf("insert %v: code %d, want 121 DocumentValidationFailure", bad, code)
		}
	}
	// $jsonSchema is also a query operator.
	n, err := coll.CountDocuments(ctx, bson.D{{Key: "$jsonSchema", Value: bson.D{{Key: "required", Value: bson.A{"age"}}}}})
	if err != nil || n != 1 {
		t.Fatalf("count with $jsonSchema = %d, %v; want 1", n, err)
	}
	err = db.RunCommand(ctx, bson.D{{Key: "find", Value: "people"}, {Key: "filter", Value: bson.D{{Key: "$jsonSchema", Value: bson.D{{Key: "bogus", Value: 1}}}}}}).Err()
	if code, _ := serverError(t, err); code != 9 {
		t.Fatalf("unknown $jsonSchema keyword: code %d, want 9 FailedToParse", code)
	}
}

func TestBypassDocumentValidationThroughDriver(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	if err := db.CreateCollection(ctx, "people", options.CreateCollection().SetValidator(personSchema)); err != nil {
		t.Fatal(err)
	}
	coll := db.Collection("people")
	invalid := bson.D{{Key: "_id", Value: 1}, {Key: "name", Value: 42}}
	if _, err := coll.InsertOne(ctx, invalid, options.InsertOne().SetBypassDocumentValidation(true)); err != nil {
		t.Fatalf("insert with bypassDocumentValidation: %v", err)
	}
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 2}}}, options.InsertMany().SetBypassDocumentValidation(true)); err != nil {
		t.Fatalf("insertMany with bypassDocumentValidation: %v", err)
	}
	set := bson.D{{Key: "$set", Value: bson.D{{Key: "age", Value: "old"}}}}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, set); err == nil {
		t.Fatal("an invalid update without bypass was applied")
	}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, set, options.UpdateOne().SetBypassDocumentValidation(true)); err != nil {
		t.Fatalf("update with bypassDocumentValidation: %v", err)
	}
	if err := coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: 2}}, set, options.FindOneAndUpdate().SetBypassDocumentValidation(true)).Err(); err != nil {
		t.Fatalf("findOneAndUpdate with bypassDocumentValidation: %v", err)
	}
	if _, err := coll.BulkWrite(ctx, []mongo.WriteModel{mongo.NewInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: 3}})},
		options.BulkWrite().SetBypassDocumentValidation(true)); err != nil {
		t.Fatalf("bulkWrite with bypassDocumentValidation: %v", err)
	}
	src := db.Collection("src")
	if _, err := src.InsertOne(ctx, bson.D{{Key: "_id", Value: 4}}); err != nil {
		t.Fatal(err)
	}
	merge := mongo.Pipeline{{{Key: "$merge", Value: bson.D{{Key: "into", Value: "people"}}}}}
	if _, err := src.Aggregate(ctx, merge); err == nil {
		t.Fatal("$merge of an invalid document without bypass succeeded")
	}
	if _, err := src.Aggregate(ctx, merge, options.Aggregate().SetBypassDocumentValidation(true)); err != nil {
		t.Fatalf("$merge with bypassDocumentValidation: %v", err)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 4 {
		t.Fatalf("%d documents, %v; want the 4 written with bypass", n, err)
	}
}
