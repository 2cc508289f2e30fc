package embedded_test

import (
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// nextEvent waits for the next change event of cs.
func nextEvent(t *testing.T, cs *mongo.ChangeStream) bson.D {
	t.Helper()
	ctx := testCtx(t)
	if !cs.Next(ctx) {
		t.Fatalf("no event: %v", cs.Err())
	}
	var ev bson.D
	if err := cs.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestChangeStreamLevels(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	coll := db.Collection("c")
	if err := db.CreateCollection(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	collStream, err := coll.Watch(ctx, mongo.Pipeline{})
	if err != nil {
		t.Fatal(err)
	}
	defer collStream.Close(ctx)
	dbStream, err := db.Watch(ctx, mongo.Pipeline{bson.D{{Key: "$match", Value: bson.D{{Key: "operationType", Value: "insert"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer dbStream.Close(ctx)
	clusterStream, err := db.Client().Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetBatchSize(1))
	if err != nil {
		t.Fatal(err)
	}
	defer clusterStream.Close(ctx)

	seed(t, coll, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 2}})
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	seed(t, db.Collection("other"), bson.D{{Key: "_id", Value: 3}})

	// One event per document of a multi-document insert.
	for _, want := range []string{"insert", "insert", "update"} {
		if ev := nextEvent(t, collStream); get(ev, "operationType") != want {
			t.Fatalf("collection stream: %v, want %s", ev, want)
		}
	}
	for _, want := range []any{int32(1), int32(2), int32(3)} {
		ev := nextEvent(t, dbStream)
		if key := get(ev, "documentKey").(bson.D); get(key, "_id") != want {
			t.Fatalf("database stream: %v, want _id %v", ev, want)
		}
	}
	var got []string
	for len(got) < 4 {
		ev := nextEvent(t, clusterStream)
		if ns := get(ev, "ns").(bson.D); get(ns, "db") == db.Name() {
			got = append(got, get(ev, "operationType").(string)+"/"+get(ns, "coll").(string))
		}
	}
	wantJSON(t, got, `["insert/c","insert/c","update/c","insert/other"]`)
}

func TestChangeStreamAggregateErrors(t *testing.T) {
	db := testDB(t)
	agg := func(db *mongo.Database, target any, stage any) error {
		_, err := runCommand(t, db, bson.D{{Key: "aggregate", Value: target}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$changeStream", Value: stage}}}}, {Key: "cursor", Value: bson.D{}}})
		return err
	}
	wantCode(t, agg(db, "c", 1), 50808, "")
	wantCode(t, agg(db, "c", bson.D{{Key: "bogus", Value: 1}}), 40415, "")
	// Cluster-wide streams run on admin with allChangesForCluster.
	wantCode(t, agg(db, 1, bson.D{{Key: "allChangesForCluster", Value: true}}), 72, "")
	out, err := runCommand(t, db.Client().Database("admin"), bson.D{{Key: "aggregate", Value: 1},
		{Key: "pipeline", Value: bson.A{bson.D{{Key: "$changeStream", Value: bson.D{{Key: "allChangesForCluster", Value: true}}}}}}, {Key: "cursor", Value: bson.D{}}})
	if err != nil {
		t.Fatal(err)
	}
	cur := get(out, "cursor").(bson.D)
	if get(cur, "ns") != "admin.$cmd.aggregate" || asInt(t, get(cur, "id")) == 0 || get(cur, "postBatchResumeToken") == nil {
		t.Fatalf("cursor %v", cur)
	}
	mustRun(t, db.Client().Database("admin"), bson.D{{Key: "killCursors", Value: "$cmd.aggregate"}, {Key: "cursors", Value: bson.A{get(cur, "id")}}})
}

// A change stream far behind gets full batches that fit in a reply: 20,000
// 1-KiB events (over 16 MiB with their array headers) arrive in order, none
// lost. (Counting the documents' bytes only, the getMore about 15,000 events
// behind built a reply over the 16 MiB + 16 KiB limit and failed with
// BSONObjectTooLarge, which ended the stream.)
func TestChangeStreamFarBehindBatchesFit(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	cs, err := coll.Watch(ctx, mongo.Pipeline{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(ctx)
	const n = 20000
	pad := strings.Repeat("x", 1000)
	batch := make([]any, 0, 1000)
	for i := 0; i < n; i++ {
		batch = append(batch, bson.D{{Key: "_id", Value: int32(i)}, {Key: "pad", Value: pad}})
		if len(batch) == cap(batch) {
			if _, err := coll.InsertMany(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	for i := 0; i < n; i++ {
		if !cs.Next(ctx) {
			t.Fatalf("event %d: stream ended: %v", i, cs.Err())
		}
		if got := cs.Current.Lookup("documentKey", "_id").Int32(); got != int32(i) {
			t.Fatalf("event %d is document %d", i, got)
		}
	}
}
