package gateway

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestPullOrder: a pull returns the caller's changes in commit order, pages
// by limit, and continues from its cursor without repeats or gaps.
func TestPullOrder(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.tok("alice")
	start := e.pull(alice, "collections=notes")
	if len(start.Changes) != 0 || start.Cursor == "" {
		t.Fatalf("first pull without since: %+v, want no changes and a cursor", start)
	}
	for i := range 10 {
		e.insert("notes", bson.D{{Key: "_id", Value: i}, {Key: "owner", Value: "alice"}, {Key: "n", Value: i}})
		e.insert("notes", bson.D{{Key: "_id", Value: 100 + i}, {Key: "owner", Value: "bob"}})
	}
	var got []float64
	cur := start.Cursor
	for pages := 0; len(got) < 10; pages++ {
		if pages > 50 {
			t.Fatalf("no 10 changes after 50 pages, got %v", got)
		}
		p := e.pull(alice, "collections=notes&limit=3&since="+cur)
		for _, c := range p.Changes {
			if c.Op != "insert" || c.Doc["owner"] != "alice" {
				t.Fatalf("change %+v: want alice's inserts only", c)
			}
			got = append(got, c.Doc["n"].(float64))
		}
		cur = p.Cursor
	}
	for i, n := range got {
		if n != float64(i) {
			t.Fatalf("changes out of order: %v", got)
		}
	}
	if p := e.pull(alice, "collections=notes&since="+cur); len(p.Changes) != 0 {
		t.Fatalf("after the last change: %d more", len(p.Changes))
	}
}

// TestPullCacheHeaders: a full page is cacheable with an ETag (and
// revalidates to 304); a page at the live edge is no-store.
func TestPullCacheHeaders(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.tok("alice")
	cur := e.pull(alice, "collections=notes").Cursor
	for i := range 3 {
		e.insert("notes", bson.D{{Key: "_id", Value: i}, {Key: "owner", Value: "alice"}})
	}
	q := "/v1/changes?collections=notes&limit=2&since=" + cur
	var r reply
	waitFor(t, "a full page", func() bool { r = e.do("GET", q, alice, ""); return r.status == 200 && r.json(t)["more"] == true })
	if cc := r.header.Get("Cache-Control"); cc != "public, max-age=3600" || r.header.Get("ETag") == "" {
		t.Fatalf("full page: Cache-Control %q ETag %q", cc, r.header.Get("ETag"))
	}
	r2 := doReq(t, e.srv.URL, "GET", q, alice, "", http.Header{"If-None-Match": {r.header.Get("ETag")}})
	if r2.status != http.StatusNotModified {
		t.Fatalf("revalidation: %d, want 304", r2.status)
	}
	r3 := e.do("GET", "/v1/changes?collections=notes&limit=10&since="+cur, alice, "")
	if cc := r3.header.Get("Cache-Control"); cc != "no-store" || r3.header.Get("ETag") != "" {
		t.Fatalf("live edge: Cache-Control %q ETag %q", cc, r3.header.Get("ETag"))
	}
}

// TestPullOlderThanRing: a cursor older than the in-memory ring is served
// from a change stream opened for the request, in order, and the client
// then continues from the ring.
func TestPullOlderThanRing(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RingSize = 4 })
	alice := e.tok("alice")
	cur := e.pull(alice, "collections=notes").Cursor
	for i := range 30 {
		e.insert("notes", bson.D{{Key: "_id", Value: i}, {Key: "owner", Value: "alice"}, {Key: "n", Value: i}})
	}
	waitFor(t, "the ring to evict", func() bool { return e.gw.Stats().Collections["notes"].Evicted > 0 })
	var got []float64
	for pages := 0; len(got) < 30; pages++ {
		if pages > 60 {
			t.Fatalf("30 changes not pulled after 60 pages: %v", got)
		}
		p := e.pull(alice, "collections=notes&limit=8&since="+cur)
		for _, c := range p.Changes {
			got = append(got, c.Doc["n"].(float64))
		}
		cur = p.Cursor
	}
	for i, n := range got {
		if n != float64(i) {
			t.Fatalf("changes out of order or repeated: %v", got)
		}
	}
	if h := e.gw.Stats().Collections["notes"].HistoryReads; h == 0 {
		t.Fatal("no request was served from the database's history: the test did not test it")
	}
}

// TestPullTwoCollections: one cursor covers several collections; once both
// streams have read their changes, a page holds them in commit order.
// (Order is guaranteed per collection; across collections a page is
// ordered by cluster time among the changes it holds.)
func TestPullTwoCollections(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.tok("alice")
	cur := e.pull(alice, "collections=notes,board").Cursor
	e.insert("notes", bson.D{{Key: "_id", Value: 1}, {Key: "owner", Value: "alice"}})
	e.insert("board", bson.D{{Key: "_id", Value: 2}})
	e.insert("notes", bson.D{{Key: "_id", Value: 3}, {Key: "owner", Value: "alice"}})
	waitFor(t, "both streams to read the changes", func() bool {
		s := e.gw.Stats()
		return s.Collections["notes"].Appended == 2 && s.Collections["board"].Appended == 1
	})
	var got []string
	for _, c := range e.pull(alice, "collections=notes,board&since="+cur).Changes {
		got = append(got, c.Collection+":"+string(c.ID))
	}
	if want := []string{"notes:1", "board:2", "notes:3"}; !slices.Equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
}

// TestOwnerChangeIsDelete: a document handed from alice to bob is a delete
// for alice and an update for bob; a delete reaches its owner (through the
// pre-image) and nobody else. Alice's delete must come even when the
// document is gone by the time the update's post-image is looked up.
func TestOwnerChangeIsDelete(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.tok("alice"), e.tok("bob")
	ca, cb := e.pull(alice, "collections=notes").Cursor, e.pull(bob, "collections=notes").Cursor
	e.insert("notes", bson.D{{Key: "_id", Value: "n"}, {Key: "owner", Value: "alice"}})
	coll := e.db.Collection("notes")
	ctx := context.Background()
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "n"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "owner", Value: "bob"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: "n"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three changes in the ring", func() bool { return e.gw.Stats().Collections["notes"].Appended == 3 })
	ops := func(p page) (out []string) {
		for _, c := range p.Changes {
			out = append(out, c.Op)
			if c.Doc != nil && c.Op == "delete" {
				t.Fatalf("a delete carries a document: %+v", c)
			}
		}
		return out
	}
	if got := ops(e.pull(alice, "collections=notes&since="+ca)); !slices.Equal(got, []string{"insert", "delete"}) {
		t.Fatalf("alice sees %v, want insert, delete (the document left her scope)", got)
	}
	// The update's document is looked up when the stream reads it: if the
	// delete came first, bob never saw it as his, only its delete.
	if got := ops(e.pull(bob, "collections=notes&since="+cb)); !slices.Equal(got, []string{"update", "delete"}) && !slices.Equal(got, []string{"delete"}) {
		t.Fatalf("bob sees %v, want update, delete (or the delete alone)", got)
	}
	if u := e.gw.Stats().Collections["notes"].UnattributedDeletes; u != 0 {
		t.Fatalf("%d unattributed deletes with pre-images on", u)
	}
}

// TestDeleteWithoutPreImageHidden: without pre-images a delete cannot be
// attributed: owner-scoped clients do not get it, it is counted, and the
// shared collection still delivers it.
func TestDeleteWithoutPreImageHidden(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SkipPreImages = true })
	alice := e.tok("alice")
	cur := e.pull(alice, "collections=notes,board").Cursor
	e.insert("notes", bson.D{{Key: "_id", Value: "n"}, {Key: "owner", Value: "alice"}})
	e.insert("board", bson.D{{Key: "_id", Value: "b"}})
	ctx := context.Background()
	for _, c := range []string{"notes", "board"} {
		if _, err := e.db.Collection(c).DeleteMany(ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "both deletes in the rings", func() bool {
		s := e.gw.Stats()
		return s.Collections["notes"].Appended == 2 && s.Collections["board"].Appended == 2
	})
	var got []string
	for _, c := range e.pull(alice, "collections=notes,board&since="+cur).Changes {
		got = append(got, c.Collection+":"+c.Op)
	}
	if want := []string{"notes:insert", "board:insert", "board:delete"}; !slices.Equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	if u := e.gw.Stats().Collections["notes"].UnattributedDeletes; u != 1 {
		t.Fatalf("unattributed deletes %d, want 1", u)
	}
}

// TestPullTwoCollectionsSmallPages: pages smaller than what both
// collections hold cut one collection's changes; the cursor keeps the cut
// ones, so every change arrives exactly once.
func TestPullTwoCollectionsSmallPages(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.tok("alice")
	cur := e.pull(alice, "collections=notes,board").Cursor
	for i := range 5 {
		e.insert("notes", bson.D{{Key: "_id", Value: i}, {Key: "owner", Value: "alice"}})
		e.insert("notes", bson.D{{Key: "_id", Value: 100 + i}, {Key: "owner", Value: "bob"}})
		e.insert("board", bson.D{{Key: "_id", Value: 10 + i}})
	}
	waitFor(t, "the streams to read the changes", func() bool {
		s := e.gw.Stats()
		return s.Collections["notes"].Appended == 10 && s.Collections["board"].Appended == 5
	})
	seen := map[string]int{}
	for range 20 {
		p := e.pull(alice, "collections=notes,board&limit=2&since="+cur)
		for _, c := range p.Changes {
			seen[c.Collection+":"+string(c.ID)]++
		}
		cur = p.Cursor
		if len(p.Changes) == 0 {
			break
		}
	}
	if len(seen) != 10 {
		t.Fatalf("got %d distinct changes, want 10: %v", len(seen), seen)
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("change %s arrived %d times", k, n)
		}
	}
}
