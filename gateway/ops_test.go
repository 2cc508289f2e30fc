package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// TestOpenAPIMatchesRoutes: every route the gateway serves is in
// /v1/openapi.json with its method, and every documented operation is
// served (answers something other than 404/405).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("GET", "/v1/openapi.json", "", "")
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil || r.status != 200 || !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi.json: %d, %v, version %q", r.status, err, doc.OpenAPI)
	}
	served := map[string]bool{}
	for _, rt := range e.gw.routeTable() {
		key := strings.ToLower(rt.method) + " " + rt.path
		served[key] = true
		if _, ok := doc.Paths[rt.path][strings.ToLower(rt.method)]; !ok {
			t.Errorf("route %s is not in the OpenAPI document", key)
		}
	}
	admin := e.tok("root", "admin")
	param := regexp.MustCompile(`\{[^}]+\}`)
	for path, ops := range doc.Paths {
		for method := range ops {
			key := method + " " + path
			if !served[key] {
				t.Errorf("documented operation %s is not a route", key)
			}
			// And the handler answers it: concrete values for parameters.
			concrete := param.ReplaceAllStringFunc(path, func(p string) string {
				if p == "{coll}" {
					return "notes"
				}
				return "x"
			})
			res := e.do(strings.ToUpper(method), concrete, admin, "{}")
			if res.status == http.StatusNotFound && !strings.Contains(string(res.body), "not_found") || res.status == http.StatusMethodNotAllowed {
				t.Errorf("documented operation %s (%s): %d %s", key, concrete, res.status, res.body)
			}
			// The json parameter is documented exactly where the handler
			// reads it: there an unknown mode is refused.
			var op struct {
				Parameters []struct {
					Ref      string `json:"$ref"`
					Name     string `json:"name"`
					In       string `json:"in"`
					Required bool   `json:"required"`
				} `json:"parameters"`
			}
			if err := json.Unmarshal(ops[method], &op); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			documented := false
			q := "json=bogus"
			for _, p := range op.Parameters {
				documented = documented || p.Ref == "#/components/parameters/JSONMode"
				if p.In == "query" && p.Required {
					q += "&" + p.Name + "=notes" // collection(s)
				}
			}
			res = e.do(strings.ToUpper(method), concrete+"?"+q, admin, "{}")
			if reads := res.status == http.StatusBadRequest && strings.Contains(string(res.body), "json must be"); reads != documented {
				t.Errorf("%s: json parameter documented %v, handler reads it %v (%d %s)", key, documented, reads, res.status, res.body)
			}
		}
	}
	if !strings.Contains(string(r.body), `"JSONMode": {"name": "json"`) {
		t.Errorf("the json parameter is not defined in components.parameters")
	}
}

// TestOperations: health, readiness, stats and metrics.
func TestOperations(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.do("GET", "/v1/health", "", ""); r.status != 200 {
		t.Fatalf("health: %d", r.status)
	}
	if r := e.do("GET", "/v1/ready", "", ""); r.status != 200 {
		t.Fatalf("ready: %d %s", r.status, r.body)
	}
	alice, admin := e.tok("alice"), e.tok("ops", "admin")
	e.pull(alice, "collections=notes")
	var s Stats
	r := e.do("GET", "/v1/stats", admin, "")
	if err := json.Unmarshal(r.body, &s); err != nil || r.status != 200 {
		t.Fatalf("stats: %d %s", r.status, r.body)
	}
	if s.ServerStreams != 3 || s.Collections["notes"].State != "open" || s.Requests < 2 {
		t.Fatalf("stats %+v", s)
	}
	m := e.do("GET", "/metrics", admin, "")
	for _, want := range []string{
		"# TYPE mongotide_gateway_requests_total counter",
		"mongotide_gateway_server_streams 3",
		`mongotide_gateway_stream_open{collection="notes"} 1`,
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %q:\n%s", want, m.body)
		}
	}
	if ct := m.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("metrics Content-Type %q", ct)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.gw.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/v1/ready", "", ""); r.status != http.StatusServiceUnavailable {
		t.Fatalf("ready after Stop: %d, want 503", r.status)
	}
}

// TestLimits: CORS for configured origins only, the body-size limit and
// the per-owner rate limit.
func TestLimits(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.AllowedOrigins = []string{"https://app.example"}
		c.MaxBodyBytes = 64
		c.RateLimit, c.RateBurst = rate.Every(time.Hour), 5
	})
	pre := doReq(t, e.srv.URL, "OPTIONS", "/v1/changes", "", "", http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"GET"}})
	if pre.status != http.StatusNoContent || pre.header.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(pre.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight from an allowed origin: %d %v", pre.status, pre.header)
	}
	other := doReq(t, e.srv.URL, "GET", "/v1/health", "", "", http.Header{"Origin": {"https://evil.example"}})
	if other.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS header for another origin: %v", other.header)
	}
	alice := e.tok("alice")
	big := `{"filter":{"a":"` + strings.Repeat("x", 100) + `"}}`
	if r := e.do("POST", "/v1/documents/notes/query", alice, big); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("body over the limit: %d %s", r.status, r.body)
	}
	codes := []int{}
	for range 6 {
		codes = append(codes, e.do("GET", "/v1/changes?collections=notes", alice, "").status)
	}
	// One request above was the query: the burst of 5 has 4 left.
	if want := []int{200, 200, 200, 200, 429, 429}; !slices.Equal(codes, want) {
		t.Fatalf("statuses %v, want %v", codes, want)
	}
	if r := e.do("GET", "/v1/changes?collections=notes", e.tok("bob"), ""); r.status != 200 {
		t.Fatalf("bob limited by alice's requests: %d", r.status)
	}
}

// TestConfigValidation: New refuses configurations that would serve
// nothing, or serve a collection without an owner rule.
func TestConfigValidation(t *testing.T) {
	db := e0(t)
	auth := AuthenticatorFunc(func(*http.Request) (Principal, error) { return Principal{Owner: "x"}, nil })
	good := Config{Database: db, Collections: map[string]Rule{"c": {OwnerField: "owner", ReadRoles: []string{"*"}}}, Authenticator: auth, CursorKey: testCursorKey}
	if _, err := New(good); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, tweak := range map[string]func(*Config){
		"no database":        func(c *Config) { c.Database = nil },
		"no collections":     func(c *Config) { c.Collections = nil },
		"rule without owner": func(c *Config) { c.Collections = map[string]Rule{"c": {ReadRoles: []string{"*"}}} },
		"owner and shared":   func(c *Config) { c.Collections = map[string]Rule{"c": {OwnerField: "o", Shared: true}} },
		"bad name":           func(c *Config) { c.Collections = map[string]Rule{"a,b": {Shared: true}} },
		"no authenticator":   func(c *Config) { c.Authenticator = nil },
		"short cursor key":   func(c *Config) { c.CursorKey = []byte("short") },
		"negative page":      func(c *Config) { c.DefaultPageSize = -1 },
	} {
		c := good
		tweak(&c)
		if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
	if _, err := NewJWTAuthenticator(JWTConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("JWT without keys: %v", err)
	}
	if _, err := NewJWTAuthenticator(JWTConfig{HS256Secret: []byte("short")}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("JWT with a short secret: %v", err)
	}
}

// TestStartIdempotentAndListens: Start twice is one start; with Addr the
// gateway listens itself; Stop shuts the listener down.
func TestStartIdempotentAndListens(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Addr = "127.0.0.1:0" })
	ctx := context.Background()
	if err := e.gw.Start(ctx); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	addr := e.gw.Addr()
	if addr == "" {
		t.Fatal("no address after Start with Addr")
	}
	if r := doReq(t, "http://"+addr, "GET", "/v1/health", "", "", nil); r.status != 200 {
		t.Fatalf("health on %s: %d", addr, r.status)
	}
	if s := e.gw.Stats(); s.ServerStreams != 3 {
		t.Fatalf("after two Starts: %d server streams, want 3", s.ServerStreams)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.gw.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + addr + "/v1/health"); err == nil {
		t.Fatal("the listener still answers after Stop")
	}
	if s := e.gw.Stats(); s.ServerStreams != 0 {
		t.Fatalf("after Stop: %d server streams, want 0", s.ServerStreams)
	}
}

// TestRS256AndClaims: RS256 tokens verify with the public key; configured
// claim names map to owner and roles; an HS256 token made with the public
// key as secret is refused.
func TestRS256AndClaims(t *testing.T) {
	key := rsaKey(t)
	a, err := NewJWTAuthenticator(JWTConfig{RS256PublicKey: &key.PublicKey, OwnerClaim: "uid", RolesClaim: "perms"})
	if err != nil {
		t.Fatal(err)
	}
	tok := signRS256(t, key, map[string]any{"uid": "carol", "perms": "staff admin", "exp": time.Now().Add(time.Hour).Unix()})
	req, _ := http.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	p, err := a.Authenticate(req)
	if err != nil || p.Owner != "carol" || !slices.Equal(p.Roles, []string{"staff", "admin"}) {
		t.Fatalf("RS256: %+v, %v", p, err)
	}
	nbf := signRS256(t, key, map[string]any{"uid": "carol", "nbf": time.Now().Add(time.Hour).Unix()})
	req.Header.Set("Authorization", "Bearer "+nbf)
	if _, err := a.Authenticate(req); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("token not valid yet: %v", err)
	}
	noOwner := signRS256(t, key, map[string]any{"sub": "carol"})
	req.Header.Set("Authorization", "Bearer "+noOwner)
	if _, err := a.Authenticate(req); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("token without the owner claim: %v", err)
	}
	hs := token(t, publicKeyBytes(t, key), "carol", time.Hour)
	req.Header.Set("Authorization", "Bearer "+hs)
	if _, err := a.Authenticate(req); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("HS256 token signed with the public key: %v", err)
	}
}

// TestFailedStartIsFinal: a Start that cannot listen closes the change
// streams it opened and later Starts say ErrStopped.
func TestFailedStartIsFinal(t *testing.T) {
	auth := AuthenticatorFunc(func(*http.Request) (Principal, error) { return Principal{Owner: "x"}, nil })
	gw, err := New(Config{Database: e0(t), Collections: testRules(), Authenticator: auth, CursorKey: testCursorKey, Addr: "127.0.0.1:-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := gw.Start(ctx); err == nil {
		t.Fatal("Start on an invalid address succeeded")
	}
	if n := gw.Stats().ServerStreams; n != 0 {
		t.Fatalf("%d change streams left open by the failed Start", n)
	}
	if err := gw.Start(ctx); !errors.Is(err, ErrStopped) {
		t.Fatalf("Start after a failed Start: %v, want ErrStopped", err)
	}
	if err := gw.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestQueryTokenForSSE: with QueryTokenForSSE, access_token authenticates
// GET /v1/changes?live=sse without an Authorization header, and nothing
// else; without it, never.
func TestQueryTokenForSSE(t *testing.T) {
	tok := token(t, testSecret, "alice", time.Hour)
	for _, c := range []struct {
		on         bool
		method, u  string
		header, ok bool
	}{
		{true, "GET", "/v1/changes?collections=notes&live=sse&access_token=" + tok, false, true},
		{false, "GET", "/v1/changes?collections=notes&live=sse&access_token=" + tok, false, false},
		{true, "GET", "/v1/changes?collections=notes&live=longpoll&access_token=" + tok, false, false},
		{true, "GET", "/v1/changes?collections=notes&access_token=" + tok, false, false},
		{true, "GET", "/v1/snapshot?collection=notes&live=sse&access_token=" + tok, false, false},
		{true, "POST", "/v1/changes?collections=notes&live=sse&access_token=" + tok, false, false},
		{true, "GET", "/v1/changes?collections=notes&live=sse&access_token=garbage", false, false},
		// A header present is the token, even a bad one.
		{true, "GET", "/v1/changes?collections=notes&live=sse&access_token=" + tok, true, false},
	} {
		a, err := NewJWTAuthenticator(JWTConfig{HS256Secret: testSecret, QueryTokenForSSE: c.on})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(c.method, c.u, nil)
		if c.header {
			req.Header.Set("Authorization", "Bearer not-a-token")
		}
		p, err := a.Authenticate(req)
		if ok := err == nil && p.Owner == "alice"; ok != c.ok {
			t.Errorf("on=%v %s %s header=%v: %+v %v, want ok=%v", c.on, c.method, c.u, c.header, p, err, c.ok)
		}
		if !c.ok && !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("on=%v %s %s: %v, want ErrUnauthenticated", c.on, c.method, c.u, err)
		}
	}
}
