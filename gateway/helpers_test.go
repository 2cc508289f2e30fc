package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mongotide/mongotide/embedded/embeddedtest"
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
	testSecret    = []byte("0123456789abcdef0123456789abcdef-test-secret")
	testCursorKey = []byte("cursor-key-cursor-key-cursor-key-0123")
)

// env is a started gateway on a database of its own, served over HTTP.
type env struct {
	t   testing.TB
	gw  *Gateway
	srv *httptest.Server
	db  *mongo.Database
}

// rules: "notes" is owner-scoped and readable and writable by everyone
// signed in, "secrets" needs the role "staff" for both, "board" is shared
// and written only by "editor", "unruled" exists in the database but has
// no rule.
func testRules() map[string]Rule {
	return map[string]Rule{
		"notes":   {OwnerField: "owner", ReadRoles: []string{"*"}, WriteRoles: []string{"*"}},
		"secrets": {OwnerField: "owner", ReadRoles: []string{"staff"}, WriteRoles: []string{"staff"}},
		"board":   {Shared: true, ReadRoles: []string{"*"}, WriteRoles: []string{"editor"}},
	}
}

func newEnv(t testing.TB, tweak func(*Config)) *env {
	t.Helper()
	return newEnvWith(t, embeddedtest.Database(t), tweak)
}

// newEnvWith starts a gateway on db, which may be another gateway's (two
// instances behind one load balancer).
func newEnvWith(t testing.TB, db *mongo.Database, tweak func(*Config)) *env {
	t.Helper()
	auth, err := NewJWTAuthenticator(JWTConfig{HS256Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Database:      db,
		Collections:   testRules(),
		Authenticator: auth,
		CursorKey:     testCursorKey,
		Heartbeat:     50 * time.Millisecond,
		RateLimit:     1000,
		RateBurst:     1000,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	gw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := gw.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := gw.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
		srv.Close()
	})
	return &env{t: t, gw: gw, srv: srv, db: db}
}

// token signs an HS256 token for sub with roles, expiring in ttl (none
// when ttl is 0).
func token(t testing.TB, key []byte, sub string, ttl time.Duration, roles ...string) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": sub, "roles": roles}
	if ttl != 0 {
		claims["exp"] = time.Now().Add(ttl).Unix()
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) tok(sub string, roles ...string) string {
	return token(e.t, testSecret, sub, time.Hour, roles...)
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

func (e *env) do(method, path, tok string, body string) reply {
	e.t.Helper()
	return doReq(e.t, e.srv.URL, method, path, tok, body, nil)
}

func doReq(t testing.TB, base, method, path, tok, body string, hdr http.Header) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{res.StatusCode, res.Header, b}
}

// page is a decoded /v1/changes answer.
type page struct {
	Changes []struct {
		Collection string          `json:"collection"`
		Op         string          `json:"op"`
		ID         json.RawMessage `json:"id"`
		Doc        map[string]any  `json:"doc"`
	} `json:"changes"`
	Cursor string `json:"cursor"`
	More   bool   `json:"more"`
}

func (e *env) pull(tok, query string) page {
	e.t.Helper()
	r := e.do("GET", "/v1/changes?"+query, tok, "")
	if r.status != http.StatusOK {
		e.t.Fatalf("GET /v1/changes?%s: %d %s", query, r.status, r.body)
	}
	var p page
	if err := json.Unmarshal(r.body, &p); err != nil {
		e.t.Fatalf("page %s: %v", r.body, err)
	}
	return p
}

func (e *env) insert(coll string, docs ...bson.D) {
	e.t.Helper()
	for _, d := range docs {
		if _, err := e.db.Collection(coll).InsertOne(context.Background(), d); err != nil {
			e.t.Fatal(err)
		}
	}
}

// sseEvent is one event read from a text/event-stream.
type sseEvent struct {
	event, id, data string
	comment         bool
}

// readSSE parses events from r into ch until r ends, then closes ch.
func readSSE(r io.Reader, ch chan<- sseEvent) {
	defer close(ch)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev != (sseEvent{}) {
				ch <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			ev.comment = true
		case strings.HasPrefix(line, "event: "):
			ev.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
}
