package sync

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Two concurrent 9 MB edits do not fit one conflict entry (or one pending
// record) together: the entry keeps the losing edit only, and the
// direction does not stall on a write over the 16 MiB limit.
func TestConflictOfLargeDocuments(t *testing.T) {
	ctx := testCtx(t)
	e := newPairEnv(t, ctx, FieldMerge)
	big := func(c byte) string { return string(bytes.Repeat([]byte{c}, 9<<20)) }
	if _, err := e.lb.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "blob", Value: big('b')}}}}); err != nil {
		t.Fatal(err)
	}
	laterThan(time.Now())
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
	// The base keeps no copy of a document this large.
	base, _, err := loadMeta(ctx, e.a.localDocs, "c", rawID(t, 1))
	if err != nil || base.Doc != nil || base.Pending != nil {
		t.Fatalf("base: doc %d bytes, pending %v, %v", len(base.Doc), base.Pending != nil, err)
	}
}
