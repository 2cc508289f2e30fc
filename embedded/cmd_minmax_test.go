package embedded_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestFindMinMaxThroughDriver: min (inclusive) and max (exclusive) bound
// the hinted index's key, compound keys lexicographically.
func TestFindMinMaxThroughDriver(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	coll := db.Collection("c")
	var docs []any
	for a := range 3 {
		for b := range 3 {
			docs = append(docs, bson.D{{Key: "a", Value: int32(a)}, {Key: "b", Value: int32(b)}})
		}
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "a", Value: 1}}},
		{Keys: bson.D{{Key: "a", Value: 1}, {Key: "b", Value: 1}}},
	}); err != nil {
		t.Fatal(err)
	}
	count := func(opts *options.FindOptionsBuilder) int {
		t.Helper()
		cur, err := coll.Find(ctx, bson.D{}, opts)
		if err != nil {
			t.Fatal(err)
		}
		var out []bson.M
		if err := cur.All(ctx, &out); err != nil {
			t.Fatal(err)
		}
		return len(out)
	}
	if n := count(options.Find().SetHint("a_1").SetMin(bson.D{{Key: "a", Value: 1}}).SetMax(bson.D{{Key: "a", Value: 2}})); n != 3 {
		t.Errorf("a in [1, 2) matched %d, want 3", n)
	}
	// (1, 1) <= (a, b) < (2, 1): (1,1) (1,2) (2,0).
	if n := count(options.Find().SetHint("a_1_b_1").SetMin(bson.D{{Key: "a", Value: 1}, {Key: "b", Value: 1}}).SetMax(bson.D{{Key: "a", Value: 2}, {Key: "b", Value: 1}})); n != 3 {
		t.Errorf("compound bounds matched %d, want 3", n)
	}
	_, err := coll.Find(ctx, bson.D{}, options.Find().SetMin(bson.D{{Key: "a", Value: 1}}))
	if code, _ := serverError(t, err); code != 51173 {
		t.Errorf("min without hint: code %d, want 51173", code)
	}
}
