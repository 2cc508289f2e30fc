package sync

import (
	"errors"
	"fmt"
	gosync "sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

type errorLog struct {
	mu   gosync.Mutex
	errs []error
}

func (l *errorLog) add(err error) { l.mu.Lock(); l.errs = append(l.errs, err); l.mu.Unlock() }

func (l *errorLog) len() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.errs) }

func (l *errorLog) count(target error) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, err := range l.errs {
		if errors.Is(err, target) {
			n++
		}
	}
	return n
}

func TestOwnerFieldBothDirections(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	lc, rc := local.Collection("c"), remote.Collection("c")
	if _, err := rc.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: "a1"}, {Key: "owner", Value: "alice"}},
		bson.D{{Key: "_id", Value: "b1"}, {Key: "owner", Value: "bob"}},
		bson.D{{Key: "_id", Value: "shared"}, {Key: "owner", Value: "bob"}},
	}); err != nil {
		t.Fatal(err)
	}
	var errs errorLog
	s := startSyncer(t, ctx, Config{Local: local, Remote: remote, Collections: []string{"c"},
		Owner: &Owner{Field: "owner", Value: "alice"}, OnError: errs.add})
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, ctx, lc); len(got) != 1 || got[`"a1"`] == "" {
		t.Fatalf("local after bootstrap holds %d documents, want only alice's a1", len(got))
	}
	// Bob's documents written locally are refused, alice's upload; a bob
	// document on the remote is neither copied nor overwritten.
	if _, err := lc.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: "a2"}, {Key: "owner", Value: "alice"}},
		bson.D{{Key: "_id", Value: "b2"}, {Key: "owner", Value: "bob"}},
		bson.D{{Key: "_id", Value: "shared"}, {Key: "owner", Value: "alice"}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: "b3"}, {Key: "owner", Value: "bob"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if findOne(t, ctx, rc, "a2") == nil {
		t.Fatal("alice's a2 was not uploaded")
	}
	if findOne(t, ctx, rc, "b2") != nil {
		t.Fatal("bob's b2 was uploaded by alice's replica")
	}
	if m := findOne(t, ctx, rc, "shared"); m["owner"] != "bob" {
		t.Fatalf("remote shared = %v, bob's document was overwritten", m)
	}
	if findOne(t, ctx, lc, "b3") != nil {
		t.Fatal("bob's b3 was copied to alice's replica")
	}
	if n := errs.count(ErrNotOwned); n != 2 {
		t.Fatalf("%d ErrNotOwned reports, want 2 (b2 and shared)", n)
	}
}

func TestOwnerFuncFailsClosed(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	lc, rc := local.Collection("c"), remote.Collection("c")
	boom := errors.New("tenant lookup down")
	var errs errorLog
	startSyncer(t, ctx, Config{Local: local, Remote: remote, Collections: []string{"c"}, Backoff: fastBackoff,
		OnError: errs.add,
		Owner: &Owner{Func: func(doc bson.Raw) (bool, error) {
			if doc.Lookup("bad").Type != 0 {
				return false, boom
			}
			return true, nil
		}}})
	if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "bad", Value: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the failing owner func reported repeatedly", func() (bool, string) {
		n := errs.count(boom)
		return n >= 3, fmt.Sprintf("%d reports", n)
	})
	// Fail closed: neither the failing document nor anything after it was
	// synced, and nothing was skipped: fixing the document unblocks both.
	if n, err := rc.CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
		t.Fatalf("remote holds %d documents (%v) while the owner func fails, want 0", n, err)
	}
	if _, err := lc.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$unset", Value: bson.D{{Key: "bad", Value: ""}}}}); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, lc, rc, 2)
}
