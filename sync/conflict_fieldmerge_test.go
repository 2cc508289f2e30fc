package sync

import (
	"context"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// concurrently makes edit on B, then (later) on A, with both syncers
// stopped, then lets B upload and A meet the conflict.
func (e *pairEnv) concurrently(t *testing.T, ctx context.Context, a, b *Syncer, onA, onB pairOp, bUploaded bson.Raw) {
	t.Helper()
	if err := onB(ctx, e.lb); err != nil {
		t.Fatal(err)
	}
	clockOf(t).Advance()
	if err := onA(ctx, e.la); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	docIs(t, ctx, e.rc, rawID(t, 1), bUploaded)
	if err := b.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
}

func (e *pairEnv) converged(t *testing.T, ctx context.Context, want bson.Raw, syncers ...*Syncer) {
	t.Helper()
	for _, c := range []*mongo.Collection{e.la, e.lb, e.rc} {
		docIs(t, ctx, c, rawID(t, 1), want)
	}
	for _, s := range syncers {
		if err := s.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// Documents last synced under another policy have no base document: the
// first concurrent edit under FieldMerge falls back to last-writer-wins
// (logged with ReasonNoBase); from then on the base is kept and edits merge.
func TestFieldMergeFallsBackWithoutBaseDocument(t *testing.T) {
	ctx := testCtx(t)
	e := newPairEnv(t, ctx, LastWriterWins)
	fm := func(s *Syncer) *Syncer {
		cfg := s.cfg
		cfg.Conflict = FieldMerge
		cfg.OnConflict = nil
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Stop(context.Background()) })
		return n
	}
	a, b := fm(e.a), fm(e.b)
	base, _, err := loadMeta(ctx, a.localDocs, "c", rawID(t, 1))
	if err != nil || base.Doc != nil {
		t.Fatalf("base under last-writer-wins = %+v, %v; want no document kept", base, err)
	}

	e.concurrently(t, ctx, a, b, opSet(1, bson.D{{Key: "a", Value: "A"}}), opSet(1, bson.D{{Key: "b", Value: "B"}}),
		mustRaw(t, withFields(bson.E{Key: "b", Value: "B"})))
	// A's edit is later: it wins whole, B's edit of b is lost and logged.
	e.converged(t, ctx, mustRaw(t, withFields(bson.E{Key: "a", Value: "A"})), a, b)
	list, err := a.Conflicts(ctx, "c")
	if err != nil || len(list) != 1 || list[0].Reason != ReasonNoBase || list[0].Kept != LocalSide || list[0].Policy != FieldMerge {
		t.Fatalf("conflicts = %+v, %v; want one no-base fallback kept local", list, err)
	}
	for _, s := range []*Syncer{a, b} {
		base, _, err := loadMeta(ctx, s.localDocs, "c", rawID(t, 1))
		if err != nil || base.Doc == nil || contentHash(base.Doc) != base.Hash {
			t.Fatalf("base of %s after a FieldMerge sync = %+v, %v; want the document kept", s.replica, base, err)
		}
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// Now the base document is kept on both devices: edits merge.
	e.concurrently(t, ctx, a, b, opSet(1, bson.D{{Key: "n.x", Value: 9}}), opSet(1, bson.D{{Key: "b", Value: "B2"}}),
		mustRaw(t, withFields(bson.E{Key: "a", Value: "A"}, bson.E{Key: "b", Value: "B2"})))
	e.converged(t, ctx, mustRaw(t, withFields(bson.E{Key: "a", Value: "A"}, bson.E{Key: "b", Value: "B2"},
		bson.E{Key: "n", Value: bson.D{{Key: "x", Value: 9}, {Key: "y", Value: 1}}})), a, b)
	if list, err := a.Conflicts(ctx, "c"); err != nil || len(list) != 1 {
		t.Fatalf("conflicts = %+v, %v; want only the earlier entry", list, err)
	}
}

// Retrying a field conflict gives the clashing fields the losing values and
// keeps everything that was merged.
func TestFieldMergeRetryConflict(t *testing.T) {
	ctx := testCtx(t)
	e := newPairEnv(t, ctx, FieldMerge)
	// B's later edit wins the clash on a; A's edit of b merges.
	if err := opSet(1, bson.D{{Key: "a", Value: "A"}, {Key: "b", Value: "A"}})(ctx, e.la); err != nil {
		t.Fatal(err)
	}
	clockOf(t).Advance()
	if err := opSet(1, bson.D{{Key: "a", Value: "B"}})(ctx, e.lb); err != nil {
		t.Fatal(err)
	}
	if err := e.b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	docIs(t, ctx, e.rc, rawID(t, 1), mustRaw(t, withFields(bson.E{Key: "a", Value: "B"})))
	if err := e.a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.converged(t, ctx, mustRaw(t, withFields(bson.E{Key: "a", Value: "B"}, bson.E{Key: "b", Value: "A"})), e.a, e.b)
	list, err := e.a.Conflicts(ctx, "c")
	if err != nil || len(list) != 1 || !slices.Equal(list[0].Fields, []string{"a"}) || list[0].Kept != RemoteSide {
		t.Fatalf("conflicts = %+v, %v", list, err)
	}
	// B edits another field meanwhile; the retry keeps it.
	if err := opSet(1, bson.D{{Key: "n.y", Value: 5}})(ctx, e.lb); err != nil {
		t.Fatal(err)
	}
	want := mustRaw(t, withFields(bson.E{Key: "a", Value: "B"}, bson.E{Key: "b", Value: "A"}, bson.E{Key: "n", Value: bson.D{{Key: "x", Value: 1}, {Key: "y", Value: 5}}}))
	e.converged(t, ctx, want, e.b, e.a)
	if err := e.a.RetryConflict(ctx, list[0].ID); err != nil {
		t.Fatal(err)
	}
	e.converged(t, ctx, mustRaw(t, withFields(bson.E{Key: "a", Value: "A"}, bson.E{Key: "b", Value: "A"}, bson.E{Key: "n", Value: bson.D{{Key: "x", Value: 1}, {Key: "y", Value: 5}}})), e.a, e.b)
	if list, err := e.a.Conflicts(ctx, ""); err != nil || len(list) != 0 {
		t.Fatalf("after retry: %+v, %v", list, err)
	}
}
