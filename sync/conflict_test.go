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

// twoReplicas syncs two local databases (devices A and B) with one remote
// and returns stopped syncers after doc {_id: 1, v: "base"} reached all
// three.
func twoReplicas(t *testing.T, ctx context.Context, policy ConflictPolicy, resolve ...func(context.Context, Conflict) (bson.Raw, error)) (a, b *Syncer, la, lb, rc *mongo.Collection) {
	t.Helper()
	remote := newDB(t, "remote")
	locA, locB := newDB(t, "a"), newDB(t, "b")
	var err error
	var res func(context.Context, Conflict) (bson.Raw, error)
	if len(resolve) > 0 {
		res = resolve[0]
	}
	a, err = New(withClock(t, Config{Local: locA, Remote: remote, Collections: []string{"c"}, ReplicaID: "A", Conflict: policy, Resolve: res}))
	if err != nil {
		t.Fatal(err)
	}
	b, err = New(withClock(t, Config{Local: locB, Remote: remote, Collections: []string{"c"}, ReplicaID: "B", Conflict: policy, Resolve: res}))
	if err != nil {
		t.Fatal(err)
	}
	la, lb, rc = locA.Collection("c"), locB.Collection("c"), remote.Collection("c")
	for _, s := range []*Syncer{a, b} {
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_ = a.Stop(context.Background())
		_ = b.Stop(context.Background())
	})
	// Bootstrap first: a bootstrap cut short by Stop runs again on the next
	// Start and reconciles, stamping local differences with the time of the
	// reconciliation, which would blur the edit times these tests compare.
	for _, s := range []*Syncer{a, b} {
		eventually(t, "bootstrapped", func() (bool, string) {
			st, err := s.Status(ctx)
			return err == nil && st.Collections[0].Bootstrapped, fmt.Sprintf("%+v %v", st, err)
		})
	}
	if _, err := la.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "base"}}); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, la, rc, 1)
	sameContents(t, ctx, lb, rc, 1)
	for _, s := range []*Syncer{a, b} {
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return a, b, la, lb, rc
}

func TestConflictLastWriterWins(t *testing.T) {
	// Every order of edits and reconnections: the later edit wins. (When A
	// edits last it also beats the replica-id tie-break, "A" < "B".)
	for _, tc := range []struct{ aLast, bFirst bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
		t.Run(fmt.Sprintf("A edits last=%v B reconnects first=%v", tc.aLast, tc.bFirst), func(t *testing.T) {
			ctx := testCtx(t)
			a, b, la, lb, rc := twoReplicas(t, ctx, LastWriterWins)
			firstEdit, lastEdit, want := la, lb, "b"
			if tc.aLast {
				firstEdit, lastEdit, want = lb, la, "a"
			}
			if _, err := firstEdit.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "early"}}}}); err != nil {
				t.Fatal(err)
			}
			clockOf(t).Advance()
			if _, err := lastEdit.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: want}}}}); err != nil {
				t.Fatal(err)
			}
			first, second := a, b
			if tc.bFirst {
				first, second = b, a
			}
			if err := first.Start(ctx); err != nil {
				t.Fatal(err)
			}
			eventually(t, "first replica uploaded", func() (bool, string) {
				st, _ := first.Status(ctx)
				return st.Collections[0].Uploaded == 1, fmt.Sprintf("%+v", st.Collections)
			})
			if err := second.Start(ctx); err != nil {
				t.Fatal(err)
			}
			for _, c := range []*mongo.Collection{la, lb, rc} {
				eventually(t, c.Database().Name()+" converged", func() (bool, string) {
					m := findOne(t, ctx, c, 1)
					return m != nil && m["v"] == want, fmt.Sprintf("%v", m)
				})
			}
			sameContents(t, ctx, la, rc, 1)
			sameContents(t, ctx, lb, rc, 1)
		})
	}
}

func TestConflictDeleteVsUpdate(t *testing.T) {
	ctx := testCtx(t)
	a, b, la, lb, rc := twoReplicas(t, ctx, LastWriterWins)
	// A deletes, then B updates later: the later update wins and the
	// document survives everywhere.
	if _, err := la.DeleteOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	clockOf(t).Advance()
	if _, err := lb.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "b"}}}}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Syncer{a, b} {
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sameContents(t, ctx, la, rc, 1)
	sameContents(t, ctx, lb, rc, 1)
	if m := findOne(t, ctx, rc, 1); m["v"] != "b" {
		t.Fatalf("remote = %v, want the later update", m)
	}
}

func TestConflictPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy ConflictPolicy
		want   string
	}{
		// A edits LAST, so last-writer-wins would pick A; the fixed
		// policies ignore time. B uploads first, then A meets the conflict.
		{RemoteWins, "b"},
		{LocalWins, "a"},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			ctx := testCtx(t)
			a, b, la, lb, rc := twoReplicas(t, ctx, tc.policy)
			if _, err := lb.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "b"}}}}); err != nil {
				t.Fatal(err)
			}
			clockOf(t).Advance()
			if _, err := la.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "a"}}}}); err != nil {
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
			for _, c := range []*mongo.Collection{la, lb, rc} {
				eventually(t, c.Database().Name()+" converged", func() (bool, string) {
					m := findOne(t, ctx, c, 1)
					return m != nil && m["v"] == tc.want, fmt.Sprintf("%v", m)
				})
			}
		})
	}
}

func TestConflictCustomResolve(t *testing.T) {
	ctx := testCtx(t)
	var calls atomic.Int64
	// Concurrent edits of different fields both survive.
	merge := func(_ context.Context, c Conflict) (bson.Raw, error) {
		calls.Add(1)
		if c.Local == nil || c.Remote == nil {
			return nil, errors.New("unexpected delete")
		}
		return bson.Marshal(bson.D{
			{Key: "_id", Value: c.DocumentID},
			{Key: "x", Value: c.Remote.Lookup("x")},
			{Key: "y", Value: c.Local.Lookup("y")},
		})
	}
	a, b, la, lb, rc := twoReplicas(t, ctx, Custom, merge)
	if _, err := la.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "y", Value: "from A"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := lb.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: "from B"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B uploaded", func() (bool, string) {
		m := findOne(t, ctx, rc, 1)
		return m != nil && m["x"] == "from B", fmt.Sprintf("%v", m)
	})
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*mongo.Collection{la, lb, rc} {
		eventually(t, c.Database().Name()+" merged", func() (bool, string) {
			m := findOne(t, ctx, c, 1)
			return m != nil && m["x"] == "from B" && m["y"] == "from A", fmt.Sprintf("%v", m)
		})
	}
	sameContents(t, ctx, la, rc, 1)
	sameContents(t, ctx, lb, rc, 1)
	if calls.Load() < 1 {
		t.Fatal("Resolve was not called")
	}
	if list, err := a.Conflicts(ctx, ""); err != nil || len(list) != 0 {
		t.Fatalf("a merged conflict was logged: %v, %v", list, err)
	}
}
