package gateway

import (
	"bytes"
	"math"
	"net/http"
	"net/url"
	"testing"

	mtsync "github.com/mongotide/mongotide/sync"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// everyType is a document of alice's holding every BSON type extended JSON
// can carry, including the values relaxed JSON changes the type of (an
// int64 that fits in 32 bits, a double with an integral value, -0.0).
func everyType(t testing.TB, id any) bson.D {
	t.Helper()
	dec, err := bson.ParseDecimal128("1.50")
	if err != nil {
		t.Fatal(err)
	}
	return bson.D{
		{Key: "_id", Value: id},
		{Key: "owner", Value: "alice"},
		{Key: "i32", Value: int32(5)},
		{Key: "i64", Value: int64(5)},
		{Key: "i64neg", Value: int64(-7)},
		{Key: "i64big", Value: int64(1) << 60},
		{Key: "double", Value: 2.5},
		{Key: "one", Value: 1.0},
		{Key: "negzero", Value: math.Copysign(0, -1)},
		{Key: "dec", Value: dec},
		{Key: "date", Value: bson.DateTime(1700000000123)},
		{Key: "oid", Value: bson.ObjectID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{Key: "bin", Value: bson.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}},
		{Key: "re", Value: bson.Regex{Pattern: "a.*b", Options: "i"}},
		{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: 7}},
		{Key: "nested", Value: bson.D{{Key: "a", Value: bson.A{int64(1), int32(2), 3.0, nil, bson.D{{Key: "x", Value: int64(9)}}}}}},
		{Key: "null", Value: nil},
		{Key: "bool", Value: true},
		{Key: "str", Value: "x\u00e9"},
		{Key: "min", Value: bson.MinKey{}},
		{Key: "max", Value: bson.MaxKey{}},
	}
}

// canonical decodes b as canonical extended JSON only: an answer in
// relaxed form fails here.
func canonical(t testing.TB, b []byte) bson.Raw {
	t.Helper()
	var raw bson.Raw
	if err := bson.UnmarshalExtJSON(b, true, &raw); err != nil {
		t.Fatalf("not canonical extended JSON: %v\n%s", err, b)
	}
	return raw
}

// TestCanonicalJSONKeepsEveryType: with json=canonical, a document comes
// back byte for byte as the server stores it, so with the server's version
// (content hash), through pulled changes (page, long poll, SSE), snapshot
// pages (and their next, sent back as after), a document read and a query;
// and canonical input (a push's id, doc and set, a query's filter, an id
// in a URL) is stored and matched with its types. Without json the answer
// is relaxed, as before, and an int64 read from it comes back an int32.
func TestCanonicalJSONKeepsEveryType(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.tok("alice")
	cur := e.pull(alice, "collections=notes").Cursor
	// Two number types of _id: a snapshot page orders by _id within one
	// BSON type class (numbers here).
	e.insert("notes", everyType(t, int32(9)), everyType(t, int64(5)))
	want := map[string]bson.Raw{}
	for _, id := range []any{int32(9), int64(5)} {
		raw, _ := e.stored("notes", id)
		want[raw.Lookup("_id").String()] = raw
	}
	// check compares a returned document and its version with the stored
	// one of the same _id.
	check := func(what string, doc bson.Raw, version string) {
		t.Helper()
		stored, ok := want[doc.Lookup("_id").String()]
		if !ok {
			t.Fatalf("%s: a document with _id %s, not stored", what, doc.Lookup("_id"))
		}
		if !bytes.Equal(doc, stored) {
			t.Fatalf("%s: document\n%s\nstored\n%s", what, doc, stored)
		}
		if v := mtsync.ContentHash(doc); v != version || v != mtsync.ContentHash(stored) {
			t.Fatalf("%s: version %q, content hash %q", what, version, v)
		}
	}
	checkChanges := func(what string, changes []bson.RawValue) {
		t.Helper()
		if len(changes) != 2 {
			t.Fatalf("%s: %d changes, want 2", what, len(changes))
		}
		for _, c := range changes {
			d := c.Document()
			doc := d.Lookup("doc").Document()
			if !d.Lookup("id").Equal(doc.Lookup("_id")) {
				t.Fatalf("%s: id %s for document %s", what, d.Lookup("id"), doc.Lookup("_id"))
			}
			check(what, doc, d.Lookup("version").StringValue())
		}
	}

	var changes []bson.RawValue
	waitFor(t, "both inserts pulled", func() bool {
		r := e.do("GET", "/v1/changes?collections=notes&json=canonical&since="+cur, alice, "")
		changes, _ = canonical(t, r.body).Lookup("changes").Array().Values()
		return len(changes) == 2
	})
	checkChanges("page", changes)
	r := e.do("GET", "/v1/changes?collections=notes&json=canonical&live=longpoll&timeout=5&since="+cur, alice, "")
	changes, _ = canonical(t, r.body).Lookup("changes").Array().Values()
	checkChanges("long poll", changes)
	ch, _ := openSSE(t, e, alice, "collections=notes&json=canonical&since="+url.QueryEscape(cur), nil)
	if ev := next(t, ch, true); ev.event != "ready" {
		t.Fatalf("first SSE event %+v", ev)
	}
	changes = nil
	for len(changes) < 2 {
		ev := next(t, ch, true)
		changes = append(changes, bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: canonical(t, []byte(ev.data))})
	}
	checkChanges("SSE", changes)

	// Snapshot, one document a page: the first page ends at the int64
	// _id, whose next must keep its type.
	first := canonical(t, e.do("GET", "/v1/snapshot?collection=notes&json=canonical&limit=1", alice, "").body)
	next := first.Lookup("next").StringValue()
	if next != `{"$numberLong":"5"}` {
		t.Fatalf("first page's next %q", next)
	}
	second := canonical(t, e.do("GET", "/v1/snapshot?collection=notes&json=canonical&limit=1&after="+url.QueryEscape(next), alice, "").body)
	for i, p := range []bson.Raw{first, second} {
		docs, _ := p.Lookup("documents").Array().Values()
		versions, _ := p.Lookup("versions").Array().Values()
		if len(docs) != 1 || len(versions) != 1 {
			t.Fatalf("snapshot page %d: %s", i, p)
		}
		check("snapshot", docs[0].Document(), versions[0].StringValue())
	}

	for _, id := range []string{url.PathEscape(`{"$numberInt":"9"}`), url.PathEscape(`{"$numberLong":"5"}`)} {
		r := e.do("GET", "/v1/documents/notes/"+id+"?json=canonical", alice, "")
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", id, r.status, r.body)
		}
		check("document read", canonical(t, r.body), r.header.Get("Mongotide-Version"))
	}

	q := e.do("POST", "/v1/documents/notes/query?json=canonical", alice, `{"filter":{"i64big":{"$numberLong":"1152921504606846976"}},"sort":{"_id":{"$numberInt":"1"}}}`)
	qa := canonical(t, q.body)
	docs, _ := qa.Lookup("documents").Array().Values()
	versions, _ := qa.Lookup("versions").Array().Values()
	if len(docs) != 2 || len(versions) != 2 {
		t.Fatalf("query: %d %s", q.status, q.body)
	}
	for i := range docs {
		check("query", docs[i].Document(), versions[i].StringValue())
	}

	// Relaxed stays the default: i64 reads back as an int32.
	relaxed := e.do("GET", "/v1/documents/notes/9", alice, "")
	var rd bson.Raw
	if err := bson.UnmarshalExtJSON(relaxed.body, false, &rd); err != nil || rd.Lookup("i64").Type != bson.TypeInt32 {
		t.Fatalf("relaxed answer %s: %v", relaxed.body, err)
	}
	for _, path := range []string{
		"/v1/changes?collections=notes&json=exact", "/v1/snapshot?collection=notes&json=Canonical",
		"/v1/documents/notes/9?json=1",
	} {
		if r := e.do("GET", path, alice, ""); r.status != http.StatusBadRequest {
			t.Errorf("GET %s: %d %s, want 400", path, r.status, r.body)
		}
	}
	for _, path := range []string{"/v1/documents/notes/query?json=x", "/v1/operations?json=x"} {
		if r := e.do("POST", path, alice, `{}`); r.status != http.StatusBadRequest {
			t.Errorf("POST %s: %d %s, want 400", path, r.status, r.body)
		}
	}

	// Canonical input: a push's id and doc, then a patch's set.
	pushedID := int64(6)
	doc := everyType(t, pushedID)
	docJSON, err := bson.MarshalExtJSON(doc, true, false)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"clientId":"c","operations":[{"opId":"i","collection":"notes","op":"insert","id":{"$numberLong":"6"},"doc":` + string(docJSON) + `}]}`
	pr := e.do("POST", "/v1/operations?json=canonical", alice, body)
	res := canonical(t, pr.body).Lookup("results", "0").Document()
	wantRaw, _ := bson.Marshal(doc)
	stored, v := e.stored("notes", pushedID)
	if !bytes.Equal(stored, wantRaw) || res.Lookup("version").StringValue() != v || v != mtsync.ContentHash(wantRaw) {
		t.Fatalf("pushed canonical doc stored as\n%s\nwant\n%s\nanswer %s", stored, bson.Raw(wantRaw), pr.body)
	}
	set := `{"i32":{"$numberLong":"8"},"nested.b":{"$numberDouble":"1.0"}}`
	body = `{"clientId":"c","operations":[{"opId":"p","collection":"notes","op":"patch","id":{"$numberLong":"6"},"set":` + set + `,"base":"` + v + `"}]}`
	if r := e.do("POST", "/v1/operations?json=canonical", alice, body); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	stored, _ = e.stored("notes", pushedID)
	if stored.Lookup("i32").Type != bson.TypeInt64 || stored.Lookup("nested", "b").Type != bson.TypeDouble {
		t.Fatalf("patched with canonical values: %s", stored)
	}
}

// TestCanonicalJSONPushReplay: a push result's doc is written in the
// requested mode, also when the result is replayed from its record.
func TestCanonicalJSONPushReplay(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Conflict = mtsync.RemoteWins })
	alice := e.tok("alice")
	base := e.push1(alice, "b", insertOp("seed", "d", map[string]any{"n": map[string]any{"$numberLong": "1"}})).Version
	if r := e.push1(alice, "b", replaceOp("b", "d", base, map[string]any{"n": map[string]any{"$numberLong": "2"}})); r.Status != "accepted" {
		t.Fatalf("B: %+v", r)
	}
	body := pushBodyOf(t, "a", replaceOp("a", "d", base, map[string]any{"n": map[string]any{"$numberLong": "3"}}))
	var answers []bson.Raw
	for range 2 {
		r := e.do("POST", "/v1/operations?json=canonical", alice, body)
		answers = append(answers, canonical(t, r.body).Lookup("results", "0").Document())
	}
	for i, a := range answers {
		if a.Lookup("status").StringValue() != "conflict" || a.Lookup("doc", "n").Type != bson.TypeInt64 || a.Lookup("conflict", "local", "n").Type != bson.TypeInt64 {
			t.Fatalf("answer %d: %s", i, a)
		}
	}
}
