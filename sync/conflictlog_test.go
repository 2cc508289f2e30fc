package sync

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func TestConflictLogRetryAndDismiss(t *testing.T) {
	ctx := testCtx(t)
	a, b, la, lb, rc := twoReplicas(t, ctx, LastWriterWins)
	var reported atomic.Int64
	a.cfg.OnConflict = func(Conflict) { reported.Add(1) }

	aLosesToB(t, ctx, a, b, la, lb, rc)
	var list []Conflict
	eventually(t, "conflict logged on A", func() (bool, string) {
		var err error
		list, err = a.Conflicts(ctx, "c")
		return err == nil && len(list) == 1, fmt.Sprintf("%d conflicts, %v", len(list), err)
	})
	c := list[0]
	if c.Kept != RemoteSide || c.Collection != "c" || c.LocalVersion.Replica != "A" || c.RemoteVersion.Replica != "B" ||
		c.Local.Lookup("v").StringValue() != "a" || c.Remote.Lookup("v").StringValue() != "b" {
		t.Fatalf("conflict = %+v", c)
	}
	// OnConflict runs after the entry is committed: waited for.
	eventually(t, "OnConflict called", func() (bool, string) {
		return reported.Load() == 1, fmt.Sprintf("%d calls", reported.Load())
	})
	if other, err := a.Conflicts(ctx, "other"); err != nil || len(other) != 0 {
		t.Fatalf("conflicts of another collection = %v, %v", other, err)
	}

	// Retry: A's losing edit is reinstated everywhere.
	if err := a.RetryConflict(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	for _, coll := range []*mongo.Collection{la, lb, rc} {
		eventually(t, coll.Database().Name()+" has the retried edit", func() (bool, string) {
			m := findOne(t, ctx, coll, 1)
			return m != nil && m["v"] == "a", fmt.Sprintf("%v", m)
		})
	}
	if list, err := a.Conflicts(ctx, ""); err != nil || len(list) != 0 {
		t.Fatalf("after retry the log holds %v, %v", list, err)
	}
	if n := reported.Load(); n != 1 {
		t.Fatalf("OnConflict called %d times, want 1 (the retried conflict reported again)", n)
	}
	if err := a.RetryConflict(ctx, c.ID); !errors.Is(err, ErrConflictNotFound) {
		t.Fatalf("retrying twice: %v, want ErrConflictNotFound", err)
	}
	if err := a.DismissConflict(ctx, "nope"); !errors.Is(err, ErrConflictNotFound) {
		t.Fatalf("dismissing an unknown id: %v, want ErrConflictNotFound", err)
	}
}

func TestConflictDismissKeepsOutcome(t *testing.T) {
	ctx := testCtx(t)
	a, b, la, lb, rc := twoReplicas(t, ctx, LastWriterWins)
	if _, err := lb.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "b"}}}}); err != nil {
		t.Fatal(err)
	}
	clockOf(t).Advance()
	if _, err := la.DeleteOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B uploaded", func() (bool, string) {
		m := findOne(t, ctx, rc, 1)
		return m != nil && m["v"] == "b", fmt.Sprintf("%v", m)
	})
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// A's later delete wins; B's update is logged on A.
	sameContents(t, ctx, la, rc, 0)
	sameContents(t, ctx, lb, rc, 0)
	list, err := a.Conflicts(ctx, "c")
	if err != nil || len(list) != 1 || list[0].Kept != LocalSide || list[0].Local != nil || list[0].Remote == nil {
		t.Fatalf("conflicts = %+v, %v; want one kept-local delete", list, err)
	}
	if err := a.DismissConflict(ctx, list[0].ID); err != nil {
		t.Fatal(err)
	}
	if list, err := a.Conflicts(ctx, "c"); err != nil || len(list) != 0 {
		t.Fatalf("after dismiss: %v, %v", list, err)
	}
	sameContents(t, ctx, la, rc, 0)
}

// A conflict dismissed from OnConflict stays dismissed. (The upload logged a
// remote-won outcome's conflict in its local transaction, called OnConflict,
// then logged it again: the entry came back, and OnConflict ran twice.)
func TestConflictDismissedFromOnConflictStaysDismissed(t *testing.T) {
	ctx := testCtx(t)
	a, b, la, lb, rc := twoReplicas(t, ctx, LastWriterWins)
	var reported atomic.Int64
	var dismissErr atomic.Pointer[error]
	a.cfg.OnConflict = func(c Conflict) {
		reported.Add(1)
		if err := a.DismissConflict(ctx, c.ID); err != nil {
			dismissErr.Store(&err)
		}
	}
	aLosesToB(t, ctx, a, b, la, lb, rc)
	eventually(t, "A lost the conflict", func() (bool, string) {
		m := findOne(t, ctx, la, 1)
		return reported.Load() >= 1 && m != nil && m["v"] == "b", fmt.Sprintf("%v, %d reports", m, reported.Load())
	})
	if err := a.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if p := dismissErr.Load(); p != nil {
		t.Fatalf("DismissConflict from OnConflict: %v", *p)
	}
	if list, err := a.Conflicts(ctx, ""); err != nil || len(list) != 0 {
		t.Fatalf("dismissed from OnConflict, the log holds %v, %v", list, err)
	}
	if n := reported.Load(); n != 1 {
		t.Fatalf("OnConflict called %d times, want 1", n)
	}
}

// aLosesToB makes A and B (stopped, from twoReplicas) edit document 1, A
// first and B later, then starts B and, once B uploaded, A: A meets the
// conflict and loses it under last writer wins.
func aLosesToB(t *testing.T, ctx context.Context, a, b *Syncer, la, lb, rc *mongo.Collection) {
	t.Helper()
	if _, err := la.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "a"}}}}); err != nil {
		t.Fatal(err)
	}
	clockOf(t).Advance()
	if _, err := lb.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "b"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B uploaded", func() (bool, string) {
		m := findOne(t, ctx, rc, 1)
		return m != nil && m["v"] == "b", fmt.Sprintf("%v", m)
	})
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
}
