package embedded_test

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestBulkWriteCollectionUUID checks bulkWrite's nsInfo.collectionUUID:
// a write whose collection has that UUID is applied, one whose collection
// was recreated (another UUID) fails alone with 361 CollectionUUIDMismatch.
func TestBulkWriteCollectionUUID(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	uuidOf := func(name string) bson.Binary {
		t.Helper()
		specs, err := db.ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: name}})
		if err != nil || len(specs) != 1 || specs[0].UUID == nil {
			t.Fatalf("listCollections %s: %v %v", name, specs, err)
		}
		return *specs[0].UUID
	}
	if err := db.CreateCollection(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	stale := uuidOf("c")
	if err := db.Collection("c").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateCollection(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	current := uuidOf("c")
	ns := db.Name() + ".c"
	var reply bson.Raw
	err := db.Client().Database("admin").RunCommand(ctx, bson.D{
		{Key: "bulkWrite", Value: 1},
		{Key: "ops", Value: bson.A{
			bson.D{{Key: "insert", Value: 0}, {Key: "document", Value: bson.D{{Key: "_id", Value: "stale"}}}},
			bson.D{{Key: "insert", Value: 1}, {Key: "document", Value: bson.D{{Key: "_id", Value: "current"}}}},
		}},
		{Key: "nsInfo", Value: bson.A{
			bson.D{{Key: "ns", Value: ns}, {Key: "collectionUUID", Value: stale}},
			bson.D{{Key: "ns", Value: ns}, {Key: "collectionUUID", Value: current}},
		}},
		{Key: "ordered", Value: false},
	}).Decode(&reply)
	if err != nil {
		t.Fatal(err)
	}
	if n := reply.Lookup("nErrors").AsInt64(); n != 1 {
		t.Fatalf("nErrors = %d in %v", n, reply)
	}
	first := reply.Lookup("cursor", "firstBatch", "0").Document()
	if first.Lookup("code").AsInt64() != 361 || first.Lookup("actualCollection").Type != bson.TypeNull {
		t.Fatalf("first op: %v, want code 361 with actualCollection null", first)
	}
	if n, err := db.Collection("c").CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Fatalf("documents = %d (%v), want only the current write", n, err)
	}
	if err := db.Collection("c").FindOne(ctx, bson.D{{Key: "_id", Value: "stale"}}).Err(); !errors.Is(err, mongo.ErrNoDocuments) {
		t.Fatalf("stale write applied: %v", err)
	}
}
