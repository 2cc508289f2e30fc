package sync

import (
	"context"
	"errors"
	"fmt"
	gosync "sync"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// A bootstrap interrupted after its first batch resumes after the
// checkpointed _id: documents already copied are not copied again, and a
// remote write made meanwhile arrives through the stream captured before the
// copy began.
func TestBootstrapResumesAfterInterruption(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	rc, lc := remote.Collection("c"), local.Collection("c")
	var docs []any
	for i := range 20 {
		docs = append(docs, bson.D{{Key: "_id", Value: int32(i)}})
	}
	if _, err := rc.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}

	// First run: the bootstrap alone, cut off after one batch of 5.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	first, err := New(Config{Local: local, Remote: remote, Collections: []string{"c"}, BatchSize: 5,
		OnBootstrap: func(BootstrapProgress) { cancel() }})
	if err != nil {
		t.Fatal(err)
	}
	first.replica = "first"
	if err := first.bootstrap(cctx, &collState{name: "c"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted bootstrap returned %v, want context.Canceled", err)
	}
	if n, err := lc.CountDocuments(ctx, bson.D{}); err != nil || n != 5 {
		t.Fatalf("after the first batch local holds %d documents (%v), want 5", n, err)
	}
	// Written while the syncer is down, after the resume point was captured.
	if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: "late"}}); err != nil {
		t.Fatal(err)
	}

	var (
		mu       gosync.Mutex
		progress []BootstrapProgress
	)
	var downloads atomic.Int64
	startSyncer(t, ctx, Config{Local: local, Remote: remote, Collections: []string{"c"}, BatchSize: 5,
		OnBootstrap: func(p BootstrapProgress) { mu.Lock(); progress = append(progress, p); mu.Unlock() },
		OnSync:      func(SyncEvent) { downloads.Add(1) },
	})
	sameContents(t, ctx, lc, rc, 21)
	eventually(t, "bootstrap done", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		if len(progress) == 0 {
			return false, "no progress yet"
		}
		last := progress[len(progress)-1]
		return last.Done, fmt.Sprintf("%+v", last)
	})
	mu.Lock()
	defer mu.Unlock()
	if progress[0].Copied != 10 {
		t.Fatalf("second run progress %+v, want it to continue at 10", progress)
	}
	if last := progress[len(progress)-1]; last.Copied != 21 {
		t.Fatalf("final progress %+v, want done at 21", last)
	}
	// 15 documents not yet copied plus "late" (it sorts after the ints, so
	// the copy sees it; the stream's replay of its insert is a no-op).
	if n := downloads.Load(); n != 16 {
		t.Fatalf("second run applied %d documents, want 16 (the first 5 must not be copied again)", n)
	}
}

// Every BSON type survives both directions byte for byte.
func TestFidelity(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	lc, rc := local.Collection("c"), remote.Collection("c")
	startSyncer(t, ctx, Config{Local: local, Remote: remote, Collections: []string{"c"}})
	dec, err := bson.ParseDecimal128("1234.5600")
	if err != nil {
		t.Fatal(err)
	}
	typed := func(id string) bson.D {
		return bson.D{
			{Key: "_id", Value: id},
			{Key: "i32", Value: int32(1)}, {Key: "i64", Value: int64(1)}, {Key: "f", Value: 1.0},
			{Key: "dec", Value: dec},
			{Key: "date", Value: bson.DateTime(1_700_000_000_123)},
			{Key: "bin", Value: bson.Binary{Subtype: 0x80, Data: []byte{1, 2}}},
			{Key: "uuid", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}},
			{Key: "re", Value: bson.Regex{Pattern: "^a.*", Options: "im"}},
			{Key: "nested", Value: bson.A{bson.A{int32(1), bson.A{"x"}}, bson.D{{Key: "k", Value: nil}}}},
			{Key: "min", Value: bson.MinKey{}}, {Key: "max", Value: bson.MaxKey{}},
			{Key: "ts", Value: bson.Timestamp{T: 5, I: 6}},
			{Key: "oid", Value: bson.NewObjectID()},
			{Key: "js", Value: bson.JavaScript("x")},
			{Key: "b", Value: true},
		}
	}
	inserted := map[string]bson.D{"from-local": typed("from-local"), "from-remote": typed("from-remote")}
	if _, err := lc.InsertOne(ctx, inserted["from-local"]); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.InsertOne(ctx, inserted["from-remote"]); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, lc, rc, 2)
	for id, doc := range inserted {
		want, err := bson.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		for side, c := range map[string]*mongo.Collection{"local": lc, "remote": rc} {
			if got := dump(t, ctx, c)[fmt.Sprintf("%q", id)]; got != string(want) {
				t.Fatalf("%s on %s:\n got %v\nwant %v", id, side, bson.Raw(got), bson.Raw(want))
			}
		}
	}
}
