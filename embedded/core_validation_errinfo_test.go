package embedded_test

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestValidationErrorCarriesErrInfo: 121 DocumentValidationFailure comes
// with MongoDB 5.0+'s errInfo {failingDocumentId, details: {operatorName,
// ...}}, in a write error (insert, update) and on findAndModify's command
// error.
func TestValidationErrorCarriesErrInfo(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	err := db.CreateCollection(ctx, "v", options.CreateCollection().SetValidator(bson.D{{Key: "x", Value: bson.D{{Key: "$gt", Value: 1}}}}))
	if err != nil {
		t.Fatal(err)
	}
	coll := db.Collection("v")
	checkInfo := func(what string, info bson.Raw, id int32) {
		t.Helper()
		if got, ok := info.Lookup("failingDocumentId").Int32OK(); !ok || got != id {
			t.Errorf("%s: errInfo %v, want failingDocumentId %d", what, info, id)
		}
		if op, ok := info.Lookup("details", "operatorName").StringValueOK(); !ok || op == "" {
			t.Errorf("%s: errInfo %v, want details.operatorName", what, info)
		}
	}
	_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: int32(7)}, {Key: "x", Value: 0}})
	var we mongo.WriteException
	if !errors.As(err, &we) || len(we.WriteErrors) != 1 || we.WriteErrors[0].Code != 121 {
		t.Fatalf("insert: %v, want one write error 121", err)
	}
	checkInfo("insert", we.WriteErrors[0].Details, 7)

	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: int32(8)}, {Key: "x", Value: 5}}); err != nil {
		t.Fatal(err)
	}
	_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 8}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 0}}}})
	if !errors.As(err, &we) || len(we.WriteErrors) != 1 {
		t.Fatalf("update: %v, want one write error", err)
	}
	checkInfo("update", we.WriteErrors[0].Details, 8)

	err = coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: 8}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 0}}}}).Err()
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 121 {
		t.Fatalf("findAndModify: %v, want command error 121", err)
	}
	info, _ := ce.Raw.Lookup("errInfo").DocumentOK()
	checkInfo("findAndModify", info, 8)
}
