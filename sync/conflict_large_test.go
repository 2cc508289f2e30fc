package sync

import (
	"bytes"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Two concurrent edits too large for one conflict entry together: the entry
// keeps the losing edit only, the base keeps no copy, and the direction does
// not stall on a write over the size limit.
func TestConflictOfLargeDocuments(t *testing.T) {
	// Caps lowered so that the race detector stays fast; the !race build
	// also runs the real sizes (TestConflictOfLargeDocumentsRealSize).
	runLargeConflict(t, 100<<10, &sizeCaps{baseDoc: 64 << 10, loggedDocs: 128 << 10})
}

func runLargeConflict(t *testing.T, size int, caps *sizeCaps) {
	ctx := testCtx(t)
	e := newPairEnv(t, ctx, FieldMerge)
	if caps != nil {
		e.a.caps, e.b.caps = *caps, *caps
	}
	big := func(c byte) string { return string(bytes.Repeat([]byte{c}, size)) }
	if _, err := e.lb.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "blob", Value: big('b')}}}}); err != nil {
		t.Fatal(err)
	}
	clockOf(t).Advance()
	if _, err := e.la.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "blob", Value: big('a')}}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B uploaded", func() (bool, string) {
		m := findOne(t, ctx, e.rc, 1)
		return m != nil && m["blob"] != nil, "no blob on the remote"
	})
	if err := e.a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*mongo.Collection{e.la, e.lb, e.rc} {
		eventually(t, c.Database().Name()+" has A's later blob", func() (bool, string) {
			m := findOne(t, ctx, c, 1)
			s, _ := m["blob"].(string)
			return len(s) > 0 && s[0] == 'a', fmt.Sprintf("blob of %d bytes", len(s))
		})
	}
	if err := e.a.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := e.a.Conflicts(ctx, "c")
	if err != nil || len(list) != 1 {
		t.Fatalf("conflicts: %d, %v; want 1", len(list), err)
	}
	c := list[0]
	if c.Kept != LocalSide || !c.KeptOmitted || c.Local != nil || c.Remote == nil || c.Remote.Lookup("blob").StringValue()[0] != 'b' {
		t.Fatalf("conflict = kept %s omitted %v local %d bytes remote %d bytes", c.Kept, c.KeptOmitted, len(c.Local), len(c.Remote))
	}
	base, _, err := loadMeta(ctx, e.a.localDocs, "c", rawID(t, 1))
	if err != nil || base.Doc != nil || base.Pending != nil {
		t.Fatalf("base: doc %d bytes, pending %v, %v; want no copy of a document this large", len(base.Doc), base.Pending != nil, err)
	}
}
