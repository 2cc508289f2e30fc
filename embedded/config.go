package embedded

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"
)

// Config configures Start. The zero value is valid: every field has a
// documented default applied by WithDefaults.
type Config struct {
	// Addr is the TCP address to listen on. Default "127.0.0.1:0" (loopback
	// only, a free port). The server advertises this address in hello, so it
	// must be reachable by clients exactly as given; an unspecified host
	// ("0.0.0.0:port", ":port") is advertised as 127.0.0.1.
	Addr string
	// ReplicaSetName is the replica set name reported in hello (setName) and
	// put in URI(). Default "rs0".
	ReplicaSetName string
	// OplogCapacity is how many oplog entries are retained for change
	// streams; older entries are dropped and resuming before them fails with
	// ChangeStreamHistoryLost. Default 100000.
	OplogCapacity int
	// Dir, when set, persists data and oplog in this directory so a restart
	// on the same directory keeps both. Default "" (memory only).
	Dir string
	// Logger receives connection events (Debug) and malformed input (Warn).
	// Default: a logger that discards everything.
	Logger *slog.Logger
	// CursorIdleTimeout is how long an unused cursor survives before it is
	// killed, like MongoDB's cursorTimeoutMillis. Default 10 minutes.
	CursorIdleTimeout time.Duration
	// SessionIdleTimeout is how long an unused logical session (lsid) is
	// kept, like MongoDB's logicalSessionTimeoutMinutes. Default 30 minutes.
	SessionIdleTimeout time.Duration
}

// Defaults.
const (
	DefaultAddr               = "127.0.0.1:0"
	DefaultReplicaSetName     = "rs0"
	DefaultOplogCapacity      = 100_000
	DefaultCursorIdleTimeout  = 10 * time.Minute
	DefaultSessionIdleTimeout = 30 * time.Minute
)

// ErrInvalidConfig is wrapped by every configuration error Start returns.
var ErrInvalidConfig = errors.New("embedded: invalid config")

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.ReplicaSetName == "" {
		c.ReplicaSetName = DefaultReplicaSetName
	}
	if c.OplogCapacity == 0 {
		c.OplogCapacity = DefaultOplogCapacity
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.CursorIdleTimeout == 0 {
		c.CursorIdleTimeout = DefaultCursorIdleTimeout
	}
	if c.SessionIdleTimeout == 0 {
		c.SessionIdleTimeout = DefaultSessionIdleTimeout
	}
	return c
}

func (c Config) validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("%w: Addr %q is not host:port: %v", ErrInvalidConfig, c.Addr, err)
	}
	if strings.ContainsAny(c.ReplicaSetName, "/ ,?&=") {
		return fmt.Errorf("%w: ReplicaSetName %q contains a character not allowed in a URI option", ErrInvalidConfig, c.ReplicaSetName)
	}
	if c.OplogCapacity < 0 {
		return fmt.Errorf("%w: OplogCapacity %d is negative", ErrInvalidConfig, c.OplogCapacity)
	}
	if c.CursorIdleTimeout < 0 {
		return fmt.Errorf("%w: CursorIdleTimeout %v is negative", ErrInvalidConfig, c.CursorIdleTimeout)
	}
	if c.SessionIdleTimeout < 0 {
		return fmt.Errorf("%w: SessionIdleTimeout %v is negative", ErrInvalidConfig, c.SessionIdleTimeout)
	}
	return nil
}
