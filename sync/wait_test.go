package sync

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestWaitSynced(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	lc, rc := local.Collection("c"), remote.Collection("c")
	if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: "boot"}}); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Local: local, Remote: remote, Collections: []string{"c", "d"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WaitSynced(ctx); !errors.Is(err, ErrStopped) {
		t.Fatalf("WaitSynced before Start: %v, want ErrStopped", err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	// Right after Start: the bootstrap copy is included in the barrier.
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if findOne(t, ctx, lc, "boot") == nil {
		t.Fatal("WaitSynced returned before the bootstrap copy")
	}
	for round := range 3 {
		for i := range 20 {
			id := fmt.Sprintf("%d-%d", round, i)
			if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: "l" + id}}); err != nil {
				t.Fatal(err)
			}
			if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: "r" + id}}); err != nil {
				t.Fatal(err)
			}
		}
		// A local delete of a remote insert, once it arrived (deleting
		// before it arrives deletes nothing).
		gone := fmt.Sprintf("r%d-0", round)
		eventually(t, gone+" downloaded", func() (bool, string) { return findOne(t, ctx, lc, gone) != nil, "" })
		if res, err := lc.DeleteOne(ctx, bson.D{{Key: "_id", Value: gone}}); err != nil || res.DeletedCount != 1 {
			t.Fatalf("delete %s: %v, %+v", gone, err, res)
		}
		if err := s.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
		// No polling: the barrier alone guarantees equality.
		dl, dr := dump(t, ctx, lc), dump(t, ctx, rc)
		want := 1 + (round+1)*39
		if len(dl) != want || len(dr) != want {
			t.Fatalf("round %d: %d local and %d remote documents after WaitSynced, want %d", round, len(dl), len(dr), want)
		}
		for k, v := range dl {
			if dr[k] != v {
				t.Fatalf("round %d: document %s differs after WaitSynced", round, k)
			}
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.WaitSynced(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitSynced with a cancelled context: %v", err)
	}
}
