package embedded_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestTextAndWildcardIndexes checks that text and wildcard indexes are
// created and reported as mongod stores them (a text index as {_fts,
// _ftsx} with weights and language defaults, found again by that key; a
// wildcard index with its projection), though no query uses them.
func TestTextAndWildcardIndexes(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	coll := db.Collection("c")
	name, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "plot1", Value: "text"}, {Key: "plot2", Value: "text"}},
		Options: options.Index().SetWeights(bson.D{{Key: "plot2", Value: 5}})})
	if err != nil || name != "plot1_text_plot2_text" {
		t.Fatalf("create text index: %q %v", name, err)
	}
	proj := bson.D{{Key: "a", Value: true}, {Key: "_id", Value: false}}
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "$**", Value: 1}}, Options: options.Index().SetWildcardProjection(proj)}); err != nil {
		t.Fatal(err)
	}
	var specs []bson.Raw
	cur, err := coll.Indexes().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.All(ctx, &specs); err != nil || len(specs) != 3 {
		t.Fatalf("listIndexes: %v %v", specs, err)
	}
	text := specs[1]
	wantJSON(t, text.Lookup("key"), `{"_fts":"text","_ftsx":1}`)
	wantJSON(t, text.Lookup("weights"), `{"plot1":1,"plot2":5}`)
	if text.Lookup("default_language").StringValue() != "english" || text.Lookup("language_override").StringValue() != "language" {
		t.Fatalf("text index: %v", text)
	}
	wantJSON(t, specs[2].Lookup("wildcardProjection"), `{"a":true,"_id":false}`)
	_, err = coll.Find(ctx, bson.D{{Key: "$text", Value: bson.D{{Key: "$search", Value: "x"}}}})
	wantCode(t, err, 238, "$text")
	if err := coll.Indexes().DropWithKey(ctx, bson.D{{Key: "_fts", Value: "text"}, {Key: "_ftsx", Value: 1}}); err != nil {
		t.Fatalf("drop the text index by its stored key: %v", err)
	}
	_, err = coll.Find(ctx, bson.D{{Key: "$text", Value: bson.D{{Key: "$search", Value: "x"}}}})
	wantCode(t, err, 27, "text index required for $text query")
}
