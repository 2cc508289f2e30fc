package gateway

import (
	"net/http"
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
