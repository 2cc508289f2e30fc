package sync

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

var (
	soakCycles = flag.Int("sync.soak", 0, "create/delete cycles of the compaction soak (default: a short form of 500 over 50 ids; the long form: 100000 over 1,000 ids)")
)

// remoteEntries counts the remote version entries of coll (the compaction
// record aside) and their BSON bytes.
func remoteEntries(t *testing.T, ctx context.Context, remote *mongo.Database, coll string) (n, bytes int64) {
	t.Helper()
	cur, err := remote.Collection(remoteVersionsColl).Find(ctx, bson.D{{Key: "_id.c", Value: coll}})
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		n++
		bytes += int64(len(cur.Current))
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	return n, bytes
}

// passTime moves the clock past the compaction margin and makes the
// remote's cluster time and every syncer's download position follow.
func passTime(t *testing.T, ctx context.Context, d time.Duration, remote *mongo.Database, syncers ...*Syncer) {
	t.Helper()
	if !clockOf(t).Jump(d) {
		testenv.SkipIfExternal(t, "moving the servers' clocks past the compaction margin")
	}
	if _, err := remote.Collection("tick").InsertOne(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range syncers {
		if err := s.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// Create/delete churn leaves tombstones on the remote; once every
// registered replica has synced past them, Compact collects them and the
// remote's version entries end at the size of the live data.
func TestCompactionSoak(t *testing.T) {
	cycles, ids := 500, 50
	if *soakCycles > 0 {
		cycles, ids = *soakCycles, 1000
	}
	cycles += ids / 2 // end with half the ids live
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	remote := newDB(t, "remote")
	local := newDB(t, "local")
	s := startSynced(t, ctx, withClock(t, Config{Local: local, Remote: remote, Collections: []string{"c", "tick"}, Backoff: fastBackoff,
		HeartbeatInterval: 50 * time.Millisecond, CompactInterval: -1}))
	lc := local.Collection("c")
	start := time.Now()
	exists := make([]bool, ids)
	for i := range cycles {
		id := i % ids
		var err error
		if exists[id] {
			_, err = lc.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
		} else {
			_, err = lc.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "v", Value: i}})
		}
		if err != nil {
			t.Fatal(err)
		}
		exists[id] = !exists[id]
		if id == ids-1 {
			// A pass over every id synced before the next one, so each
			// create and delete reaches the remote (a document created
			// and deleted between two uploads never does).
			if err := s.WaitSynced(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	live := int64(0)
	for _, e := range exists {
		if e {
			live++
		}
	}
	n0, b0 := remoteEntries(t, ctx, remote, "c")
	passTime(t, ctx, 5*time.Minute, remote, s)
	res, err := s.Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n1, b1 := remoteEntries(t, ctx, remote, "c")
	t.Logf("%d create/delete cycles over %d ids in %v: remote version entries %d (%d bytes) -> %d (%d bytes) after Compact (removed %v); live documents %d",
		cycles, ids, time.Since(start).Round(time.Millisecond), n0, b0, n1, b1, res.Collections, live)
	if n1 != live {
		t.Fatalf("after Compact the remote holds %d version entries for %d live documents", n1, live)
	}
	if rc, _ := remote.Collection("c").CountDocuments(ctx, bson.D{}); rc != live {
		t.Fatalf("remote holds %d documents, want %d", rc, live)
	}
}

// A registered replica that has not synced past a tombstone keeps it; once
// it is forgotten (or the retention window passes) the tombstone goes.
func TestCompactionWaitsForEveryReplica(t *testing.T) {
	ctx := testCtx(t)
	remote := newDB(t, "remote")
	cfg := func(name string) Config {
		return withClock(t, Config{Local: newDB(t, name), Remote: remote, Collections: []string{"c", "tick"}, Backoff: fastBackoff,
			ReplicaID: name, HeartbeatInterval: 20 * time.Millisecond, CompactInterval: -1, Retention: time.Hour})
	}
	a := startSynced(t, ctx, cfg("a"))
	b := startSynced(t, ctx, cfg("b"))
	passTime(t, ctx, 5*time.Minute, remote, a, b)
	// b goes away; a deletes ten documents it created.
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	// Each synced before and after its delete, so that each leaves a
	// tombstone (an insert deleted before its upload leaves nothing).
	ac := a.cfg.Local.Collection("c")
	for i := range 10 {
		if _, err := ac.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.DeleteMany(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	passTime(t, ctx, 5*time.Minute, remote, a)
	res, err := a.Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := remoteEntries(t, ctx, remote, "c"); n != 10 || res.Collections[0].Removed != 0 {
		t.Fatalf("with b behind: %d tombstones left, %v removed; want all 10 kept", n, res.Collections)
	}
	// Past the retention window, b no longer holds them back.
	passTime(t, ctx, 2*time.Hour, remote, a)
	if res, err = a.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := remoteEntries(t, ctx, remote, "c"); n != 0 || res.Collections[0].Removed != 10 {
		t.Fatalf("past the retention window: %d tombstones left (%v)", n, res.Collections)
	}
	// b comes back: the deletes reach it (their versions gone, they come as
	// deletes made outside mongotide) and nothing resurrects.
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, b.cfg.Local.Collection("c"), remote.Collection("c"), 0)
	if err := a.ForgetReplica(ctx, "b"); err != nil {
		t.Fatal(err)
	}
}
