package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/embedded/embeddedtest"
	"github.com/mongotide/mongotide/gateway"
	"github.com/mongotide/mongotide/gateway/client"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestConfigValidate: New refuses each invalid field, naming it, and
// wraps ErrInvalidConfig.
func TestConfigValidate(t *testing.T) {
	src := func(context.Context) (string, error) { return "t", nil }
	for _, tc := range []struct {
		name string
		cfg  client.Config
		want string
	}{
		{"no base URL", client.Config{Token: "t"}, "BaseURL is required"},
		{"bad scheme", client.Config{BaseURL: "ftp://x", Token: "t"}, "scheme"},
		{"no host", client.Config{BaseURL: "http://", Token: "t"}, "no host"},
		{"query", client.Config{BaseURL: "http://x/?a=1", Token: "t"}, "query"},
		{"no token", client.Config{BaseURL: "http://x"}, "Token or TokenSource"},
		{"both tokens", client.Config{BaseURL: "http://x", Token: "t", TokenSource: src}, "exclude"},
		{"short HTTP timeout", client.Config{BaseURL: "http://x", Token: "t", HTTPClient: &http.Client{Timeout: time.Second}}, "HTTPClient.Timeout"},
	} {
		_, err := client.New(tc.cfg)
		if !errors.Is(err, client.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, want ErrInvalidConfig naming %q", tc.name, err, tc.want)
		}
	}
	if _, err := client.New(client.Config{BaseURL: "https://gw.example/prefix/", TokenSource: src}); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
}

// TestChangesPages: pulling in pages of 2 from a cursor returns alice's
// five inserts in commit order, none of bob's, full pages say More, and
// the last cursor has nothing after it.
func TestChangesPages(t *testing.T) {
	s := newServer(t, nil)
	c := s.client(t, token(t, "alice"), nil)
	ctx := t.Context()
	start, err := c.Changes(ctx, []string{"notes"}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(start.Changes) != 0 || start.Cursor == "" {
		t.Fatalf("pull without since: %+v, want no changes and a cursor", start)
	}
	for i := 1; i <= 5; i++ {
		s.insert("notes", note(fmt.Sprint("b", i), "bob"), note(fmt.Sprint("a", i), "alice"))
	}
	var got []string
	cur := start.Cursor
	pages := 0
	waitFor(t, "alice's 5 inserts pulled", func() bool {
		p, err := c.Changes(ctx, []string{"notes"}, cur, 2)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if p.More != (len(p.Changes) == 2) {
			t.Fatalf("page of %d changes with More=%v (limit 2)", len(p.Changes), p.More)
		}
		got = append(got, ids(p.Changes)...)
		cur = p.Cursor
		return len(got) >= 5
	})
	want := []string{"insert:a1", "insert:a2", "insert:a3", "insert:a4", "insert:a5"}
	if !slices.Equal(got, want) {
		t.Fatalf("pulled %v, want %v", got, want)
	}
	if pages < 3 {
		t.Fatalf("5 changes in %d pages of at most 2", pages)
	}
	p, err := c.Changes(ctx, []string{"notes"}, cur, 2)
	if err != nil || len(p.Changes) != 0 || p.More {
		t.Fatalf("after the last change: %+v, %v; want an empty page", p, err)
	}
}

// TestLongpollWakesOnWrite: a long poll answers with alice's write as
// soon as it is made, long before its 30 s wait, and not with bob's.
func TestLongpollWakesOnWrite(t *testing.T) {
	s := newServer(t, nil)
	c := s.client(t, token(t, "alice"), nil)
	start, err := c.Changes(t.Context(), []string{"notes"}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		p   *client.Page
		err error
		d   time.Duration
	}
	done := make(chan result, 1)
	go func() {
		t0 := time.Now()
		p, err := c.Longpoll(t.Context(), []string{"notes"}, start.Cursor, 30*time.Second)
		done <- result{p, err, time.Since(t0)}
	}()
	waitFor(t, "the long poll to wait at the gateway", func() bool { return s.gw().Stats().LiveClients == 1 })
	s.insert("notes", note("b1", "bob"), note("a1", "alice"))
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := ids(r.p.Changes); !slices.Equal(got, []string{"insert:a1"}) {
		t.Fatalf("long poll answered %v, want alice's insert only", got)
	}
	if r.d > 20*time.Second {
		t.Fatalf("long poll answered after %s: it waited for its timeout, not the write", r.d)
	}
}

// TestUnauthorizedIsTerminal: a token the gateway does not accept is
// ErrUnauthorized with the server's code, sent once (not retried), and a
// subscription with it ends with that error instead of reconnecting.
func TestUnauthorizedIsTerminal(t *testing.T) {
	s := newServer(t, nil)
	good := s.client(t, token(t, "alice"), nil)
	start, err := good.Changes(t.Context(), []string{"notes"}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	forged := tokenWith(t, []byte("another-secret-another-secret-0123456789"), "alice", time.Hour)
	bad := s.client(t, forged, nil)

	_, err = bad.Changes(t.Context(), []string{"notes"}, start.Cursor, 0)
	var ae *client.APIError
	if !errors.Is(err, client.ErrUnauthorized) || !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "unauthenticated" {
		t.Fatalf("pull with a forged token: %v; want ErrUnauthorized with code unauthenticated", err)
	}
	if n := s.gw().Stats().Refused; n != 1 {
		t.Fatalf("the gateway refused %d requests, want 1: a 401 must not be retried", n)
	}

	if _, err := bad.Subscribe(t.Context(), []string{"notes"}, "", func(context.Context, client.Change) error { return nil }); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("Subscribe without since, forged token: %v; want ErrUnauthorized at once", err)
	}
	// With a cursor, the first request is the stream's own: the error
	// arrives through Err.
	sub, err := bad.Subscribe(t.Context(), []string{"notes"}, start.Cursor, func(context.Context, client.Change) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub.Closed():
	case <-time.After(20 * time.Second):
		t.Fatal("a subscription with a forged token still runs: it retries a 401")
	}
	if err := sub.Err(); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("subscription ended with %v, want ErrUnauthorized", err)
	}
	if n := s.gw().Stats().Refused; n != 3 {
		t.Fatalf("the gateway refused %d requests, want 3 (pull, Subscribe's pull, one stream)", n)
	}
}

// TestExpiredTokenEndsSubscription: a subscription whose TokenSource hands
// out an expired token at its next reconnection (the gateway restarted)
// ends with ErrUnauthorized rather than retrying forever.
func TestExpiredTokenEndsSubscription(t *testing.T) {
	s := newServer(t, nil)
	var tok atomic.Value
	tok.Store(token(t, "alice"))
	c := s.client(t, "", func(cfg *client.Config) {
		cfg.TokenSource = func(context.Context) (string, error) { return tok.Load().(string), nil }
	})
	sub, err := c.Subscribe(t.Context(), []string{"notes"}, "", func(context.Context, client.Change) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	waitConnected(t, sub)
	tok.Store(tokenWith(t, testSecret, "alice", -time.Minute))
	s.stop() // the stream ends: the next connection uses the expired token
	s.start()
	select {
	case <-sub.Closed():
	case <-time.After(20 * time.Second):
		t.Fatal("the subscription did not end on an expired token")
	}
	if err := sub.Err(); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("Err = %v, want ErrUnauthorized", err)
	}
}

// TestForbiddenAndRejectedCursor: a collection without a rule is
// ErrForbidden; a cursor of another collection list or another owner is
// ErrCursorRejected, for a pull and for a subscription (which ends).
func TestForbiddenAndRejectedCursor(t *testing.T) {
	s := newServer(t, nil)
	alice := s.client(t, token(t, "alice"), nil)
	bob := s.client(t, token(t, "bob"), nil)
	ctx := t.Context()
	if _, err := alice.Changes(ctx, []string{"unruled"}, "", 0); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("pull of a collection without a rule: %v, want ErrForbidden", err)
	}
	if _, err := alice.Changes(ctx, []string{"secrets"}, "", 0); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("pull without the role: %v, want ErrForbidden", err)
	}
	p, err := alice.Changes(ctx, []string{"notes"}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Changes(ctx, []string{"notes", "board"}, p.Cursor, 0); !errors.Is(err, client.ErrCursorRejected) {
		t.Fatalf("cursor of another collection list: %v, want ErrCursorRejected", err)
	}
	if _, err := bob.Changes(ctx, []string{"notes"}, p.Cursor, 0); !errors.Is(err, client.ErrCursorRejected) {
		t.Fatalf("alice's cursor with bob's token: %v, want ErrCursorRejected", err)
	}
	sub, err := bob.Subscribe(ctx, []string{"notes"}, p.Cursor, func(context.Context, client.Change) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub.Closed():
	case <-time.After(20 * time.Second):
		t.Fatal("a subscription with a refused cursor still runs")
	}
	if err := sub.Err(); !errors.Is(err, client.ErrCursorRejected) {
		t.Fatalf("subscription with alice's cursor as bob: %v, want ErrCursorRejected", err)
	}
}

// TestSubscriptionSurvivesRestart: a subscription gets alice's changes
// made before, while and after its gateway is replaced by another on the
// same database and cursor key, each exactly once and in order.
func TestSubscriptionSurvivesRestart(t *testing.T) {
	s := newServer(t, nil)
	c := s.client(t, token(t, "alice"), nil)
	rec := &recorder{}
	sub, err := c.Subscribe(t.Context(), []string{"notes"}, "", rec.handle)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	write := func(from, to int) {
		for i := from; i <= to; i++ {
			s.insert("notes", note(fmt.Sprint("b", i), "bob"), note(fmt.Sprint("a", i), "alice"))
			want = append(want, fmt.Sprint("insert:a", i))
		}
	}
	got := func() string { return fmt.Sprint(ids(rec.changes())) }
	write(1, 5)
	waitFor(t, "the first 5 changes", func() bool { return len(rec.changes()) >= 5 }, got)
	if sub.Stats().Heartbeats == 0 {
		// The gateway sends one every 50 ms here; a stream delivering
		// changes but no heartbeats would be cut by the watchdog.
		waitFor(t, "a heartbeat", func() bool { return sub.Stats().Heartbeats > 0 })
	}

	s.stop()
	write(6, 10) // while no gateway serves: in the database's history
	if err := c.Ready(t.Context()); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("Ready on a stopped gateway: %v, want ErrUnavailable", err)
	}
	s.start()
	write(11, 15)
	waitFor(t, "all 15 changes after the restart", func() bool { return len(rec.changes()) >= 15 }, got)
	if g := ids(rec.changes()); !slices.Equal(g, want) {
		t.Fatalf("received %v,\nwant %v (exactly once, in order)", g, want)
	}
	if st := sub.Stats(); st.Reconnects == 0 || st.Delivered != 15 {
		t.Fatalf("stats %+v: want a reconnection and 15 delivered", st)
	}
	if err := sub.Err(); err != nil {
		t.Fatalf("the subscription ended: %v", err)
	}
	// The cursor is after the last change: nothing more to pull.
	p, err := c.Changes(t.Context(), []string{"notes"}, sub.Cursor(), 0)
	if err != nil || len(p.Changes) != 0 {
		t.Fatalf("pull from the subscription's cursor: %v %v, want nothing", ids(p.Changes), err)
	}
	if err := sub.Stop(t.Context()); err != nil || sub.Err() != nil {
		t.Fatalf("Stop = %v, Err = %v; want nil, nil", err, sub.Err())
	}
}

// TestSubscriptionCutsSilentStream: a stream that sends nothing for
// HeartbeatTimeout (here the gateway's heartbeats are an hour apart) is
// taken for dead and reopened from the cursor; a change made afterwards
// arrives once.
func TestSubscriptionCutsSilentStream(t *testing.T) {
	s := newServer(t, func(cfg *gateway.Config) { cfg.Heartbeat = time.Hour })
	var errs atomic.Int64
	var lastErr atomic.Value
	c := s.client(t, token(t, "alice"), func(cfg *client.Config) {
		cfg.HeartbeatTimeout = 200 * time.Millisecond
		cfg.OnError = func(err error) { errs.Add(1); lastErr.Store(err.Error()) }
	})
	rec := &recorder{}
	sub, err := c.Subscribe(t.Context(), []string{"notes"}, "", rec.handle)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two reconnections of silent streams", func() bool { return sub.Stats().Reconnects >= 2 })
	if e, _ := lastErr.Load().(string); !strings.Contains(e, "silent") {
		t.Fatalf("OnError got %q, want the silent stream named", e)
	}
	s.insert("notes", note("a1", "alice"))
	waitFor(t, "alice's change", func() bool { return len(rec.changes()) == 1 })
	if g := ids(rec.changes()); !slices.Equal(g, []string{"insert:a1"}) {
		t.Fatalf("got %v", g)
	}
	if sub.Err() != nil {
		t.Fatal(sub.Err())
	}
}

// TestHandlerErrorEndsSubscription: a handler's error ends the
// subscription with that error and leaves the cursor before the refused
// change, so that pulling from it gets that change first.
func TestHandlerErrorEndsSubscription(t *testing.T) {
	s := newServer(t, nil)
	c := s.client(t, token(t, "alice"), nil)
	errFull := errors.New("disk full")
	var n atomic.Int64
	sub, err := c.Subscribe(t.Context(), []string{"notes"}, "", func(context.Context, client.Change) error {
		if n.Add(1) == 2 {
			return errFull
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.insert("notes", note("a1", "alice"), note("a2", "alice"), note("a3", "alice"))
	select {
	case <-sub.Closed():
	case <-time.After(20 * time.Second):
		t.Fatal("the subscription did not end on its handler's error")
	}
	if !errors.Is(sub.Err(), errFull) {
		t.Fatalf("Err = %v, want the handler's error", sub.Err())
	}
	// a3 may not have reached the gateway's stream yet: pull until it has.
	var got []string
	cur := sub.Cursor()
	waitFor(t, "a2 and a3 pulled from the subscription's cursor", func() bool {
		p, err := c.Changes(t.Context(), []string{"notes"}, cur, 0)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(p.Changes)...)
		cur = p.Cursor
		return len(got) >= 2
	})
	if !slices.Equal(got, []string{"insert:a2", "insert:a3"}) {
		t.Fatalf("pull from the cursor after a handler error: %v, want a2, a3", got)
	}
}

// TestCloseStopsSubscriptions: Close ends every subscription (Err nil: it
// was asked to) and later calls say ErrClosed.
func TestCloseStopsSubscriptions(t *testing.T) {
	s := newServer(t, nil)
	c := s.client(t, token(t, "alice"), nil)
	sub, err := c.Subscribe(t.Context(), []string{"notes", "board"}, "", func(context.Context, client.Change) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	waitConnected(t, sub)
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub.Closed():
	default:
		t.Fatal("Close returned before the subscription ended")
	}
	if sub.Err() != nil {
		t.Fatalf("Err after Close = %v, want nil", sub.Err())
	}
	if _, err := c.Changes(t.Context(), []string{"notes"}, "", 0); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Changes after Close: %v, want ErrClosed", err)
	}
	if _, err := c.Subscribe(t.Context(), []string{"notes"}, sub.Cursor(), func(context.Context, client.Change) error { return nil }); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Subscribe after Close: %v, want ErrClosed", err)
	}
	waitFor(t, "the gateway to see the stream closed", func() bool { return s.gw().Stats().LiveClients == 0 })
}

// TestSnapshotThenChangesGapFree: while alice's and bob's documents are
// inserted, updated and deleted, alice takes a snapshot in pages of 4 and
// then pulls from its cursor; applying both gives exactly her documents
// in the database, with none of bob's ever seen.
func TestSnapshotThenChangesGapFree(t *testing.T) {
	s := newServer(t, nil)
	c := s.client(t, token(t, "alice"), nil)
	ctx := t.Context()
	owner := func(i int) string { return []string{"alice", "bob"}[i%2] }
	for i := range 40 {
		s.insert("notes", note(i, owner(i), bson.E{Key: "v", Value: 0}))
	}
	coll := s.db.Collection("notes")
	writer := make(chan error, 1)
	go func() {
		for round := 1; round <= 5; round++ {
			for i := range 50 {
				var err error
				switch {
				case i >= 40 && round == 1:
					_, err = coll.InsertOne(ctx, note(i, owner(i), bson.E{Key: "v", Value: round}))
				case i%7 == round:
					_, err = coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: i}})
				default:
					_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: i}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: round}}}})
				}
				if err != nil {
					writer <- err
					return
				}
			}
		}
		writer <- nil
	}()

	state := map[string]bson.Raw{}
	seenOwner := func(d bson.Raw) {
		if o, _ := d.Lookup("owner").StringValueOK(); o != "alice" {
			t.Fatalf("alice received a document of %q: %s", o, d)
		}
	}
	pages := 0
	cursor, err := c.Snapshot(ctx, "notes", 4, func(docs []client.Document) error {
		pages++
		for _, d := range docs {
			seenOwner(d.Doc)
			state[d.ID().String()] = d.Doc
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pages < 2 || cursor == "" {
		t.Fatalf("snapshot: %d pages, cursor %q", pages, cursor)
	}
	if err := <-writer; err != nil {
		t.Fatal(err)
	}
	s.insert("notes", note("done", "alice"))
	waitFor(t, "the pull to reach the marker written last", func() bool {
		p, err := c.Changes(ctx, []string{"notes"}, cursor, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range p.Changes {
			if ch.Op == client.OpDelete {
				delete(state, ch.ID.String())
				continue
			}
			seenOwner(ch.Doc)
			state[ch.ID.String()] = ch.Doc
		}
		cursor = p.Cursor
		_, ok := state[`"done"`]
		return ok
	})
	cur, err := coll.Find(ctx, bson.D{{Key: "owner", Value: "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	var want []bson.Raw
	if err := cur.All(ctx, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(state) {
		t.Fatalf("client has %d documents, the database %d of alice's", len(state), len(want))
	}
	for _, d := range want {
		got, ok := state[d.Lookup("_id").String()]
		if !ok || !bson.Raw(got).Lookup("v").Equal(d.Lookup("v")) {
			t.Fatalf("document %s: client has %s", d, got)
		}
	}
}

// TestGetAndQueryRoundTripTypes: an ObjectID _id, a date, a 64-bit integer
// beyond 2^53 and a string that looks like an ObjectID come back from Get,
// Query and a pull with their BSON types; filters on dates and ObjectIDs
// work; bob's document is ErrNotFound for alice and never in her query.
func TestGetAndQueryRoundTripTypes(t *testing.T) {
	s := newServer(t, nil)
	c := s.client(t, token(t, "alice"), nil)
	ctx := t.Context()
	start, err := c.Changes(ctx, []string{"notes"}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	oid := bson.NewObjectID()
	at := time.Date(2026, 12, 5, 10, 30, 0, 123e6, time.UTC)
	big := int64(1)<<60 + 1
	hexString := bson.NewObjectID().Hex() // a string id, not an ObjectID
	s.insert("notes",
		note(oid, "alice", bson.E{Key: "at", Value: at}, bson.E{Key: "n", Value: big}, bson.E{Key: "tags", Value: bson.A{"x", int32(2)}}),
		note(hexString, "alice", bson.E{Key: "at", Value: at.Add(-time.Hour)}),
		note(bson.NewObjectID(), "bob", bson.E{Key: "at", Value: at}),
	)
	check := func(where string, d bson.Raw) {
		t.Helper()
		if got, ok := d.Lookup("_id").ObjectIDOK(); !ok || got != oid {
			t.Fatalf("%s: _id %s, want ObjectID %s", where, d.Lookup("_id"), oid.Hex())
		}
		if got, ok := d.Lookup("at").TimeOK(); !ok || !got.Equal(at) {
			t.Fatalf("%s: at %s, want the date %s", where, d.Lookup("at"), at)
		}
		if got, ok := d.Lookup("n").Int64OK(); !ok || got != big {
			t.Fatalf("%s: n %s, want int64 %d", where, d.Lookup("n"), big)
		}
		var m bson.M
		if err := bson.Unmarshal(d, &m); err != nil || m["tags"] == nil {
			t.Fatalf("%s: decoding into bson.M: %v %v", where, m, err)
		}
	}
	doc, err := c.Get(ctx, "notes", oid)
	if err != nil {
		t.Fatal(err)
	}
	check("Get", doc.Doc)
	doc, err = c.Get(ctx, "notes", hexString)
	if err != nil {
		t.Fatalf("Get of a string id that looks like an ObjectID: %v", err)
	}
	if got, ok := doc.ID().StringValueOK(); !ok || got != hexString {
		t.Fatalf("Get(%q) = %s, want the string id", hexString, doc.Doc)
	}

	docs, err := c.Query(ctx, "notes", client.Query{
		Filter: bson.D{{Key: "at", Value: bson.D{{Key: "$gte", Value: at}}}},
		Sort:   bson.D{{Key: "at", Value: -1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 {
		t.Fatalf("query at >= %s: %d documents, want alice's one (bob's has the same date)", at, len(docs))
	}
	check("Query", docs[0].Doc)
	docs, err = c.Query(ctx, "notes", client.Query{Filter: bson.D{{Key: "_id", Value: oid}}, Projection: bson.D{{Key: "at", Value: 1}}})
	if err != nil || len(docs) != 1 || docs[0].Doc.Lookup("n").Type != 0 {
		t.Fatalf("query by ObjectID with a projection: %v %v", docs, err)
	}
	all, err := c.Query(ctx, "notes", client.Query{})
	if err != nil || len(all) != 2 {
		t.Fatalf("query of everything: %d documents, %v; want alice's 2", len(all), err)
	}

	var bobDoc struct {
		ID bson.ObjectID `bson:"_id"`
	}
	if err := s.db.Collection("notes").FindOne(ctx, bson.D{{Key: "owner", Value: "bob"}}).Decode(&bobDoc); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "notes", bobDoc.ID); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Get of bob's document as alice: %v, want ErrNotFound", err)
	}

	var pulled []client.Change
	waitFor(t, "alice's two inserts pulled", func() bool {
		p, err := c.Changes(ctx, []string{"notes"}, start.Cursor, 0)
		if err != nil {
			t.Fatal(err)
		}
		pulled = p.Changes
		return len(pulled) >= 2
	})
	if len(pulled) != 2 {
		t.Fatalf("pulled %v, want alice's 2 inserts", ids(pulled))
	}
	if got, ok := pulled[0].ID.ObjectIDOK(); !ok || got != oid {
		t.Fatalf("the pulled change's id is %s, want ObjectID %s", pulled[0].ID, oid.Hex())
	}
	check("pull", pulled[0].Doc)
}

// TestHealthReadyStats: health and readiness of a running gateway; stats
// need an admin role; every field the client's Stats reads is one the
// gateway sends.
func TestHealthReadyStats(t *testing.T) {
	s := newServer(t, nil)
	alice := s.client(t, token(t, "alice"), nil)
	admin := s.client(t, token(t, "ops", "admin"), nil)
	ctx := t.Context()
	if err := alice.Health(ctx); err != nil {
		t.Fatal(err)
	}
	if err := alice.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Stats(ctx); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("stats without the admin role: %v, want ErrForbidden", err)
	}
	st, err := admin.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ServerStreams != 3 || st.Collections["notes"].State != "open" || st.StartedAt.IsZero() {
		t.Fatalf("stats %+v: want 3 streams, notes open, a start time", st)
	}
	b, err := json.Marshal(gateway.Stats{Collections: map[string]gateway.CollectionStats{"x": {Error: "e"}}})
	if err != nil {
		t.Fatal(err)
	}
	var sent map[string]any
	_ = json.Unmarshal(b, &sent)
	for _, f := range reflect.VisibleFields(reflect.TypeFor[client.Stats]()) {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if _, ok := sent[name]; !ok {
			t.Errorf("client.Stats.%s reads %q, which gateway.Stats does not send", f.Name, name)
		}
	}
	coll := sent["collections"].(map[string]any)["x"].(map[string]any)
	for _, f := range reflect.VisibleFields(reflect.TypeFor[client.CollectionStats]()) {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if _, ok := coll[name]; !ok {
			t.Errorf("client.CollectionStats.%s reads %q, which gateway.CollectionStats does not send", f.Name, name)
		}
	}
}

// TestRetriesServerErrors: 502s in front of the gateway are retried (the
// pull succeeds on the third attempt); when they outlast MaxRetries the
// error is ErrUnavailable with the status, after exactly 1+MaxRetries
// attempts; a 4xx is never retried.
func TestRetriesServerErrors(t *testing.T) {
	s := newServer(t, nil)
	var failures, attempts atomic.Int64
	m := middleware(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		attempts.Add(1)
		if failures.Add(-1) >= 0 {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		next.ServeHTTP(w, r)
	})
	s.wrap.Store(&m)
	c := s.client(t, token(t, "alice"), func(cfg *client.Config) { cfg.MaxRetries = 3 })
	failures.Store(2)
	if _, err := c.Changes(t.Context(), []string{"notes"}, "", 0); err != nil {
		t.Fatalf("pull after two 502s: %v", err)
	}
	if n := attempts.Load(); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
	attempts.Store(0)
	failures.Store(100)
	_, err := c.Changes(t.Context(), []string{"notes"}, "", 0)
	var ae *client.APIError
	if !errors.Is(err, client.ErrUnavailable) || !errors.As(err, &ae) || ae.Status != 502 {
		t.Fatalf("pull under lasting 502s: %v, want ErrUnavailable with status 502", err)
	}
	if n := attempts.Load(); n != 4 {
		t.Fatalf("%d attempts, want 1 + MaxRetries = 4", n)
	}
	attempts.Store(0)
	failures.Store(0)
	if _, err := c.Get(t.Context(), "notes", "missing"); !errors.Is(err, client.ErrNotFound) || attempts.Load() != 1 {
		t.Fatalf("Get of a missing document: %v after %d attempts, want ErrNotFound after 1", err, attempts.Load())
	}
}

// TestCursorExpiredIsTerminal: a cursor older than the database's history
// (the change stream opened for it fails with 286) is ErrCursorExpired for
// a pull (410) and ends a subscription (the SSE error event) with it,
// instead of reconnecting to the same answer.
func TestCursorExpiredIsTerminal(t *testing.T) {
	srv := embeddedtest.Server(t, embedded.Config{})
	// A ring of one change: the start cursor is soon older than it, so
	// the gateway reads the database's history for it.
	s := newServerOn(t, srv.Client(nil).Database("expiry"), func(cfg *gateway.Config) { cfg.RingSize = 1 })
	c := s.client(t, token(t, "alice"), nil)
	ctx := t.Context()
	start, err := c.Changes(ctx, []string{"notes"}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	s.insert("notes", note("a1", "alice"), note("a2", "alice"), note("a3", "alice"))
	waitFor(t, "the ring to drop the first changes", func() bool { return s.gw().Stats().Collections["notes"].Evicted >= 2 })
	historyLost := bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: bson.D{{Key: "times", Value: 1}}},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"aggregate"}}, {Key: "namespace", Value: "expiry.notes"}, {Key: "errorCode", Value: 286}}}}

	srv.FailPoint(historyLost)
	_, err = c.Changes(ctx, []string{"notes"}, start.Cursor, 0)
	var ae *client.APIError
	if !errors.Is(err, client.ErrCursorExpired) || !errors.As(err, &ae) || ae.Status != 410 {
		t.Fatalf("pull from a cursor past the history: %v, want ErrCursorExpired (410)", err)
	}

	srv.FailPoint(historyLost)
	sub, err := c.Subscribe(ctx, []string{"notes"}, start.Cursor, func(context.Context, client.Change) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub.Closed():
	case <-time.After(20 * time.Second):
		t.Fatal("a subscription past the history still runs")
	}
	if err := sub.Err(); !errors.Is(err, client.ErrCursorExpired) {
		t.Fatalf("subscription past the history ended with %v, want ErrCursorExpired", err)
	}
	if n := sub.Stats().Delivered; n != 0 {
		t.Fatalf("%d changes delivered from a cursor past the history", n)
	}
}

// TestRateLimitedWaitsRetryAfter: a 429 is retried after the Retry-After
// the gateway asked for, not after the (much shorter) backoff.
func TestRateLimitedWaitsRetryAfter(t *testing.T) {
	s := newServer(t, nil)
	var limited atomic.Bool
	limited.Store(true)
	m := middleware(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if limited.CompareAndSwap(true, false) {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error":{"code":"rate_limited","message":"too many requests for this client"}}`, http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
	s.wrap.Store(&m)
	c := s.client(t, token(t, "alice"), nil)
	t0 := time.Now()
	if _, err := c.Changes(t.Context(), []string{"notes"}, "", 0); err != nil {
		t.Fatalf("pull after a 429: %v", err)
	}
	if d := time.Since(t0); d < time.Second {
		t.Fatalf("retried after %s, before the Retry-After of 1 s", d)
	}
}
