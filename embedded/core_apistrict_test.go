package embedded_test

import (
	"strings"
	"testing"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestStableAPIStrictRefusesWhatIsOutsideV1: with apiVersion "1" and
// apiStrict: true, mongod refuses commands (distinct among them), unknown
// commands and aggregation stages outside version 1 with 323 APIStrictError
// naming them, as the versioned-api spec tests check.
func TestStableAPIStrictRefusesWhatIsOutsideV1(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	c := testenv.Connect(t, srv.URI(), options.Client().SetServerAPIOptions(options.ServerAPI(options.ServerAPIVersion1).SetStrict(true)))
	ctx := testCtx(t)
	coll := c.Database("api").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	errs := map[string]error{
		"distinct":     coll.Distinct(ctx, "x", bson.D{}).Err(),
		"testVersion2": c.Database("admin").RunCommand(ctx, bson.D{{Key: "testVersion2", Value: 1}}).Err(),
	}
	_, errs["$listLocalSessions"] = c.Database("admin").Aggregate(ctx, mongo.Pipeline{{{Key: "$listLocalSessions", Value: bson.D{}}}})
	_, errs["$indexStats"] = coll.Aggregate(ctx, mongo.Pipeline{{{Key: "$facet", Value: bson.D{{Key: "a", Value: bson.A{bson.D{{Key: "$indexStats", Value: bson.D{}}}}}}}}})
	for what, err := range errs {
		ce := cmdErr(t, err)
		if ce.Code != 323 || ce.Name != "APIStrictError" || !strings.Contains(ce.Message, what) {
			t.Errorf("%s under apiStrict: %+v, want 323 APIStrictError naming it", what, ce)
		}
	}
	// What is in version 1 still runs.
	if _, err := coll.Aggregate(ctx, mongo.Pipeline{{{Key: "$match", Value: bson.D{}}}}); err != nil {
		t.Fatalf("$match under apiStrict: %v", err)
	}
}
