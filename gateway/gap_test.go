package gateway

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/embedded/embeddedtest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// A shared stream that falls behind the oplog (error 286) reopens from then
// instead of ending the feed for good: later changes reach clients again,
// the gap is counted, and a cursor from before it is still served from the
// history the database kept. (The feed used to end, and every pull of the
// collection failed until the instance restarted.)
func TestFeedSurvivesHistoryLoss(t *testing.T) {
	srv := embeddedtest.Server(t, embedded.Config{EnableTestCommands: true})
	e := newEnvWith(t, srv.Client(nil).Database("gap"), nil)
	alice := e.tok("alice")
	start := e.pull(alice, "collections=notes").Cursor
	e.insert("notes", bson.D{{Key: "_id", Value: "a1"}, {Key: "owner", Value: "alice"}})
	var before string
	waitFor(t, "a1 pulled", func() bool {
		p := e.pull(alice, "collections=notes&since="+url.QueryEscape(start))
		before = p.Cursor
		return len(p.Changes) == 1
	})
	srv.FailPoint(bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: bson.D{{Key: "times", Value: 1}}},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"getMore"}}, {Key: "namespace", Value: "gap.notes"}, {Key: "errorCode", Value: 286}}}})
	waitFor(t, "the gap handled", func() bool {
		cs := e.gw.Stats().Collections["notes"]
		return cs.Gaps == 1 && cs.State == "open"
	})
	e.insert("notes", bson.D{{Key: "_id", Value: "a2"}, {Key: "owner", Value: "alice"}})
	// From before the gap: served from the history (still in the oplog).
	waitFor(t, "a2 pulled from a cursor before the gap", func() bool {
		p := e.pull(alice, "collections=notes&since="+url.QueryEscape(before))
		return len(p.Changes) == 1 && string(p.Changes[0].ID) == `"a2"`
	})
	// From after it: served by the reopened shared stream.
	now := e.pull(alice, "collections=notes").Cursor
	e.insert("notes", bson.D{{Key: "_id", Value: "a3"}, {Key: "owner", Value: "alice"}})
	waitFor(t, "a3 pulled live", func() bool {
		p := e.pull(alice, "collections=notes&since="+url.QueryEscape(now))
		return len(p.Changes) == 1 && string(p.Changes[0].ID) == `"a3"`
	})
	if cs := e.gw.Stats().Collections["notes"]; cs.State != "open" || cs.Gaps != 1 {
		t.Fatalf("feed %+v, want open after one gap", cs)
	}
}

// A shared stream that ends with an error listen does not retry (here 13,
// Unauthorized, as when the gateway's database user loses a privilege) is
// reopened after Config.ReopenBackoff instead of leaving the collection
// failed until a restart: /v1/ready is 200 again, and a cursor from before
// the outage gets every change once, the ones written during it included
// (the stream resumes after the ring's last event).
func TestFeedReopensAfterFatalError(t *testing.T) {
	srv := embeddedtest.Server(t, embedded.Config{EnableTestCommands: true})
	e := newEnvWith(t, srv.Client(nil).Database("reopen"), func(c *Config) {
		c.ReopenBackoff = func() backoff.BackOff { return backoff.NewConstantBackOff(100 * time.Millisecond) }
	})
	alice := e.tok("alice")
	start := e.pull(alice, "collections=notes").Cursor
	e.insert("notes", bson.D{{Key: "_id", Value: "r1"}, {Key: "owner", Value: "alice"}})
	waitFor(t, "r1 in the ring", func() bool { return e.gw.Stats().Collections["notes"].Appended == 1 })
	srv.FailPoint(bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: bson.D{{Key: "times", Value: 1}}},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"getMore"}}, {Key: "namespace", Value: "reopen.notes"}, {Key: "errorCode", Value: 13}}}})
	e.insert("notes", bson.D{{Key: "_id", Value: "r2"}, {Key: "owner", Value: "alice"}})
	waitFor(t, "the stream reopened", func() bool {
		cs := e.gw.Stats().Collections["notes"]
		return cs.Reopens == 1 && cs.State == "open"
	})
	if r := e.do("GET", "/v1/ready", "", ""); r.status != http.StatusOK {
		t.Fatalf("ready after the reopen: %d %s", r.status, r.body)
	}
	e.insert("notes", bson.D{{Key: "_id", Value: "r3"}, {Key: "owner", Value: "alice"}})
	var ids []string
	waitFor(t, "r1, r2 and r3 pulled", func() bool {
		p := e.pull(alice, "collections=notes&since="+url.QueryEscape(start))
		ids = ids[:0]
		for _, c := range p.Changes {
			ids = append(ids, string(c.ID))
		}
		return len(ids) >= 3
	})
	if want := []string{`"r1"`, `"r2"`, `"r3"`}; !slices.Equal(ids, want) {
		t.Fatalf("changes %v, want %v (each once)", ids, want)
	}
}

// A pull without since starts at the present, even when the shared stream
// lags behind the database: a write acknowledged before the request is not
// delivered as a change after it. (The cursor used to be the ring's last
// position, so such a write came again.)
func TestSincelessPullStartsAtThePresent(t *testing.T) {
	srv := embeddedtest.Server(t, embedded.Config{EnableTestCommands: true})
	e := newEnvWith(t, srv.Client(nil).Database("present"), nil)
	alice := e.tok("alice")
	appended := func() uint64 { return e.gw.Stats().Collections["notes"].Appended }
	// The stream's next getMore answers 2 s late: the tick's event comes
	// back with the getMore already waiting, w1's only after the block.
	srv.FailPoint(bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: bson.D{{Key: "times", Value: 1}}},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"getMore"}}, {Key: "namespace", Value: "present.notes"},
			{Key: "blockConnection", Value: true}, {Key: "blockTimeMS", Value: 2000}}}})
	e.insert("notes", bson.D{{Key: "_id", Value: "tick"}, {Key: "owner", Value: "alice"}})
	waitFor(t, "the tick in the ring", func() bool { return appended() == 1 })
	e.insert("notes", bson.D{{Key: "_id", Value: "w1"}, {Key: "owner", Value: "alice"}})
	cur := e.pull(alice, "collections=notes").Cursor
	if n := appended(); n != 1 {
		t.Fatalf("the ring has %d changes at the pull, want 1 (the stream was to lag)", n)
	}
	e.insert("notes", bson.D{{Key: "_id", Value: "marker"}, {Key: "owner", Value: "alice"}})
	var ids []string
	waitFor(t, "the marker pulled", func() bool {
		p := e.pull(alice, "collections=notes&since="+url.QueryEscape(cur))
		ids = ids[:0]
		for _, c := range p.Changes {
			ids = append(ids, string(c.ID))
		}
		return slices.Contains(ids, `"marker"`)
	})
	if !slices.Equal(ids, []string{`"marker"`}) {
		t.Fatalf("changes after a since-less pull: %v, want only the marker (w1 was written before it)", ids)
	}
}

// fresh=true answers with every change committed before the request, even
// while the shared stream lags the database; a plain page answers from the
// ring, which does not have it yet.
func TestFreshPageHoldsEveryCommittedChange(t *testing.T) {
	srv := embeddedtest.Server(t, embedded.Config{EnableTestCommands: true})
	e := newEnvWith(t, srv.Client(nil).Database("fresh"), nil)
	alice := e.tok("alice")
	appended := func() uint64 { return e.gw.Stats().Collections["notes"].Appended }
	// The stream's next getMore answers 2 s late: the tick's event comes
	// back with the getMore already waiting, w1's only after the block.
	srv.FailPoint(bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: bson.D{{Key: "times", Value: 1}}},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"getMore"}}, {Key: "namespace", Value: "fresh.notes"},
			{Key: "blockConnection", Value: true}, {Key: "blockTimeMS", Value: 2000}}}})
	e.insert("notes", bson.D{{Key: "_id", Value: "tick"}, {Key: "owner", Value: "alice"}})
	waitFor(t, "the tick in the ring", func() bool { return appended() == 1 })
	cur := e.pull(alice, "collections=notes").Cursor
	e.insert("notes", bson.D{{Key: "_id", Value: "w1"}, {Key: "owner", Value: "alice"}})
	e.insert("notes", bson.D{{Key: "_id", Value: "other"}, {Key: "owner", Value: "bob"}})
	since := "collections=notes&since=" + url.QueryEscape(cur)
	fresh := e.pull(alice, since+"&fresh=true")
	if n := appended(); n != 1 {
		t.Fatalf("the ring has %d changes, want 1 (the stream was to lag)", n)
	}
	if len(fresh.Changes) != 1 || string(fresh.Changes[0].ID) != `"w1"` {
		t.Fatalf("fresh page = %+v, want w1 alone (bob's change is not alice's)", fresh.Changes)
	}
	if plain := e.pull(alice, since); len(plain.Changes) != 0 {
		t.Fatalf("plain page = %+v, want nothing yet (the ring lags)", plain.Changes)
	}
	for _, q := range []string{"&fresh=yes", "&fresh=true&live=longpoll"} {
		if r := e.do("GET", "/v1/changes?"+since+q, alice, ""); r.status != 400 {
			t.Fatalf("%s: %d %s, want 400", q, r.status, r.body)
		}
	}
	if r := e.do("GET", "/v1/changes?collections=notes&fresh=true", alice, ""); r.status != 400 {
		t.Fatalf("fresh without since: %d %s, want 400", r.status, r.body)
	}
}
