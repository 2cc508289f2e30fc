package embedded_test

import (
	"testing"

	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestUnsupportedFeaturesFailClearly checks that what the embedded server
// does not implement is refused with 238 NotImplemented naming the feature,
// never silently ignored. A real MongoDB supports all of it.
func TestUnsupportedFeaturesFailClearly(t *testing.T) {
	testenv.SkipIfExternal(t, "checks the embedded server's documented limitations")
	db := testDB(t)
	ctx := testCtx(t)
	coll := db.Collection("c")
	seed(t, coll, bson.D{{Key: "_id", Value: 1}})
	cases := []struct {
		name string
		err  func() error
		want string
	}{
		{"2dsphere index", func() error {
			_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "loc", Value: "2dsphere"}}})
			return err
		}, "2dsphere"},
		{"explain", func() error {
			return db.RunCommand(ctx, bson.D{{Key: "explain", Value: bson.D{{Key: "find", Value: "c"}}}}).Err()
		}, "explain"},
		{"aggregate explain", func() error {
			return db.RunCommand(ctx, bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{}}, {Key: "explain", Value: true}}).Err()
		}, "explain"},
		{"$merge whenMatched pipeline", func() error {
			_, err := coll.Aggregate(ctx, bson.A{bson.D{{Key: "$merge", Value: bson.D{{Key: "into", Value: "copy"}, {Key: "whenMatched", Value: bson.A{}}}}}})
			return err
		}, "$merge"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, tc.err(), 238, tc.want)
		})
	}
}
