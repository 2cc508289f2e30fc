package sync

import (
	"context"
	"testing"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Documents that exist locally before the first sync are uploaded after the
// bootstrap (they have no change event); same-_id documents on both sides
// are a conflict decided by the policy.
func TestFirstSyncUploadsExistingLocalDocuments(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	lc, rc := local.Collection("c"), remote.Collection("c")
	if _, err := lc.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: "only-local"}}, bson.D{{Key: "_id", Value: "both"}, {Key: "v", Value: "local"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: "only-remote"}}, bson.D{{Key: "_id", Value: "both"}, {Key: "v", Value: "remote"}}}); err != nil {
		t.Fatal(err)
	}
	s := startSyncer(t, ctx, Config{Local: local, Remote: remote, Collections: []string{"c"}, Conflict: RemoteWins})
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, lc, rc, 3)
	if m := findOne(t, ctx, lc, "both"); m["v"] != "remote" {
		t.Fatalf("both = %v, want the remote side (RemoteWins)", m)
	}
	res, err := s.Reconcile(ctx)
	if err != nil || res != (ReconcileResult{}) {
		t.Fatalf("Reconcile on synced sides = %+v, %v; want nothing to do", res, err)
	}
}

// The local oplog no longer holds the upload checkpoint (error 286): the
// syncer reconciles and nothing written meanwhile is lost.
func TestHistoryLostReconciles(t *testing.T) {
	testenv.SkipIfExternal(t, "a tiny oplog on the local server")
	ctx := testCtx(t)
	srv := testenv.StartEmbedded(t, embedded.Config{OplogCapacity: 30})
	local := testenv.Connect(t, srv.URI(), options.Client()).Database("local_small")
	remote := newDB(t, "remote")
	lc, rc := local.Collection("c"), remote.Collection("c")
	cfg := Config{Local: local, Remote: remote, Collections: []string{"c"}, Backoff: fastBackoff}
	s := startSyncer(t, ctx, cfg)
	if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: 0}, {Key: "v", Value: "old"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: "doomed"}}); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, lc, rc, 2)
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Far more writes than the oplog keeps, including an update and a
	// delete of synced documents.
	for i := 1; i <= 60; i++ {
		if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := lc.UpdateOne(ctx, bson.D{{Key: "_id", Value: 0}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "new"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.DeleteOne(ctx, bson.D{{Key: "_id", Value: "doomed"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	sameContents(t, ctx, lc, rc, 61)
	if m := findOne(t, ctx, rc, 0); m["v"] != "new" {
		t.Fatalf("remote doc 0 = %v, want the update made during the gap", m)
	}
}
