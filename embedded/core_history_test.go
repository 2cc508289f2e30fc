package embedded_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// snapshotFind runs find with readConcern snapshot (at ts unless zero) and
// returns the documents and the reply's atClusterTime.
func snapshotFind(t *testing.T, db *mongo.Database, coll string, ts bson.Timestamp) ([]bson.D, bson.Timestamp, error) {
	t.Helper()
	rc := bson.D{{Key: "level", Value: "snapshot"}}
	if !ts.IsZero() {
		rc = append(rc, bson.E{Key: "atClusterTime", Value: ts})
	}
	var reply struct {
		Cursor struct {
			FirstBatch    []bson.D       `bson:"firstBatch"`
			AtClusterTime bson.Timestamp `bson:"atClusterTime"`
		} `bson:"cursor"`
	}
	err := db.RunCommand(testCtx(t), bson.D{{Key: "find", Value: coll}, {Key: "readConcern", Value: rc}}).Decode(&reply)
	return reply.Cursor.FirstBatch, reply.Cursor.AtClusterTime, err
}

func TestAtClusterTimeReadsAcrossLaterWrites(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seed(t, coll, bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 1}}, bson.D{{Key: "_id", Value: 2}, {Key: "x", Value: 2}})
	docs, at, err := snapshotFind(t, db, "c", bson.Timestamp{})
	if err != nil || len(docs) != 2 || at.IsZero() {
		t.Fatalf("snapshot find: %v at %v, %v", docs, at, err)
	}
	// later writes of every kind
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 10}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	seed(t, coll, bson.D{{Key: "_id", Value: 3}, {Key: "x", Value: 3}})

	docs, got, err := snapshotFind(t, db, "c", at)
	if err != nil {
		t.Fatalf("find at %v after later writes: %v", at, err)
	}
	wantJSON(t, docs, `[{"_id":1,"x":1},{"_id":2,"x":2}]`)
	if got != at {
		t.Fatalf("reply atClusterTime %v, asked %v", got, at)
	}
	rc := bson.D{{Key: "level", Value: "snapshot"}, {Key: "atClusterTime", Value: at}}
	agg := mustRun(t, db, bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{
		bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: nil}, {Key: "sum", Value: bson.D{{Key: "$sum", Value: "$x"}}}}}},
	}}, {Key: "cursor", Value: bson.D{}}, {Key: "readConcern", Value: rc}})
	wantJSON(t, get(get(agg, "cursor").(bson.D), "firstBatch"), `[{"_id":null,"sum":3}]`)
	dist := mustRun(t, db, bson.D{{Key: "distinct", Value: "c"}, {Key: "key", Value: "x"}, {Key: "readConcern", Value: rc}})
	wantJSON(t, get(dist, "values"), `[1,2]`)
	// the latest state is unchanged
	if now := all(t)(coll.Find(ctx, bson.D{})); len(now) != 2 || get(now[0], "x") != int32(10) {
		t.Fatalf("latest: %v", now)
	}
}

func TestSnapshotSessionReadsItsSnapshotAcrossWrites(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seedNumbers(t, coll, 2)
	sess, err := db.Client().StartSession(options.Session().SetSnapshot(true))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	sctx := mongo.NewSessionContext(ctx, sess)
	if docs := all(t)(coll.Find(sctx, bson.D{})); len(docs) != 2 {
		t.Fatalf("first read: %v", docs)
	}
	seed(t, coll, bson.D{{Key: "_id", Value: 100}, {Key: "x", Value: 100}})
	if _, err := coll.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$lt", Value: 100}}}}); err != nil {
		t.Fatal(err)
	}
	if docs := all(t)(coll.Find(sctx, bson.D{})); len(docs) != 2 || get(docs[0], "_id") == int32(100) {
		t.Fatalf("snapshot find after writes: %v", docs)
	}
	if n := all(t)(coll.Aggregate(sctx, bson.A{bson.D{{Key: "$match", Value: bson.D{}}}})); len(n) != 2 {
		t.Fatalf("snapshot aggregate after writes: %v", n)
	}
	var xs []int32
	if err := coll.Distinct(sctx, "x", bson.D{}).Decode(&xs); err != nil || len(xs) != 2 {
		t.Fatalf("snapshot distinct after writes: %v %v", xs, err)
	}
}

func TestSnapshotTooOldPastTheWindow(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{SnapshotHistoryWindow: time.Second})
	client := testenv.Connect(t, srv.URI(), nil)
	db := client.Database("snapold")
	coll := db.Collection("c")
	seed(t, coll, bson.D{{Key: "_id", Value: 1}})
	_, at, err := snapshotFind(t, db, "c", bson.Timestamp{})
	if err != nil {
		t.Fatal(err)
	}
	seed(t, coll, bson.D{{Key: "_id", Value: 2}})
	if docs, _, err := snapshotFind(t, db, "c", at); err != nil || len(docs) != 1 {
		t.Fatalf("inside the window: %v %v", docs, err)
	}
	var last error
	testenv.Eventually(t, 30*time.Second, "the snapshot to leave the 1 s window", func() bool {
		seed(t, coll, bson.D{{Key: "_id", Value: bson.NewObjectID()}})
		_, _, last = snapshotFind(t, db, "c", at)
		return last != nil
	})
	wantCode(t, last, 239, "older than the oldest available timestamp")
}

func TestResumeAfterByteEvictionIsHistoryLost(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{OplogSizeBytes: 256 << 10})
	client := testenv.Connect(t, srv.URI(), nil)
	ctx := testCtx(t)
	coll := client.Database("evict").Collection("c")
	if err := coll.Database().CreateCollection(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	cs, err := coll.Watch(ctx, mongo.Pipeline{})
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("p", 32<<10)
	seed(t, coll, bson.D{{Key: "_id", Value: 0}, {Key: "pad", Value: pad}})
	if !cs.Next(ctx) {
		t.Fatalf("first event: %v", cs.Err())
	}
	token := cs.ResumeToken()
	_ = cs.Close(ctx)
	// 20 x 32 KiB: far past the 256 KiB bound, well under the entry bound
	for i := 1; i <= 20; i++ {
		seed(t, coll, bson.D{{Key: "_id", Value: i}, {Key: "pad", Value: pad}})
	}
	cs, err = coll.Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetResumeAfter(token))
	if err == nil {
		defer cs.Close(ctx)
		if cs.Next(ctx) {
			t.Fatalf("resumed before the byte window and got %v", cs.Current)
		}
		err = cs.Err()
	}
	wantCode(t, err, 286, "")
}

func TestTTLIndexExpiresDocumentsWithDeleteEvents(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{TTLMonitorInterval: 20 * time.Millisecond})
	client := testenv.Connect(t, srv.URI(), nil)
	ctx := testCtx(t)
	coll := client.Database("ttl").Collection("c")
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "at", Value: 1}},
		Options: options.Index().SetExpireAfterSeconds(60).
			SetPartialFilterExpression(bson.D{{Key: "pinned", Value: bson.D{{Key: "$exists", Value: false}}}}),
	}); err != nil {
		t.Fatal(err)
	}
	cs, err := coll.Watch(ctx, mongo.Pipeline{bson.D{{Key: "$match", Value: bson.D{{Key: "operationType", Value: "delete"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(ctx)
	old := time.Now().Add(-time.Hour)
	seed(t, coll,
		bson.D{{Key: "_id", Value: "old"}, {Key: "at", Value: old}},
		bson.D{{Key: "_id", Value: "oldInArray"}, {Key: "at", Value: bson.A{time.Now().Add(time.Hour), old}}},
		bson.D{{Key: "_id", Value: "fresh"}, {Key: "at", Value: time.Now()}},
		bson.D{{Key: "_id", Value: "notADate"}, {Key: "at", Value: "2001-01-01"}},
		bson.D{{Key: "_id", Value: "pinned"}, {Key: "at", Value: old}, {Key: "pinned", Value: true}},
	)
	deleted := map[any]bool{}
	for len(deleted) < 2 && cs.Next(ctx) {
		var ev struct {
			DocumentKey struct {
				ID any `bson:"_id"`
			} `bson:"documentKey"`
		}
		if err := cs.Decode(&ev); err != nil {
			t.Fatal(err)
		}
		deleted[ev.DocumentKey.ID] = true
	}
	if err := cs.Err(); err != nil {
		t.Fatalf("change stream: %v", err)
	}
	if !deleted["old"] || !deleted["oldInArray"] {
		t.Fatalf("delete events for %v, want old and oldInArray", deleted)
	}
	wantJSON(t, ids(all(t)(coll.Find(ctx, bson.D{}))), `["fresh","notADate","pinned"]`)
}

func TestCollModExpireAfterSecondsIsRespected(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{TTLMonitorInterval: 20 * time.Millisecond})
	client := testenv.Connect(t, srv.URI(), nil)
	ctx := testCtx(t)
	db := client.Database("ttlmod")
	coll := db.Collection("c")
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "at", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(3600),
	}); err != nil {
		t.Fatal(err)
	}
	seed(t, coll, bson.D{{Key: "_id", Value: 1}, {Key: "at", Value: time.Now().Add(-time.Minute)}})
	// 1 min old under a 1 h TTL: it stays until collMod lowers the TTL
	reply := mustRun(t, db, bson.D{{Key: "collMod", Value: "c"}, {Key: "index", Value: bson.D{
		{Key: "keyPattern", Value: bson.D{{Key: "at", Value: 1}}}, {Key: "expireAfterSeconds", Value: 10},
	}}})
	if asInt(t, get(reply, "expireAfterSeconds_old")) != 3600 || asInt(t, get(reply, "expireAfterSeconds_new")) != 10 {
		t.Fatalf("collMod reply %v", reply)
	}
	testenv.Eventually(t, 10*time.Second, "the document to expire under the new expireAfterSeconds", func() bool {
		n, err := coll.CountDocuments(ctx, bson.D{})
		return err == nil && n == 0
	})
	specs := all(t)(coll.Indexes().List(ctx))
	if len(specs) != 2 || asInt(t, get(specs[1], "expireAfterSeconds")) != 10 {
		t.Fatalf("listIndexes after collMod: %v", specs)
	}
	_, err := runCommand(t, db, bson.D{{Key: "collMod", Value: "c"}, {Key: "index", Value: bson.D{
		{Key: "name", Value: "nope"}, {Key: "expireAfterSeconds", Value: 1},
	}}})
	wantCode(t, err, 27, "cannot find index")
}
