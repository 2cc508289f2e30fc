package embedded_test

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestClusteredCollection checks create with clusteredIndex and what
// listCollections and listIndexes report for it, as MongoDB does.
func TestClusteredCollection(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	err := db.RunCommand(ctx, bson.D{{Key: "create", Value: "c"}, {Key: "clusteredIndex", Value: bson.D{
		{Key: "key", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "unique", Value: true}, {Key: "name", Value: "by id"}}}}).Err()
	if err != nil {
		t.Fatal(err)
	}
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: "c"}})
	if err != nil || len(specs) != 1 {
		t.Fatalf("listCollections: %v %v", specs, err)
	}
	if name := specs[0].Options.Lookup("clusteredIndex", "name").StringValue(); name != "by id" {
		t.Fatalf("options = %v", specs[0].Options)
	}
	// Since 7.0 creating it again with the same options succeeds, with
	// other options it fails.
	if err := db.RunCommand(ctx, bson.D{{Key: "create", Value: "c"}, {Key: "clusteredIndex", Value: bson.D{
		{Key: "key", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "unique", Value: true}, {Key: "name", Value: "by id"}}}}).Err(); err != nil {
		t.Fatalf("create again with the same options: %v", err)
	}
	wantCode(t, db.CreateCollection(ctx, "c"), 48, "already exists")
	ix, err := db.Collection("c").Indexes().ListSpecifications(ctx)
	if err != nil || len(ix) != 1 || ix[0].Name != "by id" || ix[0].Clustered == nil || !*ix[0].Clustered {
		t.Fatalf("listIndexes: %+v %v", ix, err)
	}
	err = db.RunCommand(ctx, bson.D{{Key: "create", Value: "bad"}, {Key: "clusteredIndex", Value: bson.D{
		{Key: "key", Value: bson.D{{Key: "x", Value: 1}}}, {Key: "unique", Value: true}}}}).Err()
	wantCode(t, err, 72, "only supported for key: {_id: 1}")
}

// TestTimeseriesCollection checks create with timeseries: listCollections
// reports a "timeseries" entry with the option as MongoDB completes it,
// measurements are stored and found, and one without a date in the time
// field is refused.
func TestTimeseriesCollection(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	opts := options.CreateCollection().SetExpireAfterSeconds(604800).
		SetTimeSeriesOptions(options.TimeSeries().SetTimeField("time").SetMetaField("meta").SetGranularity("minutes"))
	if err := db.CreateCollection(ctx, "ts", opts); err != nil {
		t.Fatal(err)
	}
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: "ts"}})
	if err != nil || len(specs) != 1 {
		t.Fatalf("listCollections: %v %v", specs, err)
	}
	if specs[0].Type != "timeseries" || specs[0].Options.Lookup("timeseries", "bucketMaxSpanSeconds").AsInt64() != 86400 ||
		specs[0].Options.Lookup("expireAfterSeconds").AsInt64() != 604800 {
		t.Fatalf("entry = %+v", specs[0])
	}
	coll := db.Collection("ts")
	now := time.Now().Truncate(time.Millisecond)
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "time", Value: now}, {Key: "meta", Value: "a"}}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Time time.Time `bson:"time"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "meta", Value: "a"}}).Decode(&got); err != nil || !got.Time.Equal(now) {
		t.Fatalf("find: %v %v", got, err)
	}
	_, err = coll.InsertOne(ctx, bson.D{{Key: "time", Value: "not a date"}})
	wantCode(t, err, 2, "'time' must be present and contain a valid BSON UTC datetime value")
	err = db.CreateCollection(ctx, "ttl", options.CreateCollection().SetExpireAfterSeconds(5))
	wantCode(t, err, 72, "expireAfterSeconds")
}
