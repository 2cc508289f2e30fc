package embedded_test

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestClientBulkWrite(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	client := db.Client()
	seed(t, db.Collection("a"), bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 1}}, bson.D{{Key: "_id", Value: 2}, {Key: "x", Value: 1}})
	w := func(coll string, m mongo.ClientWriteModel) mongo.ClientBulkWrite {
		return mongo.ClientBulkWrite{Database: db.Name(), Collection: coll, Model: m}
	}
	res, err := client.BulkWrite(ctx, []mongo.ClientBulkWrite{
		w("a", mongo.NewClientInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: 3}, {Key: "x", Value: 2}})),
		w("b", mongo.NewClientInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: "b1"}})),
		w("a", mongo.NewClientUpdateManyModel().SetFilter(bson.D{{Key: "x", Value: 1}}).SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "y", Value: true}}}})),
		w("a", mongo.NewClientUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: 9}}).SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "y", Value: false}}}}).SetUpsert(true)),
		w("a", mongo.NewClientReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: 3}}).SetReplacement(bson.D{{Key: "r", Value: 1}})),
		w("a", mongo.NewClientDeleteOneModel().SetFilter(bson.D{{Key: "_id", Value: 2}})),
	}, options.ClientBulkWrite().SetVerboseResults(true))
	if err != nil {
		t.Fatal(err)
	}
	if res.InsertedCount != 2 || res.MatchedCount != 3 || res.ModifiedCount != 3 || res.UpsertedCount != 1 || res.DeletedCount != 1 {
		t.Fatalf("result %+v", res)
	}
	if up := res.UpdateResults[3]; up.UpsertedID != int32(9) {
		t.Fatalf("upsert result %+v", up)
	}
	docs := all(t)(db.Collection("a").Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})))
	wantJSON(t, docs, `[{"_id":1,"x":1,"y":true},{"_id":3,"r":1},{"_id":9,"y":false}]`)

	// Ordered: stops at the duplicate key and reports it by index.
	_, err = client.BulkWrite(ctx, []mongo.ClientBulkWrite{
		w("b", mongo.NewClientInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: "b2"}})),
		w("b", mongo.NewClientInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: "b1"}})),
		w("b", mongo.NewClientInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: "b3"}})),
	})
	var bwe mongo.ClientBulkWriteException
	if !errors.As(err, &bwe) || len(bwe.WriteErrors) != 1 || bwe.WriteErrors[1].Code != 11000 {
		t.Fatalf("want one duplicate key at index 1, got %v", err)
	}
	if n, err := db.Collection("b").CountDocuments(ctx, bson.D{}); err != nil || n != 2 {
		t.Fatalf("b holds %d documents (%v), want 2", n, err)
	}
	// Unordered: continues past it.
	_, err = client.BulkWrite(ctx, []mongo.ClientBulkWrite{
		w("b", mongo.NewClientInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: "b1"}})),
		w("b", mongo.NewClientInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: "b4"}})),
	}, options.ClientBulkWrite().SetOrdered(false))
	if !errors.As(err, &bwe) || len(bwe.WriteErrors) != 1 || bwe.WriteErrors[0].Code != 11000 {
		t.Fatalf("want one duplicate key at index 0, got %v", err)
	}
	if n, err := db.Collection("b").CountDocuments(ctx, bson.D{}); err != nil || n != 3 {
		t.Fatalf("b holds %d documents (%v), want 3", n, err)
	}
	_, err = runCommand(t, db, bson.D{{Key: "bulkWrite", Value: 1}, {Key: "ops", Value: bson.A{}}, {Key: "nsInfo", Value: bson.A{}}})
	wantCode(t, err, 13, "admin")
}
