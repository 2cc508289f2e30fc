package sync

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestPendingAndResetLocal(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	lc, rc := local.Collection("c"), remote.Collection("c")
	if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: "r"}}); err != nil {
		t.Fatal(err)
	}
	s := startSynced(t, ctx, Config{Local: local, Remote: remote, Collections: []string{"c"}})
	if err := s.ResetLocal(ctx, ResetLocalOptions{DiscardPending: true}); !errors.Is(err, ErrRunning) {
		t.Fatalf("ResetLocal while running: %v, want ErrRunning", err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Written while stopped: pending, and reset refuses to lose it.
	if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: "l"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.DeleteOne(ctx, bson.D{{Key: "_id", Value: "r"}}); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Pending(ctx); err != nil || p["c"] != 2 {
		t.Fatalf("Pending = %v, %v; want 2 in c (an insert and a delete)", p, err)
	}
	if boot, err := s.Bootstrapped(ctx); err != nil || !boot["c"] {
		t.Fatalf("Bootstrapped = %v, %v", boot, err)
	}
	if err := s.ResetLocal(ctx, ResetLocalOptions{}); !errors.Is(err, ErrPendingChanges) {
		t.Fatalf("ResetLocal with pending changes: %v, want ErrPendingChanges", err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Pending(ctx); err != nil || p["c"] != 0 {
		t.Fatalf("Pending after sync = %v, %v", p, err)
	}
	if err := s.ResetLocal(ctx, ResetLocalOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, err := lc.CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
		t.Fatalf("local holds %d documents after reset (%v)", n, err)
	}
	if boot, err := s.Bootstrapped(ctx); err != nil || boot["c"] {
		t.Fatalf("Bootstrapped after reset = %v, %v", boot, err)
	}
	// The next start bootstraps again.
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, lc, rc, 1)
	if findOne(t, ctx, lc, "l") == nil {
		t.Fatal("the re-bootstrapped local side lacks l")
	}
}
