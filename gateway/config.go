package gateway

import (
	"context"
	"errors"
	"fmt"
	"github.com/cenkalti/backoff/v4"
	"log/slog"
	"strings"
	"time"

	mtsync "github.com/mongotide/mongotide/sync"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"golang.org/x/time/rate"
)

// Sentinel errors. Errors returned by New wrap ErrInvalidConfig and name the
// field.
var (
	ErrInvalidConfig = errors.New("gateway: invalid config")
	ErrNotStarted    = errors.New("gateway: not started")
	ErrStopped       = errors.New("gateway: stopped")
)

// Rule says who may see a collection's documents through the gateway.
type Rule struct {
	// OwnerField is the document field holding the owner id (a string). A
	// principal sees only documents whose OwnerField equals its Owner, on
	// every endpoint. Required unless Shared.
	OwnerField string
	// Shared makes every document of the collection visible to every
	// principal with a read role. It must be said explicitly: a rule
	// without an owner field is otherwise invalid, so a forgotten field
	// fails New instead of exposing the collection.
	Shared bool
	// ReadRoles are the roles that may read ("*": every authenticated
	// principal). Empty: nobody may read.
	ReadRoles []string
	// WriteRoles are the roles that may push (POST /v1/operations) to
	// the collection ("*": every authenticated principal). Empty: nobody
	// may write. Writes are owner-scoped like reads: the owner field of a
	// pushed document is the caller's, and another owner's document is
	// never written.
	WriteRoles []string
}

func (r Rule) canRead(p Principal) bool  { return hasRole(r.ReadRoles, p.Roles) }
func (r Rule) canWrite(p Principal) bool { return hasRole(r.WriteRoles, p.Roles) }

func hasRole(allowed, have []string) bool {
	for _, a := range allowed {
		if a == "*" {
			return true
		}
		for _, h := range have {
			if a == h {
				return true
			}
		}
	}
	return false
}

// Config configures a Gateway. The zero values of optional fields are
// replaced by WithDefaults; New calls it.
type Config struct {
	// Database holds the collections. Required.
	Database *mongo.Database
	// Collections maps every collection the gateway serves to its rule.
	// Collections not listed are refused (403). Required, non-empty.
	Collections map[string]Rule
	// Authenticator turns a request into a Principal. Required.
	Authenticator Authenticator
	// CursorKey signs cursors (HMAC-SHA256). At least 32 bytes; every
	// instance behind one load balancer needs the same key.
	CursorKey []byte

	// Addr, when set, is where Start listens (HOST:PORT; port 0 picks
	// one, see Gateway.Addr). Leave empty to mount the Gateway, an
	// http.Handler, in a server of your own.
	Addr string

	// DefaultPageSize is the limit of a pull or snapshot page without
	// ?limit (default 100); MaxPageSize caps ?limit (default 1000).
	DefaultPageSize int
	MaxPageSize     int
	// MaxQueryLimit caps a document query's limit (default 1000).
	MaxQueryLimit int
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	// RingSize is how many recent changes each collection keeps in memory
	// (default 10,000). A cursor older than the ring opens a change stream
	// of its own for the request.
	RingSize int
	// MaxLongPoll caps ?timeout of live=longpoll (default 60 s);
	// DefaultLongPoll is used without it (default 30 s).
	MaxLongPoll     time.Duration
	DefaultLongPoll time.Duration
	// Heartbeat is the interval of SSE comment lines that keep idle
	// connections open through proxies (default 15 s).
	Heartbeat time.Duration
	// CacheMaxAge is the max-age of full pull pages, which never change
	// (default 1 h).
	CacheMaxAge time.Duration
	// ReopenBackoff paces the reopening of a collection's shared change
	// stream after it ended with an error that listen does not retry by
	// itself (say, the gateway's database user lost a privilege): until it
	// reopens, /v1/ready is 503 and pulls of the collection answer 503.
	// Default: exponential from 1 s to 1 min, forever.
	ReopenBackoff func() backoff.BackOff
	// RateLimit is the steady request rate allowed per owner, RateBurst
	// the burst (defaults 50/s and 100). Live requests count once.
	RateLimit rate.Limit
	RateBurst int
	// AllowedOrigins are the CORS origins answered ("*": any). Empty:
	// no CORS headers, so browsers on other origins are refused.
	AllowedOrigins []string
	// AdminRoles may read /v1/stats and /metrics (default ["admin"]).
	AdminRoles []string
	// SkipPreImages stops Start from enabling changeStreamPreAndPostImages
	// on the collections. Without pre-images a delete cannot be attributed
	// to an owner, so owner-scoped clients never see deletes (they are
	// counted as unattributed in /v1/stats). Set it when the deployment
	// manages collection options itself.
	SkipPreImages bool

	// MaxOperations caps the operations of one push (default 100).
	MaxOperations int
	// Conflict decides a push that meets a concurrent edit, with sync's
	// versions and rules (default sync.LastWriterWins); Resolve is
	// sync.Config.Resolve for sync.Custom. Use the policy the sync
	// replicas of the same database use.
	Conflict mtsync.ConflictPolicy
	Resolve  func(ctx context.Context, c mtsync.Conflict) (bson.Raw, error)
	// OperationRetention is how long POST /v1/compact keeps the
	// idempotency record of a pushed operation (default 7 days): a client
	// retrying an operation later than that may apply it twice.
	OperationRetention time.Duration
	// TombstoneRetention is how long POST /v1/compact keeps the version
	// entries of deleted documents that a registered sync replica has not
	// synced past yet (sync.Config.Retention; default 30 days).
	TombstoneRetention time.Duration

	// Logger receives stream errors and request failures (default: discard).
	Logger *slog.Logger
	// Clock is the time source (default time.Now); tests move it.
	Clock func() time.Time
}

// WithDefaults returns a copy of c with every unset optional field set.
func (c Config) WithDefaults() Config {
	if c.DefaultPageSize == 0 {
		c.DefaultPageSize = 100
	}
	if c.MaxPageSize == 0 {
		c.MaxPageSize = 1000
	}
	if c.MaxQueryLimit == 0 {
		c.MaxQueryLimit = 1000
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.RingSize == 0 {
		c.RingSize = 10000
	}
	if c.MaxLongPoll == 0 {
		c.MaxLongPoll = time.Minute
	}
	if c.DefaultLongPoll == 0 {
		c.DefaultLongPoll = 30 * time.Second
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.ReopenBackoff == nil {
		c.ReopenBackoff = func() backoff.BackOff {
			b := backoff.NewExponentialBackOff()
			b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = time.Second, time.Minute, 0
			return b
		}
	}
	if c.CacheMaxAge == 0 {
		c.CacheMaxAge = time.Hour
	}
	if c.RateLimit == 0 {
		c.RateLimit = 50
	}
	if c.RateBurst == 0 {
		c.RateBurst = 100
	}
	if c.AdminRoles == nil {
		c.AdminRoles = []string{"admin"}
	}
	if c.MaxOperations == 0 {
		c.MaxOperations = 100
	}
	if c.OperationRetention == 0 {
		c.OperationRetention = 7 * 24 * time.Hour
	}
	if c.TombstoneRetention == 0 {
		c.TombstoneRetention = 30 * 24 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c.Database == nil {
		return bad("Database is required")
	}
	if len(c.Collections) == 0 {
		return bad("Collections is empty: the gateway would serve nothing")
	}
	for name, r := range c.Collections {
		if name == "" || strings.ContainsAny(name, ",$\x00") || strings.HasPrefix(name, "system.") || strings.HasPrefix(name, "_mongotide") {
			return bad("Collections: invalid collection name %q", name)
		}
		if r.OwnerField == "" && !r.Shared {
			return bad("Collections[%q]: OwnerField is required unless Shared is set", name)
		}
		if r.OwnerField != "" && r.Shared {
			return bad("Collections[%q]: OwnerField and Shared exclude each other", name)
		}
		if strings.HasPrefix(r.OwnerField, "$") || strings.Contains(r.OwnerField, "\x00") {
			return bad("Collections[%q]: invalid OwnerField %q", name, r.OwnerField)
		}
	}
	if c.Authenticator == nil {
		return bad("Authenticator is required")
	}
	if len(c.CursorKey) < 32 {
		return bad("CursorKey must have at least 32 bytes, has %d", len(c.CursorKey))
	}
	switch {
	case c.DefaultPageSize < 1:
		return bad("DefaultPageSize must be positive")
	case c.MaxPageSize < c.DefaultPageSize:
		return bad("MaxPageSize must be at least DefaultPageSize")
	case c.MaxQueryLimit < 1:
		return bad("MaxQueryLimit must be positive")
	case c.MaxBodyBytes < 1:
		return bad("MaxBodyBytes must be positive")
	case c.RingSize < 1:
		return bad("RingSize must be positive")
	case c.DefaultLongPoll <= 0 || c.MaxLongPoll < c.DefaultLongPoll:
		return bad("DefaultLongPoll must be positive and at most MaxLongPoll")
	case c.Heartbeat <= 0:
		return bad("Heartbeat must be positive")
	case c.CacheMaxAge < 0:
		return bad("CacheMaxAge must not be negative")
	case c.RateLimit < 0 || c.RateBurst < 1:
		return bad("RateLimit must not be negative and RateBurst must be positive")
	case c.MaxOperations < 1:
		return bad("MaxOperations must be positive")
	case c.OperationRetention < time.Second || c.TombstoneRetention < time.Second:
		return bad("OperationRetention and TombstoneRetention must be at least 1s")
	}
	return nil
}
