package embedded_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestChangeStreamGetMoreAwaits checks the awaitData plumbing: an idle
// change stream's getMore must block for maxAwaitTimeMS, not return at once
// (which would make the driver spin), and must return early when an event
// arrives.
func TestChangeStreamGetMoreAwaits(t *testing.T) {
	var mu sync.Mutex
	var getMores []time.Time
	mon := &event.CommandMonitor{Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
		if e.CommandName == "getMore" {
			mu.Lock()
			getMores = append(getMores, time.Now())
			mu.Unlock()
		}
	}}
	c := testenv.ClientWith(t, options.Client().SetMonitor(mon))
	ctx := context.Background()
	coll := c.Database("aw").Collection("c")
	if err := c.Database("aw").CreateCollection(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	const await = 200 * time.Millisecond
	cs, err := coll.Watch(ctx, bson.A{}, options.ChangeStream().SetMaxAwaitTime(await))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(ctx)
	start := time.Now()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(getMores)
	}
	deadline := time.Now().Add(10 * time.Second)
	for count() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d getMores in 10s", count())
		}
		if cs.TryNext(ctx) {
			t.Fatalf("event on an idle collection: %v", cs.Current)
		}
		if err := cs.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < 3*await*8/10 {
		t.Fatalf("3 idle getMores took %v; each must wait maxAwaitTimeMS %v", el, await)
	}

	// An event ends the wait early.
	go func() {
		time.Sleep(50 * time.Millisecond)
		_, _ = coll.InsertOne(context.Background(), bson.D{{Key: "x", Value: 1}})
	}()
	ok := false
	deadline = time.Now().Add(5 * time.Second)
	for !ok && time.Now().Before(deadline) {
		ok = cs.TryNext(ctx)
	}
	if !ok {
		t.Fatalf("no event within 5s: %v", cs.Err())
	}
	if op := cs.Current.Lookup("operationType").StringValue(); op != "insert" {
		t.Fatalf("event %v", cs.Current)
	}
}

// TestChangeStreamCursorReapedWhenConnectionDrops: a client that vanishes
// (process killed, network gone) never sends killCursors; the server must
// reap the change-stream cursor of the dropped connection itself.
func TestChangeStreamCursorReapedWhenConnectionDrops(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	admin := testenv.Connect(t, srv.URI(), nil)
	ctx := context.Background()
	if err := admin.Database("aw").CreateCollection(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, srv.Addr())
	r.msg(0, bson.D{{Key: "aggregate", Value: "r"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$changeStream", Value: bson.D{}}}}},
		{Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "aw"}})
	_, _, doc := r.read()
	id, ok := doc.Lookup("cursor", "id").Int64OK()
	if !ok || id == 0 {
		t.Fatalf("aggregate $changeStream reply %v, want an open cursor", doc)
	}
	if n := openCursors(t, admin); n != 1 {
		t.Fatalf("%d open cursors, want 1", n)
	}
	r.nc.Close()
	testenv.Eventually(t, 5*time.Second, "the change-stream cursor of the dropped connection to be reaped", func() bool { return openCursors(t, admin) == 0 })
}

func TestIdleCursorTimesOut(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{CursorIdleTimeout: 200 * time.Millisecond})
	c := testenv.Connect(t, srv.URI(), nil)
	ctx := context.Background()
	coll := c.Database("idle").Collection("c")
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "_id", Value: 3}}}); err != nil {
		t.Fatal(err)
	}
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetBatchSize(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	if n := openCursors(t, c); n != 1 {
		t.Fatalf("%d open cursors, want 1", n)
	}
	testenv.Eventually(t, 5*time.Second, "the idle cursor to time out", func() bool { return openCursors(t, c) == 0 })
	cur.Next(ctx) // first document from the first batch
	if cur.Next(ctx) {
		t.Fatal("getMore on a timed-out cursor returned a document")
	}
	if ce := cmdErr(t, cur.Err()); ce.Code != 43 {
		t.Fatalf("getMore after idle timeout: %+v, want 43 CursorNotFound", ce)
	}
}
