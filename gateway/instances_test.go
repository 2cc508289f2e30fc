package gateway

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestCursorValidOnAnotherInstance: two gateways with the same key on the
// same database, as behind a load balancer. A cursor issued by one
// continues on the other, including one issued before the other started
// (served from the database's history) and one at its live edge.
func TestCursorValidOnAnotherInstance(t *testing.T) {
	a := newEnv(t, nil)
	alice := a.tok("alice")
	early := a.pull(alice, "collections=notes").Cursor
	a.insert("notes", bson.D{{Key: "_id", Value: 1}, {Key: "owner", Value: "alice"}})

	b := newEnvWith(t, a.db, nil)

	p := b.pull(alice, "collections=notes&since="+url.QueryEscape(early))
	if len(p.Changes) != 1 || string(p.Changes[0].ID) != "1" {
		t.Fatalf("instance B with A's cursor from before B started: %+v", p)
	}
	if b.gw.Stats().Collections["notes"].HistoryReads == 0 {
		t.Fatal("B served a cursor older than its stream without reading history: the test did not test it")
	}
	live := p.Cursor
	a.insert("notes", bson.D{{Key: "_id", Value: 2}, {Key: "owner", Value: "alice"}})
	var got []string
	waitFor(t, "the second change through A with B's cursor", func() bool {
		p := a.pull(alice, "collections=notes&since="+url.QueryEscape(live))
		for _, c := range p.Changes {
			got = append(got, string(c.ID))
		}
		live = p.Cursor
		return len(got) > 0
	})
	if len(got) != 1 || got[0] != "2" {
		t.Fatalf("A with B's cursor: %v, want [2]", got)
	}
}

// TestLongPollTwoCollections: a long poll over two collections wakes on a
// change in either.
func TestLongPollTwoCollections(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.tok("alice")
	cur := e.pull(alice, "collections=notes,board").Cursor
	done := make(chan rawReply, 1)
	start := time.Now()
	go func() {
		done <- doReqNoFatal(e.srv.URL+"/v1/changes?collections=notes,board&live=longpoll&timeout=30&since="+url.QueryEscape(cur), alice)
	}()
	waitFor(t, "the long poll to wait", func() bool { return e.gw.Stats().LiveClients == 1 })
	e.insert("board", bson.D{{Key: "_id", Value: "news"}})
	select {
	case r := <-done:
		var p page
		if err := json.Unmarshal(r.body, &p); err != nil || len(p.Changes) != 1 || p.Changes[0].Collection != "board" {
			t.Fatalf("long poll: %d %s", r.status, r.body)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("answered after %s: woke by its timeout", d)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("the long poll did not wake on the second collection's change")
	}
}
