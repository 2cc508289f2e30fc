package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	mtsync "github.com/mongotide/mongotide/sync"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// pushResult is one decoded result of POST /v1/operations.
type pushResult struct {
	OpID     string         `json:"opId"`
	Status   string         `json:"status"`
	Version  string         `json:"version"`
	Outcome  string         `json:"outcome"`
	Doc      map[string]any `json:"doc"`
	Error    string         `json:"error"`
	Message  string         `json:"message"`
	Replayed bool           `json:"replayed"`
	// RawConflict is the result's "conflict" as sent (absent: nil).
	RawConflict json.RawMessage `json:"conflict"`
}

// Conflict decodes the result's conflict (nil when absent).
func (r pushResult) Conflict(t testing.TB) *conflictDetail {
	t.Helper()
	if r.RawConflict == nil {
		return nil
	}
	var c conflictDetail
	if err := json.Unmarshal(r.RawConflict, &c); err != nil {
		t.Fatalf("conflict %s: %v", r.RawConflict, err)
	}
	return &c
}

// op is one operation of a push body.
type op map[string]any

// pushBodyOf is a push body: clientID (may be "") and the operations.
func pushBodyOf(t testing.TB, clientID string, ops ...op) string {
	t.Helper()
	body := map[string]any{"operations": ops}
	if clientID != "" {
		body["clientId"] = clientID
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// push sends ops and returns the results, failing unless 200.
func (e *env) push(tok, clientID string, ops ...op) []pushResult {
	e.t.Helper()
	r := e.do("POST", "/v1/operations", tok, pushBodyOf(e.t, clientID, ops...))
	if r.status != http.StatusOK {
		e.t.Fatalf("push: %d %s", r.status, r.body)
	}
	return decodeResults(e.t, r.body, len(ops))
}

func decodeResults(t testing.TB, body []byte, n int) []pushResult {
	t.Helper()
	var out struct {
		Results []pushResult `json:"results"`
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Results) != n {
		t.Fatalf("push answer %s: %v, want %d results", body, err, n)
	}
	return out.Results
}

// push1 pushes one operation and returns its result.
func (e *env) push1(tok, clientID string, o op) pushResult {
	e.t.Helper()
	return e.push(tok, clientID, o)[0]
}

// stored is the stored document (nil when absent) and its version.
func (e *env) stored(coll string, id any) (bson.Raw, string) {
	e.t.Helper()
	raw, err := e.db.Collection(coll).FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, ""
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return raw, mtsync.ContentHash(raw)
}

// versionEntry is sync's remote version entry of a document.
type versionEntry struct {
	HLC     int64  `bson:"h"`
	Replica string `bson:"r"`
	Hash    string `bson:"x"`
	Deleted bool   `bson:"d"`
}

func (e *env) versionEntry(coll string, id any) (versionEntry, bool) {
	e.t.Helper()
	var v versionEntry
	err := e.db.Collection("_mongotide_sync_versions").FindOne(context.Background(),
		bson.D{{Key: "_id", Value: bson.D{{Key: "c", Value: coll}, {Key: "id", Value: id}}}}).Decode(&v)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return v, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return v, true
}

func insertOp(opID string, id any, doc map[string]any) op {
	return op{"opId": opID, "collection": "notes", "op": "insert", "id": id, "doc": doc}
}

func replaceOp(opID string, id any, base string, doc map[string]any) op {
	return op{"opId": opID, "collection": "notes", "op": "replace", "id": id, "doc": doc, "base": base}
}

func patchOp(opID string, id any, base string, set map[string]any, unset ...string) op {
	o := op{"opId": opID, "collection": "notes", "op": "patch", "id": id, "base": base}
	if set != nil {
		o["set"] = set
	}
	if unset != nil {
		o["unset"] = unset
	}
	return o
}

func deleteOp(opID string, id any, base string) op {
	return op{"opId": opID, "collection": "notes", "op": "delete", "id": id, "base": base}
}

// TestPushOutcomes runs each kind of operation against the document it
// was based on and against a concurrent edit (device B pushed first, so
// device A's base is stale), under every whole-document policy and
// FieldMerge: the status, the outcome, what is stored, and the version
// entry written the way a sync replica's upload writes it.
func TestPushOutcomes(t *testing.T) {
	type want struct {
		status, outcome string
		// text is the stored document's "text" after A's push ("" when
		// deleted); deleted says the document is gone.
		text    string
		deleted bool
	}
	type row struct {
		name string
		// b is device B's concurrent edit (nil: none), a device A's
		// operation; both get the base (the version of the document
		// {_id, owner, text: "base", n: 1}) and the ids.
		b, a func(base string) op
		// per policy; a missing policy uses "*"
		want map[string]want
	}
	all := func(w want) map[string]want { return map[string]want{"*": w} }
	bReplace := func(base string) op {
		return replaceOp("b1", "d", base, map[string]any{"text": "B", "n": 1})
	}
	rows := []row{
		{"insert new", nil, func(string) op { return insertOp("a1", "new", map[string]any{"text": "A"}) },
			all(want{status: "accepted", text: "A"})},
		{"replace on its base", nil, func(base string) op { return replaceOp("a1", "d", base, map[string]any{"text": "A"}) },
			all(want{status: "accepted", text: "A"})},
		{"patch set and unset on its base", nil, func(base string) op { return patchOp("a1", "d", base, map[string]any{"text": "A"}, "n") },
			all(want{status: "accepted", text: "A"})},
		{"delete on its base", nil, func(base string) op { return deleteOp("a1", "d", base) },
			all(want{status: "accepted", deleted: true})},
		{"insert over an existing id", nil, func(string) op { return insertOp("a1", "d", map[string]any{"text": "A"}) },
			map[string]want{
				"last-writer-wins": {status: "conflict", outcome: "conflict-uploaded", text: "A"},
				"local-wins":       {status: "conflict", outcome: "conflict-uploaded", text: "A"},
				"remote-wins":      {status: "conflict", outcome: "remote-won", text: "base"},
				// Merged against an empty base: n kept from the server, text from the later.
				"field-merge": {status: "conflict", outcome: "merged", text: "A"},
			}},
		{"replace on a stale base", bReplace, func(base string) op { return replaceOp("a1", "d", base, map[string]any{"text": "A"}) },
			map[string]want{
				"last-writer-wins": {status: "conflict", outcome: "conflict-uploaded", text: "A"},
				"local-wins":       {status: "conflict", outcome: "conflict-uploaded", text: "A"},
				"remote-wins":      {status: "conflict", outcome: "remote-won", text: "B"},
				// No base document on the server: last writer wins, whole.
				"field-merge": {status: "conflict", outcome: "conflict-uploaded", text: "A"},
			}},
		{"patch on a stale base", bReplace, func(base string) op { return patchOp("a1", "d", base, map[string]any{"text": "A"}) },
			map[string]want{
				"remote-wins": {status: "conflict", outcome: "remote-won", text: "B"},
				"*":           {status: "conflict", outcome: "conflict-uploaded", text: "A"},
			}},
		{"delete on a stale base", bReplace, func(base string) op { return deleteOp("a1", "d", base) },
			map[string]want{
				"remote-wins": {status: "conflict", outcome: "remote-won", text: "B"},
				"*":           {status: "conflict", outcome: "conflict-uploaded", deleted: true},
			}},
		{"replace with its base's content on a stale base", bReplace, func(base string) op {
			return replaceOp("a1", "d", base, map[string]any{"text": "base", "n": 1})
		}, all(want{status: "conflict", outcome: "downloaded", text: "B"})},
	}
	for _, policy := range []mtsync.ConflictPolicy{mtsync.LastWriterWins, mtsync.RemoteWins, mtsync.LocalWins, mtsync.FieldMerge} {
		t.Run(policy.String(), func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Conflict = policy })
			alice := e.tok("alice")
			for i, r := range rows {
				t.Run(r.name, func(t *testing.T) {
					e.t = t
					// Each row on ids of its own: "d" and "new" prefixed.
					pre := strings.NewReplacer(" ", "_").Replace(r.name) + "-"
					ids := func(o op) op {
						o = cloneOp(o)
						o["id"] = pre + o["id"].(string)
						o["opId"] = pre + o["opId"].(string)
						return o
					}
					base := e.push1(alice, "deviceB", ids(insertOp("seed", "d", map[string]any{"text": "base", "n": 1}))).Version
					if base == "" {
						t.Fatalf("seed has no version")
					}
					if r.b != nil {
						if res := e.push1(alice, "deviceB", ids(r.b(base))); res.Status != "accepted" {
							t.Fatalf("device B's edit: %+v", res)
						}
					}
					a := ids(r.a(base))
					res := e.push1(alice, "deviceA", a)
					w, ok := r.want[policy.String()]
					if !ok {
						w = r.want["*"]
					}
					if res.Status != w.status || res.Outcome != w.outcome || res.Replayed || res.OpID != a["opId"] {
						t.Fatalf("row %d: result %+v, want status %q outcome %q", i, res, w.status, w.outcome)
					}
					doc, version := e.stored("notes", a["id"])
					switch {
					case w.deleted && doc != nil:
						t.Fatalf("stored %s, want deleted", doc)
					case !w.deleted && (doc == nil || doc.Lookup("text").StringValue() != w.text):
						t.Fatalf("stored %s, want text %q", doc, w.text)
					}
					if res.Version != version {
						t.Fatalf("answered version %q, stored document's %q", res.Version, version)
					}
					if w.status == "conflict" && !w.deleted && (res.Doc == nil || res.Doc["text"] != w.text) {
						t.Fatalf("conflict answer's doc %v, want the stored one", res.Doc)
					}
					if !w.deleted && doc.Lookup("owner").StringValue() != "alice" {
						t.Fatalf("stored %s without its owner", doc)
					}
					// The version entry, as a sync upload writes it.
					v, ok := e.versionEntry("notes", a["id"])
					wantHash := version
					if w.deleted {
						wantHash = mtsync.AbsentHash
					}
					if !ok || v.Hash != wantHash || v.Deleted != w.deleted || v.HLC == 0 || !strings.HasPrefix(v.Replica, "gw:") {
						t.Fatalf("version entry %+v (found %v), want hash %s deleted %v by a gateway replica", v, ok, wantHash, w.deleted)
					}
					wrote := w.outcome != "remote-won" && w.outcome != "downloaded"
					if wantA := strings.HasSuffix(v.Replica, ":deviceA"); wantA != wrote {
						t.Fatalf("version entry written by %q, device A wrote: %v", v.Replica, wrote)
					}
				})
			}
			e.t = t
			s := e.gw.Stats().Pushes
			if s.Rejected != 0 || s.Replayed != 0 || s.Accepted+s.Conflict != int64(2*len(rows)+4) {
				t.Fatalf("push stats %+v after %d rows", s, len(rows))
			}
		})
	}
}

// cloneOp copies o.
func cloneOp(o op) op {
	c := op{}
	for k, v := range o {
		c[k] = v
	}
	return c
}

// TestPushPatch: set and unset of nested paths keep the other fields'
// bytes and order; a set through a scalar is rejected; a patch of a
// missing document is rejected; types round-trip.
func TestPushPatch(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.tok("alice")
	base := e.push1(alice, "c", insertOp("i", "p", map[string]any{"a": 1, "n": map[string]any{"x": 1, "y": 2}, "s": "scalar"})).Version
	res := e.push1(alice, "c", patchOp("p1", "p", base, map[string]any{"n.x": 5, "new.deep": true, "big": map[string]any{"$numberLong": "7"}}, "n.y", "missing.path"))
	if res.Status != "accepted" {
		t.Fatalf("patch: %+v", res)
	}
	doc, v := e.stored("notes", "p")
	want := bson.D{{Key: "_id", Value: "p"}, {Key: "a", Value: int32(1)}, {Key: "n", Value: bson.D{{Key: "x", Value: int32(5)}}},
		{Key: "s", Value: "scalar"}, {Key: "owner", Value: "alice"}, {Key: "big", Value: int64(7)}, {Key: "new", Value: bson.D{{Key: "deep", Value: true}}}}
	wantRaw, _ := bson.Marshal(want)
	if !bytesEqual(doc, wantRaw) || v != res.Version {
		t.Fatalf("patched %s (version %s, answered %s), want %s", doc, v, res.Version, bson.Raw(wantRaw))
	}
	if r := e.push1(alice, "c", patchOp("p2", "p", v, map[string]any{"s.x": 1})); r.Status != "rejected" || r.Error != "bad_path" {
		t.Fatalf("set through a scalar: %+v", r)
	}
	if r := e.push1(alice, "c", patchOp("p3", "nothing", v, map[string]any{"a": 1})); r.Status != "rejected" || r.Error != "not_found" {
		t.Fatalf("patch of a missing document: %+v", r)
	}
	// Malformed patches fail the whole request.
	for _, bad := range []op{
		patchOp("b1", "p", v, nil),
		patchOp("b2", "p", v, map[string]any{"a": 1, "a.b": 2}),
		patchOp("b3", "p", v, map[string]any{"_id": 2}),
		patchOp("b4", "p", v, map[string]any{"$set": 2}),
		patchOp("b5", "p", "", map[string]any{"a": 2}),
	} {
		if r := e.do("POST", "/v1/operations", alice, pushBodyOf(t, "c", bad)); r.status != http.StatusBadRequest {
			t.Errorf("malformed patch %v: %d %s", bad, r.status, r.body)
		}
	}
	if d, _ := e.stored("notes", "p"); !bytesEqual(d, doc) {
		t.Fatalf("refused patches changed the document: %s", d)
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// TestPushVersionsOnEveryRead: the version a push answers is the one every
// read gives the document: pulled changes, the snapshot, a document read
// and a query.
func TestPushVersionsOnEveryRead(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.tok("alice")
	cur := e.pull(alice, "collections=notes").Cursor
	res := e.push1(alice, "c", insertOp("i", map[string]any{"$oid": "65000000000000000000000a"}, map[string]any{"text": "v", "n": 1.5, "big": map[string]any{"$numberLong": "3"}}))
	if res.Status != "accepted" || len(res.Version) != 64 {
		t.Fatalf("insert: %+v", res)
	}
	var pulled string
	waitFor(t, "the insert pulled", func() bool {
		r := e.do("GET", "/v1/changes?collections=notes&since="+cur, alice, "")
		var p struct {
			Changes []struct {
				Version string `json:"version"`
			} `json:"changes"`
		}
		_ = json.Unmarshal(r.body, &p)
		if len(p.Changes) == 1 {
			pulled = p.Changes[0].Version
		}
		return pulled != ""
	})
	var snap, query struct {
		Documents []any    `json:"documents"`
		Versions  []string `json:"versions"`
	}
	_ = json.Unmarshal(e.do("GET", "/v1/snapshot?collection=notes", alice, "").body, &snap)
	_ = json.Unmarshal(e.do("POST", "/v1/documents/notes/query", alice, `{"filter":{}}`).body, &query)
	got := e.do("GET", "/v1/documents/notes/65000000000000000000000a", alice, "")
	for what, v := range map[string]string{
		"pull": pulled, "snapshot": first(snap.Versions), "query": first(query.Versions),
		"document header": got.header.Get("Mongotide-Version"), "ETag": strings.Trim(got.header.Get("ETag"), `"`),
	} {
		if v != res.Version {
			t.Errorf("%s gives version %q, the push answered %q", what, v, res.Version)
		}
	}
	if len(snap.Versions) != len(snap.Documents) || len(query.Versions) != len(query.Documents) {
		t.Errorf("versions do not pair with documents: %+v %+v", snap, query)
	}
	// A projected document is not the stored content: no versions.
	if r := e.do("POST", "/v1/documents/notes/query", alice, `{"projection":{"text":1}}`); strings.Contains(string(r.body), "versions") {
		t.Errorf("projected query answered versions: %s", r.body)
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// TestPushSecurity: a principal never writes another owner's document (nor
// learns anything of it), never changes a document's owner, and writes
// only collections its roles allow.
func TestPushSecurity(t *testing.T) {
	e := newEnv(t, nil)
	alice, bob := e.tok("alice"), e.tok("bob")
	e.insert("notes", bson.D{{Key: "_id", Value: "b1"}, {Key: "owner", Value: "bob"}, {Key: "text", Value: "bob-private-text"}})
	bobDoc, bobVersion := e.stored("notes", "b1")
	mine := e.push1(alice, "c", insertOp("mine", "a1", map[string]any{"text": "alice's"}))
	if mine.Status != "accepted" {
		t.Fatalf("alice's insert: %+v", mine)
	}
	if d, _ := e.stored("notes", "a1"); d.Lookup("owner").StringValue() != "alice" {
		t.Fatalf("the owner field was not forced: %s", d)
	}
	cases := []struct {
		name string
		op   op
		code string
	}{
		{"replace bob's document", replaceOp("r1", "b1", bobVersion, map[string]any{"text": "mine now"}), "not_owned"},
		{"patch bob's document", patchOp("r2", "b1", bobVersion, map[string]any{"text": "mine now"}), "not_owned"},
		{"delete bob's document", deleteOp("r3", "b1", bobVersion), "not_owned"},
		{"insert over bob's document", insertOp("r4", "b1", map[string]any{"text": "mine now"}), "not_owned"},
		{"insert for bob", insertOp("r5", "x1", map[string]any{"owner": "bob"}), "owner_field"},
		{"insert with a non-string owner", insertOp("r6", "x2", map[string]any{"owner": 7}), "owner_field"},
		{"replace giving her document to bob", replaceOp("r7", "a1", mine.Version, map[string]any{"owner": "bob"}), "owner_field"},
		{"patch giving her document to bob", patchOp("r8", "a1", mine.Version, map[string]any{"owner": "bob"}), "owner_field"},
		{"patch removing the owner", patchOp("r9", "a1", mine.Version, nil, "owner"), "owner_field"},
		{"a collection without the write role", op{"opId": "r10", "collection": "secrets", "op": "insert", "id": "s", "doc": map[string]any{}}, "forbidden"},
		{"a shared collection without the write role", op{"opId": "r11", "collection": "board", "op": "insert", "id": "s", "doc": map[string]any{}}, "forbidden"},
		{"a collection without a rule", op{"opId": "r12", "collection": "unruled", "op": "insert", "id": "s", "doc": map[string]any{}}, "forbidden"},
		{"sync's metadata", op{"opId": "r13", "collection": "_mongotide_sync_versions", "op": "insert", "id": "s", "doc": map[string]any{}}, "forbidden"},
		{"the idempotency records", op{"opId": "r14", "collection": opsColl, "op": "insert", "id": "s", "doc": map[string]any{}}, "forbidden"},
	}
	for _, c := range cases {
		r := e.do("POST", "/v1/operations", alice, pushBodyOf(t, "c", c.op))
		if r.status != http.StatusOK {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
			continue
		}
		res := decodeResults(t, r.body, 1)[0]
		if res.Status != "rejected" || res.Error != c.code || res.Doc != nil || res.Version != "" {
			t.Errorf("%s: %+v, want rejected %s", c.name, res, c.code)
		}
		if strings.Contains(string(r.body), "bob-private-text") || strings.Contains(string(r.body), bobVersion) {
			t.Errorf("%s: the answer reveals bob's document: %s", c.name, r.body)
		}
	}
	if d, v := e.stored("notes", "b1"); v != bobVersion || !bytesEqual(d, bobDoc) {
		t.Fatalf("bob's document changed: %s", d)
	}
	if d, v := e.stored("notes", "a1"); v != mine.Version {
		t.Fatalf("alice's document changed: %s", d)
	}
	for _, id := range []string{"x1", "x2", "s"} {
		if d, _ := e.stored("notes", id); d != nil {
			t.Fatalf("refused insert %s stored %s", id, d)
		}
	}
	if s := e.gw.Stats().Pushes; s.Rejected != int64(len(cases)) || s.Accepted != 1 {
		t.Fatalf("push stats %+v", s)
	}
	// With the role: her secrets and the board.
	staff := e.tok("alice", "staff", "editor")
	for _, coll := range []string{"secrets", "board"} {
		if res := e.push1(staff, "c", op{"opId": "ok-" + coll, "collection": coll, "op": "insert", "id": "s", "doc": map[string]any{"text": "t"}}); res.Status != "accepted" {
			t.Errorf("push to %s with the role: %+v", coll, res)
		}
	}
	// Bob replays nothing of alice's: opIds are per owner.
	if res := e.push1(bob, "c", insertOp("mine", "b2", map[string]any{"text": "bob's"})); res.Status != "accepted" || res.Replayed {
		t.Fatalf("bob's op with alice's opId: %+v", res)
	}
	// A principal that may write nothing: 403 for the whole request.
	ro := newEnv(t, func(c *Config) {
		c.Collections = map[string]Rule{"notes": {OwnerField: "owner", ReadRoles: []string{"*"}}}
	})
	if r := ro.do("POST", "/v1/operations", ro.tok("alice"), pushBodyOf(t, "c", insertOp("x", "x", map[string]any{}))); r.status != http.StatusForbidden {
		t.Fatalf("push without any write role: %d %s", r.status, r.body)
	}
}

// TestPushRequestShape: whole-request failures are 400 or 413 and apply
// nothing.
func TestPushRequestShape(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxOperations = 2; c.MaxBodyBytes = 4096 })
	alice := e.tok("alice")
	ok := insertOp("ok", "ok", map[string]any{})
	for name, body := range map[string]string{
		"not JSON":             `{`,
		"no operations":        `{"operations":[]}`,
		"unknown field":        `{"operations":[],"extra":1}`,
		"too many":             pushBodyOf(t, "", ok, insertOp("b", "b", map[string]any{}), insertOp("c", "c", map[string]any{})),
		"opId too long":        pushBodyOf(t, "", insertOp(strings.Repeat("x", 129), "x", map[string]any{})),
		"unknown op":           pushBodyOf(t, "", ok, op{"opId": "u", "collection": "notes", "op": "upsert", "id": 1}),
		"insert with a base":   pushBodyOf(t, "", ok, op{"opId": "u", "collection": "notes", "op": "insert", "id": 1, "doc": map[string]any{}, "base": strings.Repeat("0", 64)}),
		"replace without base": pushBodyOf(t, "", ok, op{"opId": "u", "collection": "notes", "op": "replace", "id": 1, "doc": map[string]any{}}),
		"doc with another _id": pushBodyOf(t, "", ok, insertOp("u", 1, map[string]any{"_id": 2})),
		"no id":                pushBodyOf(t, "", ok, op{"opId": "u", "collection": "notes", "op": "delete", "base": strings.Repeat("0", 64)}),
		"bad clientId":         pushBodyOf(t, "a b", ok),
	} {
		if r := e.do("POST", "/v1/operations", alice, body); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, r.status, r.body)
		}
	}
	big := pushBodyOf(t, "", insertOp("big", "big", map[string]any{"text": strings.Repeat("x", 5000)}))
	if r := e.do("POST", "/v1/operations", alice, big); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("too large: %d %s", r.status, r.body)
	}
	if d, _ := e.stored("notes", "ok"); d != nil {
		t.Fatalf("a refused request applied an operation: %s", d)
	}
}

// TestPushReplayed: a repeated opId answers its first result, replayed,
// and writes nothing, also within one request; rejections replay too.
func TestPushReplayed(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.tok("alice")
	first := e.push(alice, "c", insertOp("o1", "r", map[string]any{"text": "1"}), deleteOp("o2", "missing", strings.Repeat("0", 64)),
		op{"opId": "o3", "collection": "secrets", "op": "insert", "id": "s", "doc": map[string]any{}})
	again := e.push(alice, "c", insertOp("o1", "r", map[string]any{"text": "changed"}), insertOp("o1", "r", map[string]any{"text": "changed"}),
		deleteOp("o2", "missing", strings.Repeat("0", 64)), op{"opId": "o3", "collection": "secrets", "op": "insert", "id": "s", "doc": map[string]any{}})
	for i, j := range []int{0, 0, 1, 2} {
		a, f := again[i], first[j]
		f.Replayed = true
		if a.OpID != f.OpID || a.Status != f.Status || a.Version != f.Version || a.Error != f.Error || !a.Replayed {
			t.Errorf("replay %d: %+v, first %+v", i, a, first[j])
		}
	}
	if d, v := e.stored("notes", "r"); v != first[0].Version || d.Lookup("text").StringValue() != "1" {
		t.Fatalf("a replay wrote: %s", d)
	}
	if s := e.gw.Stats().Pushes; s.Replayed != 4 || s.Accepted != 2 || s.Rejected != 1 {
		t.Fatalf("stats %+v, want 2 accepted, 1 rejected, 4 replayed", s)
	}
	m := string(e.do("GET", "/metrics", e.tok("ops", "admin"), "").body)
	for _, want := range []string{
		`mongotide_gateway_push_operations_total{status="accepted"} 2`,
		`mongotide_gateway_push_operations_total{status="rejected"} 1`,
		`mongotide_gateway_push_replayed_total 4`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
}

// TestPushEditTime: an operation's "at" orders it under last writer wins:
// an edit made before the concurrent one loses to it; a time ahead of the
// gateway's clock counts as now.
func TestPushEditTime(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.tok("alice")
	for i, c := range []struct {
		at      time.Duration
		outcome string
	}{{-time.Hour, "remote-won"}, {time.Hour, "conflict-uploaded"}} {
		id := fmt.Sprintf("t%d", i)
		base := e.push1(alice, "b", insertOp("seed"+id, id, map[string]any{"text": "base"})).Version
		if r := e.push1(alice, "b", replaceOp("b"+id, id, base, map[string]any{"text": "B"})); r.Status != "accepted" {
			t.Fatalf("B: %+v", r)
		}
		a := replaceOp("a"+id, id, base, map[string]any{"text": "A"})
		a["at"] = time.Now().Add(c.at).Format(time.RFC3339Nano)
		if r := e.push1(alice, "a", a); r.Status != "conflict" || r.Outcome != c.outcome {
			t.Fatalf("A made %v from now: %+v, want %s", c.at, r, c.outcome)
		}
	}
	if r := e.do("POST", "/v1/operations", alice, pushBodyOf(t, "a", op{"opId": "x", "collection": "notes", "op": "insert", "id": "x", "doc": map[string]any{}, "at": "yesterday"})); r.status != http.StatusBadRequest {
		t.Fatalf("at not a time: %d %s", r.status, r.body)
	}
}

// TestPushAcks: a device's pushes leave one ack in the version entry (sync
// replicas' acks are per replica); pushes without a clientId, each a
// replica of its own, leave none (the entry would grow by one key per
// edit).
func TestPushAcks(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.tok("alice")
	acks := func(id string) int {
		var v struct {
			Acks map[string]int64 `bson:"a"`
		}
		err := e.db.Collection("_mongotide_sync_versions").FindOne(context.Background(),
			bson.D{{Key: "_id", Value: bson.D{{Key: "c", Value: "notes"}, {Key: "id", Value: id}}}}).Decode(&v)
		if err != nil {
			t.Fatal(err)
		}
		return len(v.Acks)
	}
	for _, c := range []struct {
		id, client string
		want       int
	}{{"with", "phone", 1}, {"without", "", 0}} {
		v := e.push1(alice, c.client, insertOp(c.id+"0", c.id, map[string]any{"n": 0})).Version
		for i := 1; i < 4; i++ {
			v = e.push1(alice, c.client, replaceOp(fmt.Sprintf("%s%d", c.id, i), c.id, v, map[string]any{"n": i})).Version
		}
		if n := acks(c.id); n != c.want {
			t.Errorf("%s clientId: %d acks after 4 pushes, want %d", c.id, n, c.want)
		}
	}
}

// conflictDetail is a decoded push result's "conflict".
type conflictDetail struct {
	Kept        string          `json:"kept"`
	Policy      string          `json:"policy"`
	Reason      string          `json:"reason"`
	Fields      []string        `json:"fields"`
	KeptOmitted bool            `json:"keptOmitted"`
	Local       json.RawMessage `json:"local"`
	Remote      json.RawMessage `json:"remote"`
	// hlc is a decimal string: it exceeds 2^53.
	LocalVersion  struct{ HLC, Replica string } `json:"localVersion"`
	RemoteVersion struct{ HLC, Replica string } `json:"remoteVersion"`
}

// TestPushConflictDetails: a result that overwrote or lost to a concurrent
// edit carries sync's conflict record of it (kept side, policy, reason,
// clashing fields, both edits, both versions), so a device can log it; a
// replay of the operation answers the same object. A push that met no
// concurrent edit carries none.
func TestPushConflictDetails(t *testing.T) {
	type want struct {
		status, outcome, kept, reason string
		fields                        []string
		localDeleted                  bool
	}
	cases := []struct {
		name   string
		policy mtsync.ConflictPolicy
		// b is device B's edit on the seed (nil: none); a device A's
		// operation, on the seed's version.
		b, a func(base string) op
		want want
	}{
		{"last writer wins, replace", mtsync.LastWriterWins,
			func(base string) op { return replaceOp("b", "d", base, map[string]any{"text": "B", "n": 1}) },
			func(base string) op { return replaceOp("a", "d", base, map[string]any{"text": "A"}) },
			want{status: "conflict", outcome: "conflict-uploaded", kept: "local"}},
		{"last writer wins, delete", mtsync.LastWriterWins,
			func(base string) op { return replaceOp("b", "d", base, map[string]any{"text": "B", "n": 1}) },
			func(base string) op { return deleteOp("a", "d", base) },
			want{status: "conflict", outcome: "conflict-uploaded", kept: "local", localDeleted: true}},
		{"remote wins", mtsync.RemoteWins,
			func(base string) op { return replaceOp("b", "d", base, map[string]any{"text": "B", "n": 1}) },
			func(base string) op { return replaceOp("a", "d", base, map[string]any{"text": "A"}) },
			want{status: "conflict", outcome: "remote-won", kept: "remote"}},
		// An insert over an existing document merges against an empty
		// base: both sides set text, n is the server's alone.
		{"field merge, fields", mtsync.FieldMerge, nil,
			func(string) op { return insertOp("a", "d", map[string]any{"text": "A"}) },
			want{status: "conflict", outcome: "merged", kept: "local", reason: string(mtsync.ReasonFields), fields: []string{"text"}}},
		// The gateway keeps no base document: last writer wins, whole.
		{"field merge, no base", mtsync.FieldMerge,
			func(base string) op { return replaceOp("b", "d", base, map[string]any{"text": "B", "n": 1}) },
			func(base string) op { return replaceOp("a", "d", base, map[string]any{"text": "A"}) },
			want{status: "conflict", outcome: "conflict-uploaded", kept: "local", reason: string(mtsync.ReasonNoBase)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, func(cfg *Config) { cfg.Conflict = c.policy })
			alice := e.tok("alice")
			seed := e.push1(alice, "deviceB", insertOp("seed", "d", map[string]any{"text": "base", "n": 1}))
			if seed.Status != "accepted" || seed.Conflict(t) != nil {
				t.Fatalf("seed: %+v", seed)
			}
			if c.b != nil {
				if r := e.push1(alice, "deviceB", c.b(seed.Version)); r.Status != "accepted" {
					t.Fatalf("B: %+v", r)
				}
			}
			met, _ := e.stored("notes", "d")
			metVersion, _ := e.versionEntry("notes", "d")
			body := pushBodyOf(t, "deviceA", c.a(seed.Version))
			r := e.do("POST", "/v1/operations", alice, body)
			res := decodeResults(t, r.body, 1)[0]
			if res.Status != c.want.status || res.Outcome != c.want.outcome {
				t.Fatalf("A: %s", r.body)
			}
			got := res.Conflict(t)
			if got == nil {
				t.Fatalf("A's result has no conflict: %s", r.body)
			}
			after, _ := e.versionEntry("notes", "d")
			if got.Kept != c.want.kept || got.Policy != c.policy.String() || got.Reason != c.want.reason ||
				strings.Join(got.Fields, ",") != strings.Join(c.want.fields, ",") || got.KeptOmitted {
				t.Fatalf("conflict %+v, want %+v", got, c.want)
			}
			// remote: the server's document A met, with its version.
			if d := extJSONRaw(t, got.Remote); !bytesEqual(d, met) {
				t.Fatalf("conflict's remote %s, want the document A met %s", d, met)
			}
			if got.RemoteVersion.HLC != fmt.Sprint(metVersion.HLC) || got.RemoteVersion.Replica != metVersion.Replica {
				t.Fatalf("remote version %+v, the version entry A met %+v", got.RemoteVersion, metVersion)
			}
			// local: A's edit, stamped with A's replica, after the remote.
			if c.want.localDeleted != (string(got.Local) == "null") {
				t.Fatalf("conflict's local %s, want deleted: %v", got.Local, c.want.localDeleted)
			}
			if !c.want.localDeleted {
				if d := extJSONRaw(t, got.Local); d.Lookup("text").StringValue() != "A" || d.Lookup("owner").StringValue() != "alice" {
					t.Fatalf("conflict's local %s, want A's edit", d)
				}
			}
			hlc, err := strconv.ParseInt(got.LocalVersion.HLC, 10, 64)
			if err != nil || hlc <= metVersion.HLC || !strings.HasSuffix(got.LocalVersion.Replica, ":deviceA") {
				t.Fatalf("local version %+v, want device A's after %d", got.LocalVersion, metVersion.HLC)
			}
			if c.want.kept == "local" && (hlc != after.HLC || got.LocalVersion.Replica != after.Replica) {
				t.Fatalf("local version %+v, the version entry written %+v", got.LocalVersion, after)
			}
			// The replay answers the same object.
			again := e.do("POST", "/v1/operations", alice, body)
			replay := decodeResults(t, again.body, 1)[0]
			if !replay.Replayed || !bytesEqual(replay.RawConflict, res.RawConflict) {
				t.Fatalf("replay %s, first %s", again.body, r.body)
			}
		})
	}
}

// extJSONRaw decodes a document of an answer.
func extJSONRaw(t testing.TB, m json.RawMessage) bson.Raw {
	t.Helper()
	var raw bson.Raw
	if err := bson.UnmarshalExtJSON(m, false, &raw); err != nil {
		t.Fatalf("%s: %v", m, err)
	}
	return raw
}

// A push that sends the document it was based on (baseDoc) is merged
// field by field under FieldMerge; a baseDoc that is not the base's
// document is not used (last writer wins, ReasonNoBase), and baseDoc
// without base is refused.
func TestPushMergesAgainstBaseDoc(t *testing.T) {
	e := newEnv(t, func(cfg *Config) { cfg.Conflict = mtsync.FieldMerge })
	alice := e.tok("alice")
	for i, sendReal := range []bool{true, false} {
		id := fmt.Sprintf("d%d", i)
		seed := e.push1(alice, "deviceB", insertOp("seed"+id, id, map[string]any{"text": "base", "n": 1}))
		baseDoc, _ := e.stored("notes", id)
		if r := e.push1(alice, "deviceB", replaceOp("b"+id, id, seed.Version, map[string]any{"text": "base", "n": 2})); r.Status != "accepted" {
			t.Fatalf("B: %+v", r)
		}
		a := replaceOp("a"+id, id, seed.Version, map[string]any{"text": "A", "n": 1})
		sent := baseDoc
		if !sendReal {
			sent, _ = bson.Marshal(bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: "alice"}, {Key: "text", Value: "forged"}})
		}
		a["baseDoc"] = json.RawMessage(mustExtJSON(t, sent))
		res := e.push1(alice, "deviceA", a)
		got, _ := e.stored("notes", id)
		var doc struct {
			Text string `bson:"text"`
			N    int32  `bson:"n"`
		}
		if err := bson.Unmarshal(got, &doc); err != nil {
			t.Fatal(err)
		}
		switch {
		case sendReal && (res.Outcome != "merged" || res.Conflict(t) != nil || doc.Text != "A" || doc.N != 2):
			t.Fatalf("with its base document: %+v, stored %+v; want merged {A, 2}, nothing logged", res, doc)
		case !sendReal && (res.Outcome != "conflict-uploaded" || res.Conflict(t) == nil || res.Conflict(t).Reason != string(mtsync.ReasonNoBase) || doc.N != 1):
			t.Fatalf("with a forged base document: %+v, stored %+v; want last writer wins, ReasonNoBase", res, doc)
		}
	}
	bad := insertOp("x", "x", map[string]any{"text": "x"})
	bad["baseDoc"] = map[string]any{"_id": "x"}
	if r := e.do("POST", "/v1/operations", alice, pushBodyOf(t, "deviceA", bad)); r.status != 400 {
		t.Fatalf("baseDoc without base: %d %s, want 400", r.status, r.body)
	}
}

func mustExtJSON(t *testing.T, d bson.Raw) []byte {
	t.Helper()
	b, err := bson.MarshalExtJSON(d, true, false)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
