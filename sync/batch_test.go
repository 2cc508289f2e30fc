package sync

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// countedDB is a database on its own server (or MONGOTIDE_TEST_URI) whose
// client counts the commitTransaction commands it sends.
func countedDB(t *testing.T, name string, commits *atomic.Int64) *mongo.Database {
	t.Helper()
	var uri string
	if testenv.UsingExternal() {
		uri = testenv.URI(t)
	} else {
		uri = testenv.StartEmbedded(t, embedded.Config{Clock: clockOf(t).Now}).URI()
	}
	client := testenv.Connect(t, uri, options.Client().SetMonitor(&event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if e.CommandName == "commitTransaction" {
				commits.Add(1)
			}
		}}))
	return client.Database(fmt.Sprintf("sync_batch_%s_%d", name, time.Now().UnixNano()%1e6))
}

// A burst of changes goes across in batches: a hundred documents written at
// once cost a few transactions on the other side, not a hundred, in each
// direction, and arrive byte-identical.
func TestBurstSyncsInFewTransactions(t *testing.T) {
	ctx := testCtx(t)
	var localCommits, remoteCommits atomic.Int64
	local, remote := countedDB(t, "local", &localCommits), countedDB(t, "remote", &remoteCommits)
	startSynced(t, ctx, Config{Local: local, Remote: remote, Collections: []string{"c"}, ChangeLinger: 200 * time.Millisecond})
	burst := func(coll *mongo.Collection, from int) {
		docs := make([]any, 100)
		for i := range docs {
			docs[i] = bson.D{{Key: "_id", Value: int32(from + i)}, {Key: "v", Value: fmt.Sprint("v", from+i)}}
		}
		if _, err := coll.InsertMany(ctx, docs); err != nil {
			t.Fatal(err)
		}
	}
	r0 := remoteCommits.Load()
	burst(local.Collection("c"), 0)
	sameContents(t, ctx, local.Collection("c"), remote.Collection("c"), 100)
	if n := remoteCommits.Load() - r0; n < 1 || n > 10 {
		t.Fatalf("100 local inserts took %d remote transactions, want 1..10", n)
	}
	l0 := localCommits.Load()
	burst(remote.Collection("c"), 1000)
	sameContents(t, ctx, local.Collection("c"), remote.Collection("c"), 200)
	if n := localCommits.Load() - l0; n < 1 || n > 10 {
		t.Fatalf("100 remote inserts took %d local transactions, want 1..10", n)
	}
}

// One batch mixes every kind of change: plain uploads, deletes, inserts,
// documents changed twice, remote-only changes, and concurrent edits that
// need the conflict rules (handled one by one after the batch). The outcome
// is what one-at-a-time handling gives: each conflict decided and logged
// once (a remote write made without mongotide is ordered just after the
// base, so the local edit wins: docs/sync.md, Limits), and both sides end
// identical.
func TestMixedBatchDecidesLikeOneAtATime(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	lc, rc := local.Collection("c"), remote.Collection("c")
	docs := make([]any, 40)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: int32(i)}, {Key: "v", Value: "base"}}
	}
	if _, err := rc.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Local: local, Remote: remote, Collections: []string{"c"}, ChangeLinger: 300 * time.Millisecond}
	s := startSynced(t, ctx, cfg)
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	set := func(coll *mongo.Collection, filter bson.D, v string) {
		t.Helper()
		if _, err := coll.UpdateMany(ctx, filter, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: v}}}}); err != nil {
			t.Fatal(err)
		}
	}
	below := func(n int32) bson.D { return bson.D{{Key: "_id", Value: bson.D{{Key: "$lt", Value: n}}}} }
	between := func(a, b int32) bson.D {
		return bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: a}, {Key: "$lt", Value: b}}}}
	}
	// Offline: local edits, and remote edits of some of the same
	// documents.
	set(lc, below(20), "local")
	set(lc, below(5), "local again") // changed twice: two runs of the batch
	if _, err := lc.DeleteMany(ctx, between(20, 25)); err != nil {
		t.Fatal(err)
	}
	for i := int32(100); i < 105; i++ {
		if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "v", Value: "new"}}); err != nil {
			t.Fatal(err)
		}
	}
	clockOf(t).Advance()
	set(rc, below(5), "remote")        // concurrent with the local edits
	set(rc, between(30, 35), "remote") // remote only
	s2 := startSynced(t, ctx, cfg)
	sameContents(t, ctx, lc, rc, 40-5+5)
	want := map[int32]string{}
	for i := int32(0); i < 40; i++ {
		switch {
		case i < 5:
			want[i] = "local again"
		case i >= 30 && i < 35:
			want[i] = "remote"
		case i < 20:
			want[i] = "local"
		case i < 25:
			continue
		default:
			want[i] = "base"
		}
	}
	for i := int32(100); i < 105; i++ {
		want[i] = "new"
	}
	for id, v := range want {
		if got := findOne(t, ctx, rc, id); got == nil || got["v"] != v {
			t.Errorf("remote %d = %v, want v %q", id, got, v)
		}
	}
	conflicts, err := s2.Conflicts(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	logged := map[string]int{}
	for _, c := range conflicts {
		logged[c.DocumentID.String()]++
	}
	if len(conflicts) != 5 || len(logged) != 5 {
		t.Fatalf("conflict log %v, want one entry for each of documents 0-4", logged)
	}
}

// A batch in which no document can be carried out by the batch (here: each
// is another owner's on the remote, refused by the one-document path) does
// not stop the direction. (The batch wrote its bases with a bulk write of
// nothing, which the driver refuses: the direction was stuck on that batch
// for good. Chaos seed 8385288596355453666.)
func TestBatchWithNothingBatchable(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	lc, rc := local.Collection("c"), remote.Collection("c")
	theirs := make([]any, 5)
	mine := make([]any, 5)
	for i := range theirs {
		theirs[i] = bson.D{{Key: "_id", Value: int32(i)}, {Key: "owner", Value: "bob"}}
		mine[i] = bson.D{{Key: "_id", Value: int32(i)}, {Key: "owner", Value: "alice"}}
	}
	if _, err := rc.InsertMany(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	var errs errorLog
	s := startSynced(t, ctx, Config{Local: local, Remote: remote, Collections: []string{"c"}, ChangeLinger: 300 * time.Millisecond,
		Owner: &Owner{Field: "owner", Value: "alice"}, OnError: errs.add})
	if _, err := lc.InsertMany(ctx, mine); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatalf("WaitSynced: %v", err)
	}
	if n := errs.count(ErrNotOwned); n != 5 {
		t.Fatalf("%d ErrNotOwned reports, want 5", n)
	}
	for i := int32(0); i < 5; i++ {
		if m := findOne(t, ctx, rc, i); m["owner"] != "bob" {
			t.Fatalf("remote %d = %v: bob's document was overwritten", i, m)
		}
	}
}
