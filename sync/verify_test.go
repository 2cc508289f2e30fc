package sync

import (
	"context"
	"fmt"
	"math/rand/v2"
	gosync "sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// verifyOf runs Verify and returns the single collection's result.
func verifyOf(t *testing.T, ctx context.Context, s *Syncer) VerifyCollection {
	t.Helper()
	rep, err := s.Verify(ctx)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(rep.Collections) != 1 {
		t.Fatalf("Verify: %d collections, want 1", len(rep.Collections))
	}
	return rep.Collections[0]
}

func idDisplay(id bson.RawValue) string {
	if n, ok := id.Int32OK(); ok {
		return fmt.Sprint(n)
	}
	return id.String()
}

func reasonsOf(vc VerifyCollection) map[string]DiffReason {
	out := map[string]DiffReason{}
	for _, d := range vc.Diffs {
		out[idDisplay(d.ID)] = d.Reason
	}
	return out
}

func TestVerify(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	for i := range 20 {
		if _, err := remote.Collection("items").InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "n", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{Local: local, Remote: remote, Collections: []string{"items"}}
	s := startSynced(t, ctx, cfg)

	t.Run("equal", func(t *testing.T) {
		vc := verifyOf(t, ctx, s)
		if vc.LocalDocs != 20 || vc.RemoteDocs != 20 || vc.LocalSum != vc.RemoteSum || len(vc.Diffs) != 0 {
			t.Fatalf("equal sides: %+v", vc)
		}
	})

	// Diverged: with sync stopped, document 3 changes on the remote and
	// its base is forged to the new remote content (as if the change had
	// been downloaded), so the download takes it for settled and the two
	// sides stay apart.
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	forge := func(id int) {
		t.Helper()
		if _, err := remote.Collection("items").UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: -1}}}}); err != nil {
			t.Fatal(err)
		}
		raw, err := remote.Collection("items").FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
		if err != nil {
			t.Fatal(err)
		}
		key := metaKey("items", raw.Lookup("_id"))
		if _, err := local.Collection(localDocsColl).UpdateOne(ctx, bson.D{{Key: "_id", Value: key}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: contentHash(raw)}}}}); err != nil {
			t.Fatal(err)
		}
	}
	forge(3)
	// Conflict: document 4 diverges the same way and has a conflict log
	// entry.
	forge(4)
	if _, err := local.Collection(localConflictsColl).InsertOne(ctx, bson.D{{Key: "_id", Value: "c4"}, {Key: "coll", Value: "items"}, {Key: "docId", Value: 4}}); err != nil {
		t.Fatal(err)
	}
	// Pending: a local edit while sync is stopped.
	if _, err := local.Collection("items").UpdateOne(ctx, bson.D{{Key: "_id", Value: 5}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 50}}}}); err != nil {
		t.Fatal(err)
	}
	t.Run("stopped", func(t *testing.T) {
		vc := verifyOf(t, ctx, s)
		got := reasonsOf(vc)
		// Without a running syncer only the bases speak: 3 and 4 look like
		// local edits (local differs from the forged base).
		want := map[string]DiffReason{"3": DiffPending, "4": DiffConflict, "5": DiffPending}
		if fmt.Sprint(got) != fmt.Sprint(want) || vc.LocalSum == vc.RemoteSum {
			t.Fatalf("got %v, want %v (%+v)", got, want, vc)
		}
	})
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Run("running", func(t *testing.T) {
		vc := verifyOf(t, ctx, s)
		got := reasonsOf(vc)
		// 5 uploads once the syncer runs: the barrier lets it through.
		want := map[string]DiffReason{"3": DiffDiverged, "4": DiffConflict}
		if fmt.Sprint(got) != fmt.Sprint(want) || vc.Differing[DiffDiverged] != 1 {
			t.Fatalf("got %v, want %v (%+v)", got, want, vc)
		}
	})
}

// TestVerifyWhileWriting: documents changing on both sides during Verify
// are never reported diverged.
func TestVerifyWhileWriting(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	cfg := Config{Local: local, Remote: remote, Collections: []string{"items"}}
	s := startSynced(t, ctx, cfg)
	wctx, stop := context.WithCancel(ctx)
	var wg gosync.WaitGroup
	wg.Add(1)
	writes := 0
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 400 && wctx.Err() == nil; i++ {
			side := local
			if r.IntN(2) == 0 {
				side = remote
			}
			id := r.IntN(50)
			_, err := side.Collection("items").UpdateOne(wctx, bson.D{{Key: "_id", Value: id}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: i}}}}, options.UpdateOne().SetUpsert(true))
			if err == nil {
				writes++
			}
		}
	}()
	for range 3 {
		rep, err := s.Verify(ctx)
		if err != nil {
			stop()
			wg.Wait()
			t.Fatalf("Verify: %v", err)
		}
		t.Logf("during the writes: %v", rep.Collections[0].Differing)
		if rep.Diverged() {
			stop()
			wg.Wait()
			t.Fatalf("divergence reported while writing: %+v", rep.Collections[0])
		}
	}
	wg.Wait()
	stop()
	t.Logf("%d writes during verify", writes)
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	vc := verifyOf(t, ctx, s)
	if len(vc.Diffs) != 0 || vc.LocalSum != vc.RemoteSum || vc.LocalDocs == 0 {
		t.Fatalf("after the writes: %+v", vc)
	}
}

// TestVerifyOwner: documents of other tenants are not counted or compared.
func TestVerifyOwner(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	cfg := Config{Local: local, Remote: remote, Collections: []string{"items"}, Owner: &Owner{Field: "o", Value: "me"}}
	if _, err := remote.Collection("items").InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: 1}, {Key: "o", Value: "me"}},
		bson.D{{Key: "_id", Value: 2}, {Key: "o", Value: "you"}},
	}); err != nil {
		t.Fatal(err)
	}
	s := startSynced(t, ctx, cfg)
	vc := verifyOf(t, ctx, s)
	if vc.RemoteDocs != 1 || vc.LocalDocs != 1 || len(vc.Diffs) != 0 {
		t.Fatalf("owner filter: %+v", vc)
	}
}

// TestVerifyCap: the list of differing documents is capped, the count is
// not.
func TestVerifyCap(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	s := startSynced(t, ctx, Config{Local: local, Remote: remote, Collections: []string{"items"}})
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	docs := make([]any, verifyMaxDiffs+5)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}}
	}
	if _, err := local.Collection("items").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	vc := verifyOf(t, ctx, s)
	if len(vc.Diffs) != verifyMaxDiffs || vc.Differing[DiffPending] != len(docs) || vc.LocalDocs != int64(len(docs)) || vc.RemoteDocs != 0 {
		t.Fatalf("cap: %d diffs listed, counts %v, local %d remote %d", len(vc.Diffs), vc.Differing, vc.LocalDocs, vc.RemoteDocs)
	}
}
