package gateway

import (
	"net/url"
	"testing"

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
