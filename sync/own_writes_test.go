package sync

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// An upload's write comes back on the download stream; it is known as the
// syncer's own by commit time and skipped without reading the remote
// document again: the remote documents are read once per upload (inside the
// upload's transaction; once per batch of uploads), not a second time for
// their echoes. A remote write of someone else is still downloaded.
func TestUploadEchoesSkipped(t *testing.T) {
	ctx := testCtx(t)
	srv := testenv.StartEmbedded(t, embedded.Config{})
	var finds, outside atomic.Int64 // reads of c; those outside a transaction (a download's)
	var counting atomic.Bool
	rclient := testenv.Connect(t, srv.URI(), options.Client().SetMonitor(&event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if c, _ := e.Command.Lookup("find").StringValueOK(); e.CommandName == "find" && c == "c" && counting.Load() {
				finds.Add(1)
				if _, err := e.Command.LookupErr("autocommit"); err != nil {
					outside.Add(1)
				}
			}
		}}))
	local, remote := newDB(t, "local"), rclient.Database("remote_echo")
	rc := testenv.Connect(t, srv.URI(), nil).Database("remote_echo").Collection("c")
	var uploads atomic.Int64
	s := startSyncer(t, ctx, Config{Local: local, Remote: remote, Collections: []string{"c"},
		OnSync: func(ev SyncEvent) {
			if ev.Direction == Upload && counting.Load() {
				uploads.Add(1)
			}
		}})
	// The first upload creates the remote collections: concurrent
	// transactions creating them conflict and retry (reading again).
	if _, err := local.Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: "first"}}); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, local.Collection("c"), rc, 1)
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	counting.Store(true)
	const n = 20
	for i := range n {
		if _, err := local.Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: int32(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	sameContents(t, ctx, local.Collection("c"), rc, n+1)
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if got, ups := finds.Load(), uploads.Load(); ups != n || got < 1 || got > n || outside.Load() != 0 {
		t.Fatalf("%d uploads read remote documents %d times (%d outside a transaction), want 1..%d (at most one read each, in the upload's transaction; none for the echoes)", ups, got, outside.Load(), n)
	}
	if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: "theirs"}}); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, local.Collection("c"), rc, n+2)
}
