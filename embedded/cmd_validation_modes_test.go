package embedded_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestValidationLevelAndAction checks validationAction "warn" (nothing is
// rejected) and validationLevel "moderate" (an update of a document that
// did not match is not checked; inserts and updates of valid ones are),
// and that listCollections reports both, as mongod does.
func TestValidationLevelAndAction(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	validator := bson.D{{Key: "a", Value: bson.D{{Key: "$type", Value: "int"}}}}
	if err := db.CreateCollection(ctx, "warn", options.CreateCollection().SetValidator(validator).SetValidationAction("warn")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("warn").InsertOne(ctx, bson.D{{Key: "a", Value: "not an int"}}); err != nil {
		t.Fatalf("validationAction warn rejected a write: %v", err)
	}
	mod := db.Collection("moderate")
	seed(t, mod, bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "bad"}}, bson.D{{Key: "_id", Value: 2}, {Key: "a", Value: int32(1)}})
	if err := db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "moderate"}, {Key: "validator", Value: validator}, {Key: "validationLevel", Value: "moderate"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := mod.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "b", Value: 1}}}}); err != nil {
		t.Fatalf("moderate: update of a document that did not match: %v", err)
	}
	_, err := mod.UpdateOne(ctx, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: "x"}}}})
	wantCode(t, err, 121, "")
	_, err = mod.InsertOne(ctx, bson.D{{Key: "a", Value: "x"}})
	wantCode(t, err, 121, "")
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: "moderate"}})
	if err != nil || len(specs) != 1 || specs[0].Options.Lookup("validationLevel").StringValue() != "moderate" ||
		specs[0].Options.Lookup("validationAction").StringValue() != "error" {
		t.Fatalf("listCollections: %v %v", specs, err)
	}
}
