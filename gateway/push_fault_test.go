package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/embedded/embeddedtest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// changesByID pulls alice's changes of notes from cur until the document
// marker arrives and counts them per _id (as JSON).
func (e *env) changesByID(tok, cur, marker string) map[string]int {
	e.t.Helper()
	counts := map[string]int{}
	waitFor(e.t, "the marker "+marker+" pulled", func() bool {
		p := e.pull(tok, "collections=notes&since="+cur)
		for _, c := range p.Changes {
			counts[string(c.ID)]++
		}
		cur = p.Cursor
		return counts[`"`+marker+`"`] > 0
	})
	return counts
}

// TestPushRetriedAfterDroppedResponse: the gateway applies a push but the
// client never gets the answer (a proxy closes the client's connection
// once the gateway has answered); the client retries the same request,
// and every operation is answered with its first result, replayed, and
// applied once: one change event each, one version entry.
func TestPushRetriedAfterDroppedResponse(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.tok("alice")
	cur := e.pull(alice, "collections=notes").Cursor
	seed := e.push1(alice, "phone", insertOp("seed", "e0", map[string]any{"text": "seed"}))
	// Counting starts after the seed's change: a pull without since
	// answers where the gateway's stream has read, which may be short of
	// a commit made just before.
	waitFor(t, "the seed's change pulled", func() bool {
		p := e.pull(alice, "collections=notes&since="+cur)
		cur = p.Cursor
		for _, c := range p.Changes {
			if string(c.ID) == `"e0"` {
				return true
			}
		}
		return false
	})
	answered := make(chan int, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, e.srv.URL+r.URL.RequestURI(), r.Body)
		if err != nil {
			panic(err)
		}
		req.Header = r.Header.Clone()
		res, err := http.DefaultTransport.RoundTrip(req)
		status := 0
		if err == nil {
			status = res.StatusCode
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		// The gateway answered; the client never hears it.
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		answered <- status
	}))
	defer proxy.Close()
	body := pushBodyOf(t, "phone",
		insertOp("o1", "x1", map[string]any{"text": "new"}),
		patchOp("o2", "e0", seed.Version, map[string]any{"text": "patched"}),
		deleteOp("o3", "x1", strings.Repeat("0", 64)))
	req, err := http.NewRequest("POST", proxy.URL+"/v1/operations", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+alice)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("the proxied push got an answer: %d", res.StatusCode)
	}
	if st := <-answered; st != http.StatusOK {
		t.Fatalf("the gateway answered the dropped push %d", st)
	}
	r := e.do("POST", "/v1/operations", alice, body)
	if r.status != http.StatusOK {
		t.Fatalf("retry: %d %s", r.status, r.body)
	}
	res := decodeResults(t, r.body, 3)
	_, e0Version := e.stored("notes", "e0")
	// o3's base is stale, but the version over it is o1's, the same
	// client's: its own earlier write is its base, as for a sync replica.
	for i, want := range []struct{ status, version string }{{"accepted", res[0].Version}, {"accepted", e0Version}, {"accepted", ""}} {
		if res[i].Status != want.status || !res[i].Replayed || res[i].Version != want.version {
			t.Errorf("retried op %d: %+v, want %s, replayed", i, res[i], want.status)
		}
	}
	if res[0].Version == "" {
		t.Errorf("the insert's replay has no version: %+v", res[0])
	}
	e.push1(alice, "phone", insertOp("marker", "marker", map[string]any{}))
	counts := e.changesByID(alice, cur, "marker")
	// x1: inserted then deleted by the same push; e0 patched once.
	if counts[`"x1"`] != 2 || counts[`"e0"`] != 1 {
		t.Fatalf("change events per document %v, want x1: 2 (insert, delete), e0: 1", counts)
	}
	if v, ok := e.versionEntry("notes", "e0"); !ok || v.Hash != e0Version {
		t.Fatalf("e0's version entry %+v", v)
	}
	if s := e.gw.Stats().Pushes; s.Replayed != 3 {
		t.Fatalf("stats %+v, want 3 replayed", s)
	}
}

// TestPushAppliesOnceUnderFailCommand: failCommand faults on the commit and
// on the idempotency record's insert; the push is retried with the same
// opId until it is answered, and each operation is applied once (one
// document, one version entry, one change event).
func TestPushAppliesOnceUnderFailCommand(t *testing.T) {
	srv := embeddedtest.Server(t, embedded.Config{EnableTestCommands: true})
	e := newEnvWith(t, srv.Client(nil).Database("faults"), nil)
	alice := e.tok("alice")
	cur := e.pull(alice, "collections=notes").Cursor
	adminDB := srv.Client(nil).Database("admin")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	failPoint := func(mode any, data bson.D) {
		t.Helper()
		err := adminDB.RunCommand(ctx, bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: mode}, {Key: "data", Value: data}}).Err()
		if err != nil {
			t.Fatal(err)
		}
	}
	times := func(n int) bson.D { return bson.D{{Key: "times", Value: n}} }
	records := "faults." + opsColl
	steps := []struct {
		name  string
		mode  any
		data  bson.D
		first int // the first request's status
	}{
		{"the commit's connection closed once (the driver retries the commit)", times(1),
			bson.D{{Key: "failCommands", Value: bson.A{"commitTransaction"}}, {Key: "closeConnection", Value: true}}, 200},
		{"the commit's result unknown on every try", "alwaysOn",
			bson.D{{Key: "failCommands", Value: bson.A{"commitTransaction"}}, {Key: "errorCode", Value: 91},
				{Key: "errorLabels", Value: bson.A{"UnknownTransactionCommitResult"}}}, 503},
		{"the record's insert loses its connection", times(1),
			bson.D{{Key: "failCommands", Value: bson.A{"insert"}}, {Key: "namespace", Value: records}, {Key: "closeConnection", Value: true}}, 503},
		{"the record's insert meets a write conflict", times(1),
			bson.D{{Key: "failCommands", Value: bson.A{"insert"}}, {Key: "namespace", Value: records}, {Key: "errorCode", Value: 112},
				{Key: "errorLabels", Value: bson.A{"TransientTransactionError"}}}, 200},
	}
	for i, st := range steps {
		id := fmt.Sprintf("f%d", i)
		body := pushBodyOf(t, "phone", insertOp("op-"+id, id, map[string]any{"text": st.name}))
		failPoint(st.mode, st.data)
		r := e.do("POST", "/v1/operations", alice, body)
		off, err := adminDB.RunCommand(ctx, bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"}}).Raw()
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := off.Lookup("count").AsInt64OK(); !ok || n < 1 {
			t.Fatalf("%s: the failpoint fired %d times (reply %s)", st.name, n, off)
		}
		if r.status != st.first {
			t.Fatalf("%s: first push %d %s, want %d", st.name, r.status, r.body, st.first)
		}
		r2 := e.do("POST", "/v1/operations", alice, body)
		if r2.status != http.StatusOK {
			t.Fatalf("%s: retry %d %s", st.name, r2.status, r2.body)
		}
		res := decodeResults(t, r2.body, 1)[0]
		// Answered the first time: the retry replays it. Not answered:
		// the faults refused the commit, so the retry applies it.
		if res.Status != "accepted" || res.Replayed != (st.first == 200) {
			t.Fatalf("%s: retry %+v", st.name, res)
		}
		doc, version := e.stored("notes", id)
		if doc == nil || version != res.Version {
			t.Fatalf("%s: stored %s (%s), answered version %s", st.name, doc, version, res.Version)
		}
		if v, ok := e.versionEntry("notes", id); !ok || v.Hash != version {
			t.Fatalf("%s: version entry %+v", st.name, v)
		}
	}
	e.push1(alice, "phone", insertOp("marker", "marker", map[string]any{}))
	counts := e.changesByID(alice, cur, "marker")
	for i := range steps {
		if n := counts[fmt.Sprintf(`"f%d"`, i)]; n != 1 {
			t.Errorf("%s: %d change events, want 1 (%v)", steps[i].name, n, counts)
		}
	}
	n, err := e.db.Collection("_mongotide_sync_versions").CountDocuments(ctx, bson.D{{Key: "_id.c", Value: "notes"}})
	if err != nil || n != int64(len(steps)+1) {
		t.Fatalf("%d version entries (%v), want %d", n, err, len(steps)+1)
	}
}

// movingClock is time.Now moved forward by Jump.
type movingClock struct{ off atomic.Int64 }

func (c *movingClock) Now() time.Time       { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *movingClock) Jump(d time.Duration) { c.off.Add(int64(d)) }

// TestCompact: POST /v1/compact drops idempotency records older than
// OperationRetention and tombstones older than TombstoneRetention; newer
// ones stay. Time moves through the gateway's and the server's clocks.
func TestCompact(t *testing.T) {
	clk := &movingClock{}
	srv := embeddedtest.Server(t, embedded.Config{Clock: clk.Now})
	e := newEnvWith(t, srv.Client(nil).Database("compact"), func(c *Config) {
		c.Clock = clk.Now
		c.TombstoneRetention = time.Hour
	})
	alice, admin := e.tok("alice"), e.tok("root", "admin")
	old := e.push(alice, "c", insertOp("old1", "o1", map[string]any{}), insertOp("old2", "o2", map[string]any{}))
	e.push(alice, "c", deleteOp("old3", "o1", old[0].Version))
	clk.Jump(8 * 24 * time.Hour)
	fresh := e.push1(alice, "c", insertOp("new1", "n1", map[string]any{}))
	e.push1(alice, "c", deleteOp("new2", "n1", fresh.Version))
	if r := e.do("POST", "/v1/compact", alice, ""); r.status != http.StatusForbidden {
		t.Fatalf("compact without admin: %d", r.status)
	}
	r := e.do("POST", "/v1/compact", admin, "")
	if r.status != http.StatusOK {
		t.Fatalf("compact: %d %s", r.status, r.body)
	}
	got := r.json(t)
	if got["operations_removed"] != 3.0 || got["tombstones_removed"].(map[string]any)["notes"] != 1.0 {
		t.Fatalf("compact answered %s, want 3 operation records and 1 tombstone of notes", r.body)
	}
	// The old opIds are forgotten: applied again (o2 exists: a conflict
	// with itself, not a replay); the new ones still replay.
	if res := e.push1(alice, "c", insertOp("old2", "o2", map[string]any{})); res.Replayed {
		t.Fatalf("an operation older than the retention replayed: %+v", res)
	}
	if res := e.push1(alice, "c", insertOp("new1", "n1", map[string]any{})); !res.Replayed {
		t.Fatalf("a recent operation did not replay: %+v", res)
	}
	if _, ok := e.versionEntry("notes", "o1"); ok {
		t.Fatalf("the old tombstone stayed")
	}
	if v, ok := e.versionEntry("notes", "n1"); !ok || !v.Deleted {
		t.Fatalf("the recent tombstone went: %+v %v", v, ok)
	}
	if v, ok := e.versionEntry("notes", "o2"); !ok || v.Deleted {
		t.Fatalf("a live document's version entry went: %+v %v", v, ok)
	}
}
