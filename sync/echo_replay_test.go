package sync

import (
	"context"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// After a restart, B's upload stream replays the echo of a write B applied
// (its checkpoint was behind it) while the document has since been edited on
// B. The replayed echo must not be taken for the edit: stamped with the echo's
// older time, B's later edit would lose to A's earlier one.
func TestReplayedEchoDoesNotBackdateALaterEdit(t *testing.T) {
	ctx := testCtx(t)
	remote := newDB(t, "remote")
	locA, locB := newDB(t, "a"), newDB(t, "b")
	la, lb, rc := locA.Collection("c"), locB.Collection("c"), remote.Collection("c")
	a, err := New(withClock(t, Config{Local: locA, Remote: remote, Collections: []string{"c"}, ReplicaID: "A"}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(withClock(t, Config{Local: locB, Remote: remote, Collections: []string{"c"}, ReplicaID: "B"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = a.Stop(context.Background())
		_ = b.Stop(context.Background())
	})
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// B's upload resume point from before anything was written on B.
	early, err := b.store.Load(ctx, uploadKey("c"))
	if err != nil || early == nil {
		t.Fatalf("upload checkpoint of B: %v, %v", early, err)
	}
	if _, err := la.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "base"}}); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, lb, rc, 1)
	sameContents(t, ctx, la, rc, 1)
	for _, s := range []*Syncer{a, b} {
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// B's upload stream will replay the echo of its download of "base".
	if err := b.store.Save(ctx, uploadKey("c"), early); err != nil {
		t.Fatal(err)
	}
	if _, err := la.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "a"}}}}); err != nil {
		t.Fatal(err)
	}
	clockOf(t).Advance()
	if _, err := lb.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "b"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A uploaded", func() (bool, string) {
		m := findOne(t, ctx, rc, 1)
		return m != nil && m["v"] == "a", fmt.Sprintf("%v", m)
	})
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*mongo.Collection{la, lb, rc} {
		eventually(t, c.Database().Name()+" has B's later edit", func() (bool, string) {
			m := findOne(t, ctx, c, 1)
			return m != nil && m["v"] == "b", fmt.Sprintf("%v", m)
		})
	}
}
