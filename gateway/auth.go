package gateway

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrUnauthenticated is wrapped by Authenticator errors for requests without
// valid credentials; the gateway answers them 401 whatever the error.
var ErrUnauthenticated = errors.New("gateway: unauthenticated")

// Principal is who a request acts for.
type Principal struct {
	// Owner is matched against Rule.OwnerField. Never empty.
	Owner string
	// Roles are matched against Rule.ReadRoles and Rule.WriteRoles.
	Roles []string
}

// Authenticator turns a request into a Principal. Any error refuses the
// request with 401; the error is logged, never sent to the client.
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (Principal, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(r *http.Request) (Principal, error) { return f(r) }

// JWTConfig configures the built-in bearer-token verifier.
type JWTConfig struct {
	// HS256Secret verifies HS256 tokens (at least 32 bytes).
	HS256Secret []byte
	// RS256PublicKey verifies RS256 tokens. At least one key is required;
	// a token is accepted only with the algorithm of a configured key,
	// so an HS256 token signed with the public key is refused.
	RS256PublicKey *rsa.PublicKey
	// OwnerClaim names the claim holding the owner id (default "sub").
	OwnerClaim string
	// RolesClaim names the claim holding the roles: an array of strings
	// or one space-separated string (default "roles").
	RolesClaim string
	// Issuer and Audience, when set, must match iss and aud.
	Issuer   string
	Audience string
	// AllowNoExp accepts tokens without exp, which never expire. Default
	// false: refused (401), failing closed like the rest of the gate.
	AllowNoExp bool
	// Leeway tolerates clock skew on exp and nbf (default 0).
	Leeway time.Duration
	// Clock is the time source (default time.Now).
	Clock func() time.Time
	// QueryTokenForSSE also accepts the token from the access_token query
	// parameter, on GET /v1/changes?live=sse requests without an
	// Authorization header only: a browser's EventSource cannot send
	// headers. Default false. A token in a URL can reach access logs,
	// proxies and browser history: give browsers short-lived tokens.
	QueryTokenForSSE bool
}

// JWTAuthenticator verifies "Authorization: Bearer <JWT>".
type JWTAuthenticator struct {
	cfg    JWTConfig
	parser *jwt.Parser
}

// NewJWTAuthenticator checks cfg and returns the verifier.
func NewJWTAuthenticator(cfg JWTConfig) (*JWTAuthenticator, error) {
	if cfg.HS256Secret == nil && cfg.RS256PublicKey == nil {
		return nil, fmt.Errorf("%w: JWTConfig needs HS256Secret or RS256PublicKey", ErrInvalidConfig)
	}
	if cfg.HS256Secret != nil && len(cfg.HS256Secret) < 32 {
		return nil, fmt.Errorf("%w: JWTConfig.HS256Secret must have at least 32 bytes, has %d", ErrInvalidConfig, len(cfg.HS256Secret))
	}
	if cfg.OwnerClaim == "" {
		cfg.OwnerClaim = "sub"
	}
	if cfg.RolesClaim == "" {
		cfg.RolesClaim = "roles"
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	var methods []string
	if cfg.HS256Secret != nil {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if cfg.RS256PublicKey != nil {
		methods = append(methods, jwt.SigningMethodRS256.Alg())
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithTimeFunc(cfg.Clock),
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	if !cfg.AllowNoExp {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	return &JWTAuthenticator{cfg: cfg, parser: jwt.NewParser(opts...)}, nil
}

// token returns the request's bearer token: from the Authorization header,
// or (QueryTokenForSSE) from access_token on an SSE pull without one.
func (a *JWTAuthenticator) token(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" && a.cfg.QueryTokenForSSE && r.Method == http.MethodGet && r.URL.Path == "/v1/changes" {
		q := r.URL.Query()
		if tok := q.Get("access_token"); tok != "" && q.Get("live") == "sse" {
			return tok, nil
		}
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", fmt.Errorf("%w: no bearer token", ErrUnauthenticated)
	}
	return tok, nil
}

// Authenticate verifies the bearer token: signature, algorithm, exp, nbf
// (and iss/aud when configured), then maps the claims to a Principal.
func (a *JWTAuthenticator) Authenticate(r *http.Request) (Principal, error) {
	tok, err := a.token(r)
	if err != nil {
		return Principal{}, err
	}
	claims := jwt.MapClaims{}
	_, err = a.parser.ParseWithClaims(strings.TrimSpace(tok), claims, func(t *jwt.Token) (any, error) {
		switch t.Method.Alg() {
		case jwt.SigningMethodHS256.Alg():
			return a.cfg.HS256Secret, nil
		case jwt.SigningMethodRS256.Alg():
			return a.cfg.RS256PublicKey, nil
		}
		return nil, fmt.Errorf("unexpected algorithm %q", t.Method.Alg())
	})
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	owner, _ := claims[a.cfg.OwnerClaim].(string)
	if owner == "" {
		return Principal{}, fmt.Errorf("%w: claim %q is missing or not a non-empty string", ErrUnauthenticated, a.cfg.OwnerClaim)
	}
	p := Principal{Owner: owner}
	switch roles := claims[a.cfg.RolesClaim].(type) {
	case string:
		p.Roles = strings.Fields(roles)
	case []any:
		for _, v := range roles {
			if s, ok := v.(string); ok {
				p.Roles = append(p.Roles, s)
			}
		}
	}
	return p, nil
}
