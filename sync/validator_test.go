package sync

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// createStrict creates coll with a validator that allows exactly the fields
// _id, name (a string) and n (an int), nothing else: a $jsonSchema with
// additionalProperties: false. A server without $jsonSchema (the embedded
// one) gets the same rule as a query validator. It returns which form was
// used.
func createStrict(t *testing.T, ctx context.Context, db *mongo.Database, coll string) string {
	t.Helper()
	schema := bson.D{{Key: "$jsonSchema", Value: bson.D{
		{Key: "bsonType", Value: "object"},
		{Key: "required", Value: bson.A{"_id", "name"}},
		{Key: "additionalProperties", Value: false},
		{Key: "properties", Value: bson.D{
			{Key: "_id", Value: bson.D{}},
			{Key: "name", Value: bson.D{{Key: "bsonType", Value: "string"}}},
			{Key: "n", Value: bson.D{{Key: "bsonType", Value: "int"}}},
		}},
	}}}
	err := db.CreateCollection(ctx, coll, options.CreateCollection().SetValidator(schema).SetValidationAction("error"))
	if err == nil {
		return "$jsonSchema"
	}
	if !strings.Contains(err.Error(), "$jsonSchema is not supported") {
		t.Fatalf("create %s with $jsonSchema: %v", coll, err)
	}
	query := bson.D{
		{Key: "name", Value: bson.D{{Key: "$type", Value: "string"}}},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "n", Value: bson.D{{Key: "$exists", Value: false}}}},
			bson.D{{Key: "n", Value: bson.D{{Key: "$type", Value: "int"}}}},
		}},
		{Key: "$expr", Value: bson.D{{Key: "$setIsSubset", Value: bson.A{
			bson.D{{Key: "$map", Value: bson.D{
				{Key: "input", Value: bson.D{{Key: "$objectToArray", Value: "$$ROOT"}}},
				{Key: "in", Value: "$$this.k"},
			}}},
			bson.A{"_id", "name", "n"},
		}}}},
	}
	if err := db.CreateCollection(ctx, coll, options.CreateCollection().SetValidator(query).SetValidationAction("error")); err != nil {
		t.Fatalf("create %s with the query form of the schema: %v", coll, err)
	}
	return "query validator"
}

// Sync metadata lives in side collections, so a collection whose validator
// forbids any field but its own syncs both ways, conflicts and field
// merges included, and its documents are byte-identical on both sides.
func TestSyncUnderStrictValidator(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	form := createStrict(t, ctx, local, "c")
	createStrict(t, ctx, remote, "c")
	t.Logf("validator: %s", form)
	lc, rc := local.Collection("c"), remote.Collection("c")

	// The validator is enforced: an extra field is refused.
	if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: 0}, {Key: "name", Value: "x"}, {Key: "_sync", Value: 1}}); err == nil {
		t.Fatal("the validator accepted a document with an extra field")
	}

	var validationErrs atomic.Int64
	s, err := New(withClock(t, Config{Local: local, Remote: remote, Collections: []string{"c"}, Conflict: FieldMerge,
		OnError: func(err error) {
			if strings.Contains(err.Error(), "validation") {
				validationErrs.Add(1)
				t.Logf("sync error: %v", err)
			}
		}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "name", Value: "local"}, {Key: "n", Value: int32(1)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}, {Key: "name", Value: "remote"}}); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, lc, rc, 2)
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}

	// Concurrent edits of different fields, merged and written to both
	// sides through the validators.
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: int32(5)}}}}); err != nil {
		t.Fatal(err)
	}
	clockOf(t).Advance()
	if _, err := lc.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "name", Value: "edited"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	want := mustRaw(t, bson.D{{Key: "_id", Value: 1}, {Key: "name", Value: "edited"}, {Key: "n", Value: int32(5)}})
	docIs(t, ctx, rc, rawID(t, 1), want)
	docIs(t, ctx, lc, rawID(t, 1), want)
	sameContents(t, ctx, lc, rc, 2)
	if list, err := s.Conflicts(ctx, ""); err != nil || len(list) != 0 {
		t.Fatalf("conflicts = %+v, %v; want a silent merge", list, err)
	}
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if n := validationErrs.Load(); n > 0 {
		t.Fatalf("%d validation errors while syncing", n)
	}
	// The metadata is beside the documents, not in them.
	n, err := local.Collection(localDocsColl).CountDocuments(ctx, bson.D{{Key: "_id.c", Value: "c"}})
	if err != nil || n != 2 {
		t.Fatalf("local base entries = %d, %v; want 2", n, err)
	}
	if n, err := remote.Collection(remoteVersionsColl).CountDocuments(ctx, bson.D{}); err != nil || n == 0 {
		t.Fatalf("remote version entries = %d, %v", n, err)
	}
}
