package gateway

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestSecurityTable runs every data endpoint as alice, as bob, and with
// bad credentials: alice never gets bob's documents, credentials that are
// missing, expired or forged get 401, collections without a rule or role
// get 403, and forged or transferred cursors get 400.
func TestSecurityTable(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.tok("alice"), e.tok("bob")
	cur := e.pull(alice, "collections=notes").Cursor
	bobCur := e.pull(bob, "collections=notes").Cursor
	e.insert("notes",
		bson.D{{Key: "_id", Value: "a1"}, {Key: "owner", Value: "alice"}, {Key: "text", Value: "alice's"}},
		bson.D{{Key: "_id", Value: "b1"}, {Key: "owner", Value: "bob"}, {Key: "text", Value: "bob's"}})
	e.insert("secrets", bson.D{{Key: "_id", Value: "s1"}, {Key: "owner", Value: "alice"}})
	e.insert("unruled", bson.D{{Key: "_id", Value: "u1"}, {Key: "owner", Value: "alice"}})
	// Let both changes reach the ring so that pulls below see them.
	waitFor(t, "bob's insert in the ring", func() bool {
		return len(e.pull(bob, "collections=notes&since="+bobCur).Changes) == 1
	})

	expired := token(t, testSecret, "alice", -time.Minute)
	noExp := token(t, testSecret, "alice", 0) // never expires: refused by default
	forged := token(t, []byte("another-secret-another-secret-another-secret"), "alice", time.Hour)
	parts := strings.Split(alice, ".")
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	swapped := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(claims), "alice", "bob", 1))) + "." + parts[2]
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."

	type endpoint struct{ method, path, body string }
	endpoints := []endpoint{
		{"GET", "/v1/changes?collections=notes&since=" + url.QueryEscape(cur), ""},
		{"GET", "/v1/changes?collections=notes&since=" + url.QueryEscape(cur) + "&live=longpoll&timeout=0", ""},
		{"GET", "/v1/snapshot?collection=notes", ""},
		{"GET", "/v1/documents/notes/a1", ""},
		{"POST", "/v1/documents/notes/query", `{"filter":{}}`},
		{"GET", "/v1/stats", ""},
		{"GET", "/metrics", ""},
		{"POST", "/v1/operations", pushBodyOf(t, "", deleteOp("sec-del", "a1", strings.Repeat("0", 64)))},
		{"POST", "/v1/compact", ""},
	}
	// Refused before anything streams: the SSE variant too.
	withSSE := append(slices.Clone(endpoints), endpoint{"GET", "/v1/changes?collections=notes&live=sse", ""})
	for _, ep := range withSSE {
		for _, bad := range []struct{ name, tok string }{{"missing", ""}, {"expired", expired}, {"without exp", noExp}, {"forged", forged}, {"claims swapped", swapped}, {"alg none", none}} {
			if r := e.do(ep.method, ep.path, bad.tok, ep.body); r.status != http.StatusUnauthorized {
				t.Errorf("%s %s with a %s token: %d %s, want 401", ep.method, ep.path, bad.name, r.status, r.body)
			}
		}
	}

	// Alice sees her document, bob never does, on every endpoint.
	for _, ep := range endpoints[:5] {
		ra := e.do(ep.method, ep.path, alice, ep.body)
		if ra.status != http.StatusOK || !strings.Contains(string(ra.body), "alice's") {
			t.Errorf("alice %s %s: %d %s, want 200 with her document", ep.method, ep.path, ra.status, ra.body)
		}
		if strings.Contains(string(ra.body), "bob's") {
			t.Errorf("alice %s %s got bob's document: %s", ep.method, ep.path, ra.body)
		}
		rb := e.do(ep.method, strings.Replace(ep.path, url.QueryEscape(cur), url.QueryEscape(bobCur), 1), bob, ep.body)
		if strings.Contains(string(rb.body), "alice's") {
			t.Errorf("bob %s %s got alice's document: %d %s", ep.method, ep.path, rb.status, rb.body)
		}
	}
	if r := e.do("GET", "/v1/documents/notes/b1", alice, ""); r.status != http.StatusNotFound {
		t.Errorf("alice reading bob's document: %d %s, want 404", r.status, r.body)
	}
	// A filter naming another owner is ANDed with the caller's scope.
	if r := e.do("POST", "/v1/documents/notes/query", alice, `{"filter":{"$or":[{"owner":"bob"},{"owner":{"$ne":"alice"}}]}}`); r.status != 200 || strings.Contains(string(r.body), "bob") {
		t.Errorf("alice querying for bob's documents: %d %s", r.status, r.body)
	}

	// Cursors: another owner's, another collection list's, altered ones.
	forbidden := []struct {
		name, path, tok string
		want            int
	}{
		{"bob's cursor used by alice", "/v1/changes?collections=notes&since=" + url.QueryEscape(bobCur), alice, 400},
		{"cursor for another collection list", "/v1/changes?collections=notes,board&since=" + url.QueryEscape(cur), alice, 400},
		{"cursor with its last character changed", "/v1/changes?collections=notes&since=" + url.QueryEscape(flipLast(cur)), alice, 400},
		{"cursor with its payload changed", "/v1/changes?collections=notes&since=" + url.QueryEscape(flipAt(cur, 20)), alice, 400},
		{"garbage cursor", "/v1/changes?collections=notes&since=abc.def", alice, 400},
		{"pull from a collection without a rule", "/v1/changes?collections=unruled", alice, 403},
		{"snapshot of a collection without a rule", "/v1/snapshot?collection=unruled", alice, 403},
		{"document of a collection without a rule", "/v1/documents/unruled/u1", alice, 403},
		{"query of a collection without a rule", "/v1/documents/unruled/query", alice, 403},
		{"pull without the role", "/v1/changes?collections=secrets", alice, 403},
		{"document without the role", "/v1/documents/secrets/s1", alice, 403},
		{"stats without admin", "/v1/stats", alice, 403},
		{"metrics without admin", "/metrics", alice, 403},
		{"compact without admin", "/v1/compact", alice, 403},
	}
	for _, c := range forbidden {
		method, body := "GET", ""
		if strings.HasSuffix(c.path, "/query") || c.path == "/v1/compact" {
			method, body = "POST", `{}`
		}
		if r := e.do(method, c.path, c.tok, body); r.status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.want)
		}
	}
	// Pushes: bob can neither write, patch nor delete alice's document,
	// nor give his to her; the answers reveal nothing of hers.
	a1Doc, a1Version := e.stored("notes", "a1")
	for _, o := range []op{
		deleteOp("b-del", "a1", a1Version),
		patchOp("b-patch", "a1", a1Version, map[string]any{"text": "bob was here"}),
		replaceOp("b-replace", "a1", a1Version, map[string]any{"text": "bob was here"}),
		insertOp("b-insert", "a1", map[string]any{"text": "bob was here"}),
		insertOp("b-give", "b2", map[string]any{"owner": "alice"}),
	} {
		r := e.do("POST", "/v1/operations", bob, pushBodyOf(t, "", o))
		if r.status != 200 || !strings.Contains(string(r.body), `"status":"rejected"`) || strings.Contains(string(r.body), "alice's") || strings.Contains(string(r.body), a1Version) {
			t.Errorf("bob pushing %v: %d %s, want rejected revealing nothing", o["opId"], r.status, r.body)
		}
	}
	if d, _ := e.stored("notes", "a1"); !bytesEqual(d, a1Doc) {
		t.Errorf("bob's pushes changed alice's document: %s", d)
	}
	staff := e.tok("alice", "staff")
	if r := e.do("GET", "/v1/documents/secrets/s1", staff, ""); r.status != 200 {
		t.Errorf("alice with the staff role reading her secret: %d %s", r.status, r.body)
	}
}

// flipLast changes the last character of s, keeping it base64url.
func flipLast(s string) string { return flipAt(s, len(s)-1) }

// flipAt changes the character at i, keeping it base64url.
func flipAt(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
