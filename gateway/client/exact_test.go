package client_test

import (
	"bytes"
	"context"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/gateway"
	"github.com/mongotide/mongotide/gateway/client"
	mtsync "github.com/mongotide/mongotide/sync"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// storedDoc is the server's document of _id id in notes.
func storedDoc(t *testing.T, s *server, id any) bson.Raw {
	t.Helper()
	raw, err := s.db.Collection("notes").FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// versionEntry is sync's version of a document on the server.
func versionEntry(t *testing.T, s *server, id any) client.VersionStamp {
	t.Helper()
	var v struct {
		HLC     int64  `bson:"h"`
		Replica string `bson:"r"`
	}
	err := s.db.Collection("_mongotide_sync_versions").FindOne(context.Background(),
		bson.D{{Key: "_id", Value: bson.D{{Key: "c", Value: "notes"}, {Key: "id", Value: id}}}}).Decode(&v)
	if err != nil {
		t.Fatal(err)
	}
	return client.VersionStamp{HLC: v.HLC, Replica: v.Replica}
}

// TestPushAndReadKeepTypes: a pushed document with int64 values that fit
// in 32 bits (and an int64 _id) is stored with them, and the accepted
// Version is sync's content hash of the stored document; Get, Query, a
// snapshot and a pulled change give back that exact document (int64 stays
// int64) with the same version.
func TestPushAndReadKeepTypes(t *testing.T) {
	s := newServer(t, nil)
	c := s.client(t, token(t, "alice"), nil)
	ctx := t.Context()
	start, err := c.Changes(ctx, []string{"notes"}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	id := int64(5)
	doc := bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: "alice"}, {Key: "n", Value: int64(5)},
		{Key: "i", Value: int32(5)}, {Key: "f", Value: 1.0}, {Key: "nested", Value: bson.D{{Key: "m", Value: int64(-1)}}}}
	res, err := c.Push(ctx, []client.Operation{{Collection: "notes", Op: client.OpInsert, ID: id, Doc: doc}})
	requirePush(t, err)
	stored := storedDoc(t, s, id)
	want, _ := bson.Marshal(doc)
	if !bytes.Equal(stored, want) {
		t.Fatalf("stored %s, pushed %s", stored, bson.Raw(want))
	}
	if res[0].Status != client.Accepted || res[0].Version != mtsync.ContentHash(stored) {
		t.Fatalf("push %+v, want accepted with version %s", res[0], mtsync.ContentHash(stored))
	}
	check := func(what string, d client.Document) {
		t.Helper()
		if !bytes.Equal(d.Doc, stored) || d.Version != res[0].Version {
			t.Fatalf("%s: %s version %q, stored %s version %q", what, d.Doc, d.Version, stored, res[0].Version)
		}
	}
	got, err := c.Get(ctx, "notes", id)
	if err != nil {
		t.Fatal(err)
	}
	check("Get", got)
	if got.Doc.Lookup("n").Type != bson.TypeInt64 {
		t.Fatalf("Get: n is %s", got.Doc.Lookup("n").Type)
	}
	docs, err := c.Query(ctx, "notes", client.Query{Filter: bson.D{{Key: "n", Value: int64(5)}}})
	if err != nil || len(docs) != 1 {
		t.Fatalf("Query: %v %v", docs, err)
	}
	check("Query", docs[0])
	var snap []client.Document
	if _, err := c.Snapshot(ctx, "notes", 0, func(d []client.Document) error { snap = append(snap, d...); return nil }); err != nil || len(snap) != 1 {
		t.Fatalf("Snapshot: %v %v", snap, err)
	}
	check("Snapshot", snap[0])
	var ch []client.Change
	waitFor(t, "the insert pulled", func() bool {
		p, err := c.Changes(ctx, []string{"notes"}, start.Cursor, 0)
		if err != nil {
			t.Fatal(err)
		}
		ch = p.Changes
		return len(ch) > 0
	})
	if ch[0].ID.Type != bson.TypeInt64 {
		t.Fatalf("pulled id %s", ch[0].ID)
	}
	check("Changes", client.Document{Doc: ch[0].Doc, Version: ch[0].Version})
}

// TestPushConflictDetail: a push that overwrote a concurrent edit under
// last-writer-wins decodes the gateway's conflict: the kept side, the
// policy, both edits (local: the pushed one) and both versions (hlc beyond
// 2^53, exact); a replay carries the same; a push without a concurrent
// edit carries none.
func TestPushConflictDetail(t *testing.T) {
	s := newServer(t, nil)
	c := s.client(t, token(t, "alice"), nil)
	ctx := t.Context()
	push := func(op client.Operation) client.Result {
		t.Helper()
		res, err := c.Push(ctx, []client.Operation{op})
		requirePush(t, err)
		return res[0]
	}
	seed := push(client.Operation{Collection: "notes", Op: client.OpInsert, ID: "d", Doc: bson.D{{Key: "text", Value: "base"}}})
	if seed.Status != client.Accepted || seed.Conflict != nil {
		t.Fatalf("seed: %+v", seed)
	}
	b := push(client.Operation{Collection: "notes", Op: client.OpReplace, ID: "d", Base: seed.Version, Doc: bson.D{{Key: "text", Value: "B"}}})
	if b.Status != client.Accepted || b.Conflict != nil {
		t.Fatalf("B: %+v", b)
	}
	met, metVersion := storedDoc(t, s, "d"), versionEntry(t, s, "d")
	ops := []client.Operation{{Collection: "notes", Op: client.OpReplace, ID: "d", Base: seed.Version, Doc: bson.D{{Key: "text", Value: "A"}, {Key: "n", Value: int64(1)}}}}
	res, err := c.Push(ctx, ops)
	requirePush(t, err)
	a := res[0]
	cd := a.Conflict
	if a.Status != client.Conflict || a.Outcome != "conflict-uploaded" || cd == nil {
		t.Fatalf("A: %+v", a)
	}
	stored, after := storedDoc(t, s, "d"), versionEntry(t, s, "d")
	if cd.Kept != "local" || cd.Policy != "last-writer-wins" || cd.Reason != "" || len(cd.Fields) != 0 || cd.KeptOmitted {
		t.Fatalf("conflict %+v", cd)
	}
	if !bytes.Equal(cd.Local, stored) || !bytes.Equal(cd.Remote, met) {
		t.Fatalf("conflict local %s remote %s; stored %s, met %s", cd.Local, cd.Remote, stored, met)
	}
	if cd.RemoteVersion != metVersion || cd.LocalVersion != after || cd.LocalVersion.HLC < 1<<53 {
		t.Fatalf("conflict versions local %+v remote %+v; entries after %+v, met %+v", cd.LocalVersion, cd.RemoteVersion, after, metVersion)
	}
	again, err := c.Push(ctx, ops)
	requirePush(t, err)
	if !again[0].Replayed || !reflect.DeepEqual(again[0].Conflict, cd) {
		t.Fatalf("replay %+v, first %+v", again[0].Conflict, cd)
	}
}

// offsetClock is time.Now moved by an offset.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time        { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) Set(off time.Duration) { c.off.Store(int64(off)) }

// TestPushAtOrdersEdits: Operation.At is the time of the edit's version,
// so under last-writer-wins an edit made earlier but pushed later loses to
// the concurrent one, and one made later wins. The document is seeded
// while the gateway's clock is three hours back, so that both edits' times
// are after their base's (a version is never before its base's).
func TestPushAtOrdersEdits(t *testing.T) {
	clk := &offsetClock{}
	clk.Set(-3 * time.Hour)
	s := newServer(t, func(c *gateway.Config) { c.Clock = clk.Now })
	c := s.client(t, token(t, "alice"), nil)
	ctx := t.Context()
	var bases []string
	for _, id := range []string{"early", "late"} {
		res, err := c.Push(ctx, []client.Operation{{Collection: "notes", Op: client.OpInsert, ID: id, Doc: bson.D{{Key: "text", Value: "base"}}}})
		requirePush(t, err)
		bases = append(bases, res[0].Version)
	}
	clk.Set(0)
	now := time.Now()
	for i, tc := range []struct {
		id      string
		aAt     time.Time
		outcome string
		text    string
	}{
		{"early", now.Add(-2 * time.Hour), "remote-won", "B"},
		{"late", now.Add(-30 * time.Minute), "conflict-uploaded", "A"},
	} {
		bAt := now.Add(-time.Hour)
		b, err := c.Push(ctx, []client.Operation{{Collection: "notes", Op: client.OpReplace, ID: tc.id, Base: bases[i], At: bAt, Doc: bson.D{{Key: "text", Value: "B"}}}})
		requirePush(t, err)
		if b[0].Status != client.Accepted {
			t.Fatalf("%s: B %+v", tc.id, b[0])
		}
		if v := versionEntry(t, s, tc.id); v.HLC>>16 != bAt.UnixMilli() {
			t.Fatalf("%s: B's version %d is not at its At %v", tc.id, v.HLC, bAt)
		}
		a, err := c.Push(ctx, []client.Operation{{Collection: "notes", Op: client.OpReplace, ID: tc.id, Base: bases[i], At: tc.aAt, Doc: bson.D{{Key: "text", Value: "A"}}}})
		requirePush(t, err)
		if a[0].Status != client.Conflict || a[0].Outcome != tc.outcome {
			t.Fatalf("%s: A made at %v after B at %v: %+v, want %s", tc.id, tc.aAt, bAt, a[0], tc.outcome)
		}
		if got := storedDoc(t, s, tc.id).Lookup("text").StringValue(); got != tc.text {
			t.Fatalf("%s: stored text %q, want %q", tc.id, got, tc.text)
		}
		if cd := a[0].Conflict; cd == nil || cd.LocalVersion.HLC>>16 != tc.aAt.UnixMilli() {
			t.Fatalf("%s: conflict %+v, want A's version at %v", tc.id, cd, tc.aAt)
		}
	}
}
