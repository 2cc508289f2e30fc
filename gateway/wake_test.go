package gateway

import (
	"context"
	"fmt"
	"testing"

	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func fakeEvent(t *testing.T, i int, op listen.OperationType, after, before bson.D) *listen.ChangeEvent[bson.Raw] {
	t.Helper()
	raw := func(d bson.D) *bson.Raw {
		if d == nil {
			return nil
		}
		b, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		r := bson.Raw(b)
		return &r
	}
	return &listen.ChangeEvent[bson.Raw]{
		ID: *raw(bson.D{{Key: "_data", Value: i}}), OperationType: op,
		ClusterTime: bson.Timestamp{T: 1, I: uint32(i)}, DocumentKey: *raw(bson.D{{Key: "_id", Value: i}}),
		FullDocument: raw(after), FullDocumentBeforeChange: raw(before),
	}
}

// TestChangeWakesItsOwnersOnly: a change of an owner-scoped collection
// wakes the live requests of the owners it concerns (after and before the
// change), not the others; a change of a shared collection and a ring
// eviction wake everyone.
func TestChangeWakesItsOwnersOnly(t *testing.T) {
	w := newOwnerWake()
	f := newFeed("notes", Rule{OwnerField: "owner", ReadRoles: []string{"*"}}, nil, 8)
	f.owners = w
	ctx := context.Background()
	alice, bob, carol := w.wait("alice"), w.wait("bob"), w.wait("carol")

	_ = f.handle(ctx, "", fakeEvent(t, 1, listen.Insert, bson.D{{Key: "_id", Value: 1}, {Key: "owner", Value: "bob"}}, nil))
	if closed(alice) || !closed(bob) || closed(carol) {
		t.Fatalf("bob's insert: alice woken %v, bob %v, carol %v; want bob only", closed(alice), closed(bob), closed(carol))
	}
	// Handed from alice to carol: both see it (carol an update, alice a delete).
	bob = w.wait("bob")
	_ = f.handle(ctx, "", fakeEvent(t, 2, listen.Update, bson.D{{Key: "_id", Value: 2}, {Key: "owner", Value: "carol"}},
		bson.D{{Key: "_id", Value: 2}, {Key: "owner", Value: "alice"}}))
	if !closed(alice) || closed(bob) || !closed(carol) {
		t.Fatalf("alice->carol: alice woken %v, bob %v, carol %v; want alice and carol", closed(alice), closed(bob), closed(carol))
	}
	if s, ok := f.scope(f.ring[1], "alice"); !ok || s.op != listen.Delete {
		t.Fatalf("alice's view of the handover: %+v %v, want a delete", s, ok)
	}
	alice = w.wait("alice")
	_ = f.handle(ctx, "", fakeEvent(t, 3, listen.Delete, nil, bson.D{{Key: "_id", Value: 3}, {Key: "owner", Value: "alice"}}))
	if !closed(alice) || closed(bob) {
		t.Fatal("alice's delete (known by its pre-image) did not wake alice alone")
	}
	// Filling the ring past its size evicts: everyone wakes to move on.
	alice = w.wait("alice")
	for i := 4; !closed(bob); i++ {
		if i > 20 {
			t.Fatal("no eviction woke bob")
		}
		_ = f.handle(ctx, "", fakeEvent(t, i, listen.Insert, bson.D{{Key: "_id", Value: i}, {Key: "owner", Value: "carol"}}, nil))
	}
	if !closed(alice) || f.evicted.Load() == 0 {
		t.Fatalf("eviction: alice woken %v, evicted %d", closed(alice), f.evicted.Load())
	}

	shared := newFeed("board", Rule{Shared: true, ReadRoles: []string{"*"}}, nil, 8)
	shared.owners = w
	alice, bob = w.wait("alice"), w.wait("bob")
	_ = shared.handle(ctx, "", fakeEvent(t, 1, listen.Insert, bson.D{{Key: "_id", Value: 1}}, nil))
	if !closed(alice) || !closed(bob) {
		t.Fatal("a shared collection's change did not wake everyone")
	}
	bob = w.wait("bob")
	shared.setState("stopped", nil)
	if !closed(bob) {
		t.Fatal("a feed's state change did not wake the waiting requests")
	}
}

// TestOwnerWakeIsBounded: channels of owners that stopped waiting do not
// pile up: at the bound every waiting request is woken and the map starts
// again.
func TestOwnerWakeIsBounded(t *testing.T) {
	w := newOwnerWake()
	first := w.wait("owner-0")
	for i := 1; i < ownerWakePruneAt; i++ {
		w.wait(fmt.Sprint("owner-", i))
	}
	if closed(first) || len(w.m) != ownerWakePruneAt {
		t.Fatalf("below the bound: first woken %v, %d channels", closed(first), len(w.m))
	}
	w.wait("one-more")
	if !closed(first) || len(w.m) != 1 {
		t.Fatalf("at the bound: first woken %v, %d channels, want woken and 1", closed(first), len(w.m))
	}
}
