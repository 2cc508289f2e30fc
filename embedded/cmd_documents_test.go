package embedded_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestDocumentsAndRandThroughDriver: {aggregate: 1} with $documents runs
// the rest of the pipeline over the given documents; $rand and $sampleRate
// draw per document.
func TestDocumentsAndRandThroughDriver(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	cur, err := db.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$documents", Value: bson.A{bson.D{{Key: "x", Value: 1}}, bson.D{{Key: "x", Value: 2}}, bson.D{{Key: "x", Value: 3}}}}},
		{{Key: "$match", Value: bson.D{{Key: "x", Value: bson.D{{Key: "$gte", Value: 2}}}}}},
		{{Key: "$set", Value: bson.D{{Key: "r", Value: bson.D{{Key: "$rand", Value: bson.D{}}}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []struct {
		X int
		R float64
	}
	if err := cur.All(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].X != 2 || out[1].X != 3 {
		t.Fatalf("$documents pipeline = %+v, want x 2 and 3", out)
	}
	for _, d := range out {
		if d.R < 0 || d.R >= 1 {
			t.Fatalf("$rand = %v, want [0, 1)", d.R)
		}
	}
	_, err = db.Aggregate(ctx, mongo.Pipeline{{{Key: "$documents", Value: 5}}})
	if code, _ := serverError(t, err); code != 5858203 {
		t.Fatalf("$documents of a number: code %d, want 5858203", code)
	}

	coll := db.Collection("c")
	docs := make([]any, 50)
	for i := range docs {
		docs[i] = bson.D{{Key: "i", Value: i}}
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	for rate, want := range map[float64]int64{0: 0, 1: 50} {
		n, err := coll.CountDocuments(ctx, bson.D{{Key: "$sampleRate", Value: rate}})
		if err != nil || n != want {
			t.Errorf("$sampleRate %v counted %d, %v; want %d", rate, n, err, want)
		}
	}
}
