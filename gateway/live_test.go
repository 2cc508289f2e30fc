package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestLongPollWakesOnWrite: a long poll at the live edge answers with the
// next matching write, well before its timeout, and a write of another
// owner does not wake it with that owner's document.
func TestLongPollWakesOnWrite(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.tok("alice")
	cur := e.pull(alice, "collections=notes").Cursor
	type result struct {
		p   page
		err error
		d   time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		r := doReqNoFatal(e.srv.URL+"/v1/changes?collections=notes&live=longpoll&timeout=30&since="+url.QueryEscape(cur), alice)
		var p page
		err := r.err
		if err == nil {
			err = json.Unmarshal(r.body, &p)
		}
		done <- result{p, err, time.Since(start)}
	}()
	waitFor(t, "the long poll to wait", func() bool { return e.gw.Stats().LiveClients == 1 })
	e.insert("notes", bson.D{{Key: "_id", Value: "b"}, {Key: "owner", Value: "bob"}})
	e.insert("notes", bson.D{{Key: "_id", Value: "a"}, {Key: "owner", Value: "alice"}})
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if len(r.p.Changes) != 1 || r.p.Changes[0].Doc["owner"] != "alice" {
			t.Fatalf("long poll answered %+v, want alice's insert only", r.p)
		}
		if r.d > 20*time.Second {
			t.Fatalf("long poll answered after %s: it waited for its timeout, not the write", r.d)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("the long poll did not answer after a write")
	}
}

// TestLongPollTimeout: without a change, a long poll answers an empty page
// with a cursor once its timeout passes.
func TestLongPollTimeout(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.tok("alice")
	p := e.pull(alice, "collections=notes&live=longpoll&timeout=0.2")
	if len(p.Changes) != 0 || p.Cursor == "" {
		t.Fatalf("timed-out long poll: %+v", p)
	}
}

type rawReply struct {
	status int
	body   []byte
	err    error
}

func doReqNoFatal(u, tok string) rawReply {
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return rawReply{err: err}
	}
	defer res.Body.Close()
	var b []byte
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			break
		}
	}
	return rawReply{status: res.StatusCode, body: b}
}

// openSSE starts a live=sse request and returns its events.
func openSSE(t *testing.T, e *env, tok, query string, hdr http.Header) (<-chan sseEvent, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/changes?live=sse&"+query, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("SSE: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	ch := make(chan sseEvent, 100)
	go readSSE(res.Body, ch)
	t.Cleanup(func() {
		cancel()
		res.Body.Close()
		for range ch {
		}
	})
	return ch, res
}

func next(t *testing.T, ch <-chan sseEvent, skipComments bool) sseEvent {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("the SSE stream ended")
			}
			if ev.comment && skipComments {
				continue
			}
			return ev
		case <-timeout:
			t.Fatal("no SSE event within 20 s")
		}
	}
}

// TestSSEDeliversWritesAndHeartbeats: an SSE stream starts with "ready",
// sends heartbeats while idle, delivers the caller's write as a "change"
// whose id resumes after it, and a reconnect with Last-Event-ID continues
// from there.
func TestSSEDeliversWritesAndHeartbeats(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.tok("alice")
	ch, _ := openSSE(t, e, alice, "collections=notes", nil)
	ready := next(t, ch, true)
	if ready.event != "ready" || ready.id == "" {
		t.Fatalf("first event %+v, want ready with a cursor", ready)
	}
	if ev := next(t, ch, false); !ev.comment {
		t.Fatalf("idle stream sent %+v, want a heartbeat comment", ev)
	}
	e.insert("notes", bson.D{{Key: "_id", Value: "x"}, {Key: "owner", Value: "bob"}})
	e.insert("notes", bson.D{{Key: "_id", Value: "y"}, {Key: "owner", Value: "alice"}, {Key: "at", Value: bson.NewDateTimeFromTime(time.UnixMilli(1700000000000))}})
	ev := next(t, ch, true)
	if ev.event != "change" || ev.id == "" {
		t.Fatalf("event %+v, want a change", ev)
	}
	var c struct {
		Op  string         `json:"op"`
		ID  string         `json:"id"`
		Doc map[string]any `json:"doc"`
	}
	if err := json.Unmarshal([]byte(ev.data), &c); err != nil {
		t.Fatal(err)
	}
	if c.ID != "y" || c.Op != "insert" || c.Doc["at"].(map[string]any)["$date"] != "2023-11-14T22:13:20Z" {
		t.Fatalf("change %s: want alice's insert with its date as relaxed extended JSON", ev.data)
	}
	// Resume from the change's id: the next change only.
	ch2, _ := openSSE(t, e, alice, "collections=notes", http.Header{"Last-Event-ID": {ev.id}})
	if r := next(t, ch2, true); r.event != "ready" || r.id != ev.id {
		t.Fatalf("resumed stream starts with %+v, want ready at the last event id", r)
	}
	e.insert("notes", bson.D{{Key: "_id", Value: "z"}, {Key: "owner", Value: "alice"}})
	if ev := next(t, ch2, true); ev.event != "change" || !json.Valid([]byte(ev.data)) || !strings.Contains(ev.data, `"id":"z"`) {
		t.Fatalf("resumed stream: %+v, want the change of z", ev)
	}
	// An EventSource reconnects to the URL it was opened with: its since
	// is where it started, Last-Event-ID where it is. The latter wins.
	ch3, _ := openSSE(t, e, alice, "collections=notes&since="+url.QueryEscape(ready.id), http.Header{"Last-Event-ID": {ev.id}})
	if r := next(t, ch3, true); r.event != "ready" || r.id != ev.id {
		t.Fatalf("reconnect with since and Last-Event-ID starts with %+v, want ready at the last event id", r)
	}
}

// TestStopEndsSSE: Stop sends "end" to open SSE streams and closes them,
// and returns promptly.
func TestStopEndsSSE(t *testing.T) {
	e := newEnv(t, nil)
	ch, _ := openSSE(t, e, e.tok("alice"), "collections=notes", nil)
	if ev := next(t, ch, true); ev.event != "ready" {
		t.Fatalf("first event %+v", ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.gw.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, ch, true); ev.event != "end" {
		t.Fatalf("after Stop: %+v, want end", ev)
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("the stream went on after end")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream was not closed after end")
	}
	if err := e.gw.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := e.gw.Start(ctx); err != ErrStopped {
		t.Fatalf("Start after Stop: %v, want ErrStopped", err)
	}
}

// TestLiveClientsShareOneStream: many live clients on two collections hold
// exactly one server change stream per collection, and all of them get a
// write.
func TestLiveClientsShareOneStream(t *testing.T) {
	e := newEnv(t, nil)
	const clients = 20
	before := openCursors(t, e)
	if before < int64(len(testRules())) {
		t.Fatalf("the server has %d open cursors, fewer than the gateway's %d change streams", before, len(testRules()))
	}
	var chans []<-chan sseEvent
	for i := range clients {
		q := "collections=notes,board"
		if i%2 == 0 {
			q = "collections=board"
		}
		ch, _ := openSSE(t, e, e.tok("user"), q, nil)
		if ev := next(t, ch, true); ev.event != "ready" {
			t.Fatalf("client %d: %+v", i, ev)
		}
		chans = append(chans, ch)
	}
	if s := e.gw.Stats(); s.LiveClients != clients || s.ServerStreams != len(testRules()) {
		t.Fatalf("%d live clients hold %d server streams, want %d (one per collection)", s.LiveClients, s.ServerStreams, len(testRules()))
	}
	if after := openCursors(t, e); after != before {
		t.Fatalf("%d live clients changed the server's open cursors from %d to %d, want no change", clients, before, after)
	}
	e.insert("board", bson.D{{Key: "_id", Value: "news"}})
	for i, ch := range chans {
		if ev := next(t, ch, true); ev.event != "change" || !strings.Contains(ev.data, `"news"`) {
			t.Fatalf("client %d: %+v, want the board change", i, ev)
		}
	}
}

// openCursors is the server's count of open cursors (serverStatus
// metrics.cursor.open.total): a change stream waiting for events is one.
func openCursors(t *testing.T, e *env) int64 {
	t.Helper()
	var st struct {
		Metrics struct {
			Cursor struct {
				Open struct {
					Total int64 `bson:"total"`
				} `bson:"open"`
			} `bson:"cursor"`
		} `bson:"metrics"`
	}
	if err := e.db.Client().Database("admin").RunCommand(context.Background(), bson.D{{Key: "serverStatus", Value: 1}}).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Metrics.Cursor.Open.Total
}
