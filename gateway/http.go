package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// access says who may call a route.
type access int

const (
	public    access = iota // health, readiness, the API document
	principal               // any authenticated principal; rules apply per collection
	admin                   // a principal with one of Config.AdminRoles
)

type route struct {
	method, path string // path in http.ServeMux syntax
	access       access
	handle       func(w http.ResponseWriter, r *http.Request, p Principal)
}

// routeTable is every route the gateway serves; the OpenAPI test checks it
// against the document both ways.
func (g *Gateway) routeTable() []route {
	return []route{
		{"GET", "/v1/health", public, g.handleHealth},
		{"GET", "/v1/ready", public, g.handleReady},
		{"GET", "/v1/openapi.json", public, handleOpenAPI},
		{"GET", "/v1/stats", admin, g.handleStats},
		{"GET", "/metrics", admin, g.handleMetrics},
		{"GET", "/v1/changes", principal, g.handleChanges},
		{"GET", "/v1/snapshot", principal, g.handleSnapshot},
		{"GET", "/v1/documents/{coll}/{id}", principal, g.handleGetDocument},
		{"POST", "/v1/documents/{coll}/query", principal, g.handleQuery},
		{"POST", "/v1/operations", principal, g.handlePush},
		{"POST", "/v1/compact", admin, g.handleCompact},
	}
}

func (g *Gateway) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range g.routeTable() {
		mux.HandleFunc(rt.method+" "+rt.path, g.guard(rt))
	}
	return mux
}

// ServeHTTP answers CORS preflights, bounds the body and dispatches.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.requests.Add(1)
	g.active.Add(1)
	defer g.active.Add(-1)
	if g.cors(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes)
	g.mux.ServeHTTP(w, r)
}

// cors sets the CORS headers for allowed origins and answers preflights
// (true: the request is answered). Preflights carry no credentials, so
// they are answered before authentication.
func (g *Gateway) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(g.cfg.AllowedOrigins) == 0 {
		return false
	}
	w.Header().Add("Vary", "Origin")
	if !slices.Contains(g.cfg.AllowedOrigins, "*") && !slices.Contains(g.cfg.AllowedOrigins, origin) {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", "ETag, Retry-After, Mongotide-Version")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID, If-None-Match")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

// guard authenticates, authorizes the route and applies the owner's rate
// limit before the handler runs.
func (g *Gateway) guard(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rt.access == public {
			rt.handle(w, r, Principal{})
			return
		}
		p, err := g.cfg.Authenticator.Authenticate(r)
		if err == nil && p.Owner == "" {
			err = errors.New("authenticator returned an empty owner")
		}
		if err != nil {
			g.refused.Add(1)
			g.cfg.Logger.Debug("gateway: unauthenticated", "path", r.URL.Path, "err", err)
			w.Header().Set("WWW-Authenticate", `Bearer realm="mongotide"`)
			writeError(w, http.StatusUnauthorized, "unauthenticated", "missing, invalid or expired bearer token")
			return
		}
		if rt.access == admin && !hasRole(g.cfg.AdminRoles, p.Roles) {
			g.refused.Add(1)
			writeError(w, http.StatusForbidden, "forbidden", "this endpoint needs an admin role")
			return
		}
		if !g.rl.allow(p.Owner, g.cfg.Clock()) {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, "rate_limited", "too many requests for this client")
			return
		}
		rt.handle(w, r, p)
	}
}

// readable returns the rule of coll when p may read it; otherwise it
// answers 403 (an unknown collection and a forbidden one look the same).
func (g *Gateway) readable(w http.ResponseWriter, p Principal, coll string) (*feed, bool) {
	f, ok := g.feeds[coll]
	if !ok || !f.rule.canRead(p) {
		g.refused.Add(1)
		writeError(w, http.StatusForbidden, "forbidden", "no read access to collection "+strconv.Quote(coll))
		return nil, false
	}
	return f, true
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error apiError `json:"error"`
	}{apiError{code, msg}})
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// limiters holds one token bucket per owner. Buckets that are full again
// (idle owners) are dropped when the map grows, so memory follows the
// number of active owners.
type limiters struct {
	limit rate.Limit
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

const limiterPruneAt = 10000

func newLimiters(limit rate.Limit, burst int) *limiters {
	return &limiters{limit: limit, burst: burst, m: make(map[string]*rate.Limiter)}
}

func (l *limiters) allow(owner string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[owner]
	if !ok {
		if len(l.m) >= limiterPruneAt {
			for k, v := range l.m {
				if v.TokensAt(now) >= float64(l.burst) {
					delete(l.m, k)
				}
			}
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.m[owner] = lim
	}
	return lim.AllowN(now, 1)
}

// readBody reads a request body (bounded by Config.MaxBodyBytes); on
// failure it answers 413 or 400 and returns false.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "request body too large")
		return nil, false
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "reading the body failed")
		return nil, false
	}
	return body, true
}
