package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/model"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixture struct {
	books *model.Model[Book]
	res   *resolver
	url   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	client := testenv.Client(t)
	db := client.Database("gqltest_" + strings.ReplaceAll(t.Name(), "/", "_"))
	books, err := booksModel(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	res := &resolver{books: books}
	schema, err := newSchema(res)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(&Handler{Schema: schema, Auth: TokenAuth(demoTokens), InitTimeout: time.Second, WriteTimeout: time.Second})
	// Small socket buffers make a client that stops reading block the
	// server's writes after a few events, not megabytes later.
	srv.Listener = smallBufferListener{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)
	f := &fixture{books: books, res: res, url: "ws" + strings.TrimPrefix(srv.URL, "http")}
	// Registered after srv.Close, so it runs before it: every test must
	// leave no listener behind once its clients are gone.
	t.Cleanup(func() { f.waitNoListeners(t) })
	return f
}

// waitNoListeners fails unless every listener and server stream goes away.
func (f *fixture) waitNoListeners(t *testing.T) {
	t.Helper()
	testenv.Eventually(t, waitTimeout, "listeners released", func() bool {
		return f.res.active.Load() == 0 && f.books.Hub().StreamCount() == 0
	})
}

// wsClient is a minimal graphql-transport-ws client.
type wsClient struct {
	t *testing.T
	c *websocket.Conn
}

func dial(t *testing.T, url string) *wsClient {
	t.Helper()
	c, _, err := websocket.Dial(t.Context(), url, &websocket.DialOptions{Subprotocols: []string{subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{t: t, c: c}
}

// connect dials and completes connection_init with token.
func connect(t *testing.T, url, token string) *wsClient {
	t.Helper()
	return initialise(t, dial(t, url), token)
}

func initialise(t *testing.T, w *wsClient, token string) *wsClient {
	t.Helper()
	w.send(message{Type: "connection_init", Payload: json.RawMessage(fmt.Sprintf(`{"token": %q}`, token))})
	if m := w.read(); m.Type != "connection_ack" {
		t.Fatalf("after connection_init got %+v, want connection_ack", m)
	}
	return w
}

func (w *wsClient) send(m message) {
	w.t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.c.Write(w.t.Context(), websocket.MessageText, b); err != nil {
		w.t.Fatal(err)
	}
}

func (w *wsClient) readErr() (message, error) {
	ctx, cancel := context.WithTimeout(w.t.Context(), 10*time.Second)
	defer cancel()
	_, b, err := w.c.Read(ctx)
	if err != nil {
		return message{}, err
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		w.t.Fatalf("bad message %s: %v", b, err)
	}
	return m, nil
}

func (w *wsClient) read() message {
	w.t.Helper()
	m, err := w.readErr()
	if err != nil {
		w.t.Fatal(err)
	}
	return m
}

// expectClose reads until the server closes, and checks the close code.
func (w *wsClient) expectClose(code websocket.StatusCode) {
	w.t.Helper()
	m, err := w.readErr()
	if err == nil {
		w.t.Fatalf("got %+v, want close %d", m, code)
	}
	if got := websocket.CloseStatus(err); got != code {
		w.t.Fatalf("closed with %v (%v), want %d", got, err, code)
	}
}

func (w *wsClient) subscribe(id, query string, vars map[string]any) {
	w.t.Helper()
	p, _ := json.Marshal(subscribePayload{Query: query, Variables: vars})
	w.send(message{ID: id, Type: "subscribe", Payload: p})
}

type change struct {
	Op   string
	ID   string
	Book *struct{ Title, Owner string }
}

// next reads a "next" message for id and returns its change.
func (w *wsClient) next(id string) change {
	w.t.Helper()
	m := w.read()
	if m.Type != "next" || m.ID != id {
		w.t.Fatalf("got %+v %s, want next for %s", m, m.Payload, id)
	}
	var r struct {
		Data   struct{ BookChanged change }
		Errors []any
	}
	if err := json.Unmarshal(m.Payload, &r); err != nil || len(r.Errors) > 0 {
		w.t.Fatalf("next payload %s: %v", m.Payload, err)
	}
	return r.Data.BookChanged
}

const allChanges = `subscription { bookChanged { op id book { title owner } } }`

func TestAuthRejected(t *testing.T) {
	f := newFixture(t)
	w := dial(t, f.url)
	w.send(message{Type: "connection_init", Payload: json.RawMessage(`{"token": "nope"}`)})
	w.expectClose(closeForbidden)

	w = dial(t, f.url)
	w.send(message{Type: "connection_init"})
	w.expectClose(closeForbidden)
}

func TestSubscribeBeforeInit(t *testing.T) {
	f := newFixture(t)
	w := dial(t, f.url)
	w.subscribe("1", allChanges, nil)
	w.expectClose(closeUnauthorized)
}

func TestInitTimeout(t *testing.T) {
	f := newFixture(t)
	dial(t, f.url).expectClose(closeInitTimeout)
}

func TestPingPongAndValidationError(t *testing.T) {
	f := newFixture(t)
	w := connect(t, f.url, "alice-token")
	w.send(message{Type: "ping"})
	if m := w.read(); m.Type != "pong" {
		t.Fatalf("got %+v, want pong", m)
	}
	w.subscribe("bad", `subscription { bookChanged { nope } }`, nil)
	if m := w.read(); m.Type != "error" || m.ID != "bad" || !bytes.Contains(m.Payload, []byte("nope")) {
		t.Fatalf("got %+v %s, want error naming the bad field", m, m.Payload)
	}
}

// TestOnlyOwnDocuments: two users, one shared server stream, each sees only
// their own books, in commit order.
func TestOnlyOwnDocuments(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice := connect(t, f.url, "alice-token")
	bob := connect(t, f.url, "bob-token")
	alice.subscribe("a", allChanges, nil)
	bob.subscribe("b", allChanges, nil)
	testenv.Eventually(t, waitTimeout, "both listeners running", func() bool { return f.res.active.Load() == 2 })
	if n := f.books.Hub().StreamCount(); n != 1 {
		t.Fatalf("%d server streams for 2 subscribers, want 1 shared", n)
	}

	aID, err := f.books.Create(ctx, Book{Title: "Alice's", Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.books.Create(ctx, Book{Title: "Bob's", Owner: "bob"}); err != nil {
		t.Fatal(err)
	}
	if err := f.books.Update(ctx, aID, bson.D{{Key: "$set", Value: bson.D{{Key: "title", Value: "Alice's v2"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := f.books.Delete(ctx, aID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.books.Create(ctx, Book{Title: "Bob's last", Owner: "bob"}); err != nil {
		t.Fatal(err)
	}

	hex := aID.(bson.ObjectID).Hex()
	for _, want := range []string{"INSERT Alice's", "UPDATE Alice's v2", "DELETE Alice's v2"} {
		c := alice.next("a")
		if got := c.Op + " " + c.Book.Title; got != want || c.ID != hex || c.Book.Owner != "alice" {
			t.Fatalf("alice got %+v (%s), want %s of %s", c, got, want, hex)
		}
	}
	// Bob's stream holds his two books and nothing of alice's in between.
	for _, want := range []string{"Bob's", "Bob's last"} {
		if c := bob.next("b"); c.Op != "INSERT" || c.Book.Title != want || c.Book.Owner != "bob" {
			t.Fatalf("bob got %+v, want INSERT %s", c, want)
		}
	}
}

func TestFilterArgument(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	w := connect(t, f.url, "alice-token")
	w.subscribe("f", `subscription($f: BookFilter) { bookChanged(filter: $f) { op book { title } } }`,
		map[string]any{"f": map[string]any{"ops": []string{"INSERT"}, "titleContains": "Go ("}})
	testenv.Eventually(t, waitTimeout, "listener running", func() bool { return f.res.active.Load() == 1 })
	for _, b := range []Book{{Title: "Rust", Owner: "alice"}, {Title: "Go (bob)", Owner: "bob"}, {Title: "Go (alice)", Owner: "alice"}} {
		id, err := f.books.Create(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.books.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if c := w.next("f"); c.Op != "INSERT" || c.Book.Title != "Go (alice)" {
		t.Fatalf("got %+v, want only the insert of Go (alice)", c)
	}
}

// TestCompleteReleasesListener: a client complete stops that listener only;
// the connection and its other subscription keep working.
func TestCompleteReleasesListener(t *testing.T) {
	f := newFixture(t)
	w := connect(t, f.url, "alice-token")
	w.subscribe("1", allChanges, nil)
	w.subscribe("2", allChanges, nil)
	testenv.Eventually(t, waitTimeout, "two listeners", func() bool { return f.res.active.Load() == 2 })
	w.send(message{ID: "1", Type: "complete"})
	testenv.Eventually(t, waitTimeout, "listener 1 released", func() bool { return f.res.active.Load() == 1 })

	if _, err := f.books.Create(t.Context(), Book{Title: "after complete", Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	if c := w.next("2"); c.Book.Title != "after complete" {
		t.Fatalf("got %+v", c)
	}
	w.send(message{ID: "2", Type: "complete"})
	f.waitNoListeners(t)
	w.send(message{Type: "ping"})
	if m := w.read(); m.Type != "pong" {
		t.Fatalf("got %+v, want pong after completes", m)
	}
}

func TestDisconnectReleasesListeners(t *testing.T) {
	f := newFixture(t)
	var clients []*wsClient
	for i := 0; i < 3; i++ {
		w := connect(t, f.url, "bob-token")
		w.subscribe("x", allChanges, nil)
		w.subscribe("y", `subscription { bookChanged(filter: {ops: [DELETE]}) { id } }`, nil)
		clients = append(clients, w)
	}
	testenv.Eventually(t, waitTimeout, "six listeners", func() bool { return f.res.active.Load() == 6 })
	if n := f.books.Hub().StreamCount(); n != 1 {
		t.Fatalf("%d server streams, want 1 shared", n)
	}
	var wg sync.WaitGroup
	for _, w := range clients {
		wg.Go(func() { w.c.CloseNow() }) // abrupt: no complete, no close handshake
	}
	wg.Wait()
	f.waitNoListeners(t)
}

// TestServerCompletes: when the listener ends (collection dropped), the
// client gets complete.
func TestServerCompletes(t *testing.T) {
	f := newFixture(t)
	w := connect(t, f.url, "alice-token")
	w.subscribe("1", allChanges, nil)
	testenv.Eventually(t, waitTimeout, "listener running", func() bool { return f.res.active.Load() == 1 })
	if err := f.books.Collection().Drop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if m := w.read(); m.Type != "complete" || m.ID != "1" {
		t.Fatalf("got %+v %s, want complete", m, m.Payload)
	}
}

// TestRun runs the program as `go run` would, on a free port.
func TestRun(t *testing.T) {
	if testenv.UsingExternal() {
		t.Setenv("MONGODB_URI", os.Getenv(testenv.EnvURI))
	} else {
		t.Setenv("MONGODB_URI", "")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	urls := make(chan string, 1)
	var out bytes.Buffer
	var mu sync.Mutex
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, config{Addr: "127.0.0.1:0", DemoEvery: 20 * time.Millisecond, Out: lockedWriter{&mu, &out},
			ready: func(u string) { urls <- u }})
	}()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	w := connect(t, url, "bob-token")
	w.subscribe("1", allChanges, nil)
	// Demo writes alternate owners: bob's books arrive, and only his.
	for i := 0; i < 2; i++ {
		if c := w.next("1"); c.Book == nil || c.Book.Owner != "bob" {
			t.Fatalf("got %+v, want a change of bob's", c)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(out.String(), "GraphQL subscriptions at ws://") {
		t.Fatalf("output lacks the URL:\n%s", out.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

const smallBuffer = 8 << 10

type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(smallBuffer)
	}
	return c, err
}

// dialSmall dials with a small receive buffer (see smallBufferListener).
func dialSmall(t *testing.T, url string) *wsClient {
	t.Helper()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(smallBuffer)
		}
		return c, err
	}}
	t.Cleanup(tr.CloseIdleConnections)
	c, _, err := websocket.Dial(t.Context(), url, &websocket.DialOptions{
		Subprotocols: []string{subprotocol}, HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{t: t, c: c}
}

// TestQueryOverWebSocket: graphql-transport-ws also carries single-result
// operations: one next, then complete.
func TestQueryOverWebSocket(t *testing.T) {
	f := newFixture(t)
	w := connect(t, f.url, "bob-token")
	w.subscribe("q", `{ whoami }`, nil)
	if m := w.read(); m.Type != "next" || m.ID != "q" || string(m.Payload) != `{"data":{"whoami":"bob"}}` {
		t.Fatalf("got %+v %s", m, m.Payload)
	}
	if m := w.read(); m.Type != "complete" || m.ID != "q" {
		t.Fatalf("got %+v, want complete", m)
	}
}

// waitTimeout bounds every wait on a condition: generous, a bound for a
// broken run on a loaded machine, not a schedule.
const waitTimeout = 30 * time.Second
