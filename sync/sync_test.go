package sync

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestBootstrapThenTail(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	rc := remote.Collection("books")
	// Mixed _id types: the copy must walk them all in BSON order.
	docs := []any{}
	for i := range 20 {
		docs = append(docs, bson.D{{Key: "_id", Value: int32(i)}, {Key: "n", Value: i}})
	}
	docs = append(docs, bson.D{{Key: "_id", Value: "s1"}}, bson.D{{Key: "_id", Value: bson.NewObjectID()}})
	if _, err := rc.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	var lastProgress atomic.Pointer[BootstrapProgress]
	s := startSyncer(t, ctx, Config{
		Local: local, Remote: remote, Collections: []string{"books"}, BatchSize: 7,
		OnBootstrap: func(p BootstrapProgress) { lastProgress.Store(&p) },
	})
	lc := local.Collection("books")
	sameContents(t, ctx, lc, rc, 22)
	eventually(t, "bootstrap done", func() (bool, string) {
		p := lastProgress.Load()
		return p != nil && p.Done && p.Copied == 22, fmt.Sprintf("%+v", p)
	})

	// Tail in both directions.
	if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: "from-remote"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: "from-local"}}); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, lc, rc, 24)
	st, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running || !st.Online || len(st.Collections) != 1 || !st.Collections[0].Bootstrapped {
		t.Fatalf("status = %+v", st)
	}
}

func TestBothDirectionsNoEcho(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	var up, down atomic.Int64
	startSyncer(t, ctx, Config{
		Local: local, Remote: remote, Collections: []string{"c"},
		OnSync: func(ev SyncEvent) {
			if ev.Direction == Upload {
				up.Add(1)
			} else {
				down.Add(1)
			}
		},
	})
	lc, rc := local.Collection("c"), remote.Collection("c")
	for i := range 5 {
		if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("l%d", i)}, {Key: "v", Value: 0}}); err != nil {
			t.Fatal(err)
		}
		if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("r%d", i)}, {Key: "v", Value: 0}}); err != nil {
			t.Fatal(err)
		}
	}
	sameContents(t, ctx, lc, rc, 10)
	// Update the other side's documents, then delete one each way.
	if _, err := lc.UpdateOne(ctx, bson.D{{Key: "_id", Value: "r0"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.UpdateOne(ctx, bson.D{{Key: "_id", Value: "l0"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: 2}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.DeleteOne(ctx, bson.D{{Key: "_id", Value: "r1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.DeleteOne(ctx, bson.D{{Key: "_id", Value: "l1"}}); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, lc, rc, 8)
	if m := findOne(t, ctx, rc, "r0"); m["v"] != int32(1) {
		t.Fatalf("remote r0 = %v, want v=1", m)
	}
	if m := findOne(t, ctx, lc, "l0"); m["v"] != int32(2) {
		t.Fatalf("local l0 = %v, want v=2", m)
	}
	// A final marker each way: once both arrived, every echo of the writes
	// above has been handled (each listener is ordered), so the counts are
	// final: any echo would have shown up as an extra upload or download.
	if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: "marker-l"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: "marker-r"}}); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, lc, rc, 10)
	eventually(t, "marker echoes handled", func() (bool, string) {
		return up.Load() >= 8 && down.Load() >= 8, fmt.Sprintf("up=%d down=%d", up.Load(), down.Load())
	})
	// A third marker, after the echoes of the first markers had time to pass
	// through both listeners, pins the counts.
	if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: "marker-l2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: "marker-r2"}}); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, lc, rc, 12)
	eventually(t, "second markers synced", func() (bool, string) {
		return up.Load() >= 9 && down.Load() >= 9, fmt.Sprintf("up=%d down=%d", up.Load(), down.Load())
	})
	// 5 inserts + 1 update + 1 delete + 2 markers each way.
	if up.Load() != 9 || down.Load() != 9 {
		t.Fatalf("uploads=%d downloads=%d, want 9 each (more means an echo was sent back)", up.Load(), down.Load())
	}
}

func TestStartStopIdempotent(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	s, err := New(Config{Local: local, Remote: remote, Collections: []string{"c"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop before Start: %v", err)
	}
	for range 2 {
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := local.Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "upload", func() (bool, string) {
		return findOne(t, ctx, remote.Collection("c"), 1) != nil, "not on remote"
	})
	for range 2 {
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.Status(ctx)
	if err != nil || st.Running {
		t.Fatalf("status after stop = %+v, %v", st, err)
	}
	// Restart resumes from the checkpoints kept locally: a write made while
	// stopped is uploaded.
	if _, err := local.Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	eventually(t, "upload after restart", func() (bool, string) {
		return findOne(t, ctx, remote.Collection("c"), 2) != nil, "not on remote"
	})
}
