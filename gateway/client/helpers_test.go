package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/mongotide/mongotide/embedded/embeddedtest"
	"github.com/mongotide/mongotide/gateway"
	"github.com/mongotide/mongotide/gateway/client"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.uber.org/goleak"
)

// runner runs the tests through embeddedtest.Run, so goleak checks after
// the shared server stopped.
type runner struct{ m *testing.M }

func (r runner) Run() int { return embeddedtest.Run(r.m) }

func TestMain(m *testing.M) { goleak.VerifyTestMain(runner{m}) }

var (
	testSecret    = []byte("0123456789abcdef0123456789abcdef-client-secret")
	testCursorKey = []byte("client-test-cursor-key-0123456789abcdef")
)

// testRules: "notes" is owner-scoped, readable and writable by everyone
// signed in; "board" is shared; "secrets" needs the role "staff".
func testRules() map[string]gateway.Rule {
	return map[string]gateway.Rule{
		"notes":   {OwnerField: "owner", ReadRoles: []string{"*"}, WriteRoles: []string{"*"}},
		"board":   {Shared: true, ReadRoles: []string{"*"}},
		"secrets": {OwnerField: "owner", ReadRoles: []string{"staff"}},
	}
}

// server is a gateway behind one URL that outlives it: restart stops the
// gateway and starts another on the same database and cursor key, as a
// deployment replacing an instance behind its load balancer. While the
// stopped one is still in place it answers as a stopping gateway does.
type server struct {
	t     testing.TB
	db    *mongo.Database
	srv   *httptest.Server
	tweak func(*gateway.Config)
	cur   atomic.Pointer[gateway.Gateway]
	// wrap, when set, sits between the HTTP server and the gateway (a
	// faulty network in front of it).
	wrap atomic.Pointer[middleware]
}

// middleware handles a request in front of next.
type middleware func(w http.ResponseWriter, r *http.Request, next http.Handler)

func newServer(t testing.TB, tweak func(*gateway.Config)) *server {
	t.Helper()
	return newServerOn(t, embeddedtest.Database(t), tweak)
}

// newServerOn is newServer on db (a server of the test's own, for
// failpoints).
func newServerOn(t testing.TB, db *mongo.Database, tweak func(*gateway.Config)) *server {
	t.Helper()
	s := &server{t: t, db: db, tweak: tweak}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g := s.cur.Load()
		if g == nil {
			http.Error(w, `{"error":{"code":"unavailable","message":"no gateway"}}`, http.StatusServiceUnavailable)
			return
		}
		if m := s.wrap.Load(); m != nil {
			(*m)(w, r, g)
			return
		}
		g.ServeHTTP(w, r)
	}))
	// Cleanups run last registered first: gateways stop (ending live
	// requests) before the HTTP server waits for its requests.
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() {
		if g := s.cur.Load(); g != nil {
			s.stopGateway(g)
		}
	})
	s.start()
	return s
}

func (s *server) gw() *gateway.Gateway { return s.cur.Load() }

// start makes and starts a new gateway and puts it behind the URL.
func (s *server) start() *gateway.Gateway {
	s.t.Helper()
	auth, err := gateway.NewJWTAuthenticator(gateway.JWTConfig{HS256Secret: testSecret})
	if err != nil {
		s.t.Fatal(err)
	}
	cfg := gateway.Config{
		Database:      s.db,
		Collections:   testRules(),
		Authenticator: auth,
		CursorKey:     testCursorKey,
		Heartbeat:     50 * time.Millisecond,
		RateLimit:     1000,
		RateBurst:     1000,
	}
	if s.tweak != nil {
		s.tweak(&cfg)
	}
	g, err := gateway.New(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.Start(ctx); err != nil {
		s.t.Fatal(err)
	}
	s.cur.Store(g)
	return g
}

// stop stops the current gateway, which stays behind the URL (answering
// 503) until start replaces it.
func (s *server) stop() {
	s.t.Helper()
	s.stopGateway(s.cur.Load())
}

func (s *server) stopGateway(g *gateway.Gateway) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.Stop(ctx); err != nil {
		s.t.Errorf("gateway Stop: %v", err)
	}
}

// token signs an HS256 token for sub with roles, valid for an hour.
func token(t testing.TB, sub string, roles ...string) string {
	return tokenWith(t, testSecret, sub, time.Hour, roles...)
}

func tokenWith(t testing.TB, key []byte, sub string, ttl time.Duration, roles ...string) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": sub, "roles": roles, "exp": time.Now().Add(ttl).Unix()}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fastBackoff keeps retries short so that tests wait on conditions, not on
// the default 100 ms-5 s policy.
func fastBackoff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 10 * time.Millisecond
	b.MaxInterval = 200 * time.Millisecond
	b.MaxElapsedTime = 0
	b.Reset()
	return b
}

// client returns a client of s with tok, closed when t ends.
func (s *server) client(t testing.TB, tok string, tweak func(*client.Config)) *client.Client {
	t.Helper()
	cfg := client.Config{BaseURL: s.srv.URL, Token: tok, Backoff: fastBackoff}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("client Close: %v", err)
		}
	})
	return c
}

func (s *server) insert(coll string, docs ...bson.D) {
	s.t.Helper()
	for _, d := range docs {
		if _, err := s.db.Collection(coll).InsertOne(context.Background(), d); err != nil {
			s.t.Fatal(err)
		}
	}
}

func note(id any, owner string, extra ...bson.E) bson.D {
	return append(bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}}, extra...)
}

// waitFor waits for cond with the suite's deadline.
func waitFor(t testing.TB, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, what, cond, detail...)
}

// recorder is a subscription handler that keeps what it got.
type recorder struct {
	mu  sync.Mutex
	got []client.Change
}

func (r *recorder) handle(_ context.Context, ch client.Change) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, ch)
	return nil
}

func (r *recorder) changes() []client.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]client.Change(nil), r.got...)
}

// ids renders changes as "op:id" (a string id as itself, others as
// extended JSON).
func ids(chs []client.Change) []string {
	out := make([]string, len(chs))
	for i, c := range chs {
		id, ok := c.ID.StringValueOK()
		if !ok {
			id = c.ID.String()
		}
		out[i] = string(c.Op) + ":" + id
	}
	return out
}

// waitConnected waits for sub's first stream to open.
func waitConnected(t testing.TB, sub *client.Subscription) {
	t.Helper()
	select {
	case <-sub.Connected():
	case <-sub.Closed():
		t.Fatalf("the subscription ended before its stream opened: %v", sub.Err())
	case <-time.After(20 * time.Second):
		t.Fatal("the subscription's stream did not open within 20 s")
	}
}
