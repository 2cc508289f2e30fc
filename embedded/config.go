package embedded

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"github.com/mongotide/mongotide/embedded/internal/vfs"
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
	// OplogCapacity is how many oplog entries are retained at most for
	// change streams; older entries are dropped and resuming before them
	// fails with ChangeStreamHistoryLost. Default 100000. OplogSizeBytes
	// bounds the oplog too: whichever is reached first evicts.
	OplogCapacity int
	// OplogSizeBytes bounds the oplog in bytes, like mongod's oplogSizeMB:
	// each entry counts the whole documents it holds (post-image and, with
	// changeStreamPreAndPostImages, pre-image). The oldest entries are
	// evicted first; resuming before them fails with 286
	// ChangeStreamHistoryLost. Default DefaultOplogSizeBytes (192 MiB).
	OplogSizeBytes int64
	// SnapshotHistoryWindow is how long readConcern "snapshot" reads at an
	// earlier atClusterTime (snapshot sessions) keep working across later
	// writes, like mongod's minSnapshotHistoryWindowInSeconds; older ones
	// fail with 239 SnapshotTooOld. The history is also bounded by
	// OplogSizeBytes of earlier document versions. Default 300 s.
	SnapshotHistoryWindow time.Duration
	// TTLMonitorInterval is how often expired documents of TTL indexes
	// (expireAfterSeconds) are deleted, like mongod's ttlMonitorSleepSecs.
	// Default 60 s.
	TTLMonitorInterval time.Duration
	// Clock is the server's wall clock: the wallTime of writes and change
	// events, the seconds of cluster times and oplog timestamps, $$NOW and
	// $currentDate, the time TTL indexes expire documents against, and the
	// times hello and serverStatus report. Default time.Now. Tests set it
	// to move time forward without waiting (an edit "later" than another,
	// a TTL index's expiry). Cluster times never go backwards, even when
	// Clock does: a commit in a second not later than the last one takes
	// that second with the next increment, as mongod does. Timeouts (idle
	// cursors and sessions, the transaction lifetime, maxTimeMS) keep to
	// real time.
	Clock func() time.Time
	// Dir, when set, persists data and oplog in this directory so a restart
	// on the same directory keeps both. Default "" (memory only).
	Dir string
	// Sync chooses when writes reach the disk with a Dir (see SyncMode and
	// "Durability and recovery" in docs/embedded.md). Default SyncJournaled.
	Sync SyncMode
	// CommitInterval is how often the journal is fsynced in the background
	// with a Dir, like mongod's commitIntervalMs: a write acknowledged
	// without waiting for the disk is durable within it. Default 100 ms.
	CommitInterval time.Duration
	// Repair makes Start open a damaged Dir (a bad checksum or a gap in a
	// journal, a missing or emptied journal or snapshot) by keeping every
	// intact record and dropping the rest, reported by Server.RepairReport
	// and logged, instead of refusing it. Like mongod --repair.
	Repair bool
	// fs replaces the engine's file layer (tests inject I/O faults).
	fs vfs.FS
	// Logger receives connection events (Debug) and malformed input (Warn).
	// Default: a logger that discards everything.
	Logger *slog.Logger
	// CursorIdleTimeout is how long an unused cursor survives before it is
	// killed, like MongoDB's cursorTimeoutMillis. Default 10 minutes.
	CursorIdleTimeout time.Duration
	// SessionIdleTimeout is how long an unused logical session (lsid) is
	// kept, like MongoDB's logicalSessionTimeoutMinutes. Default 30 minutes.
	SessionIdleTimeout time.Duration

	// MaxBlockingStageBytes limits the memory of one blocking stage of an
	// aggregation ($sort, $group, $bucket, $sortByCount) or of a find's
	// sort, of one $push or $addToSet accumulator and of one $facet output
	// document, like mongod's internalQueryMaxBlockingSortMemoryUsageBytes,
	// internalDocumentSourceGroupMaxMemoryBytes and
	// internalQueryMaxPushBytes, counted in BSON bytes. Over it a command
	// with allowDiskUse: false answers 292
	// QueryExceededMemoryLimitNoDiskUseAllowed. Otherwise (allowDiskUse
	// true or unset: mongod's allowDiskUseByDefault) an aggregation's $sort
	// spills sorted runs to temporary files and merges them, and $group
	// sorts its input on the group key that way to build one group at a
	// time; $bucket (its groups fixed by its boundaries) and a find's sort
	// go on in memory, bounded by MaxAggregationBytes. One accumulator over
	// it is always 146 ExceededMemoryLimit. Default 100 MiB; negative: no
	// limit.
	MaxBlockingStageBytes int64
	// MaxAggregationBytes bounds what one aggregation builds across all its
	// stages (sorted and grouped documents, accumulator arrays, $unwind and
	// $facet output): past it the aggregation answers 146
	// ExceededMemoryLimit instead of growing the process without bound.
	// Default 1 GiB; negative: no limit.
	MaxAggregationBytes int64
	// MaxSpillBytes bounds the temporary files of all spilling stages at
	// once; a spill that would pass it answers 146. The files live in
	// Dir/_tmp with a Dir (like mongod's dbpath/_tmp), else in a directory
	// of os.TempDir(); they are unlinked as soon as they are created and
	// the directory is removed by Stop. Default 10 GiB; negative: no limit.
	MaxSpillBytes int64

	// MaxConnections caps open client connections, like mongod's
	// net.maxIncomingConnections: a connection over it is closed at once
	// and logged. Default 10000 (mongod's is 1,000,000, far above what one
	// process's descriptors allow; 10000 stays under common limits while
	// no real workload of this server comes near it).
	MaxConnections int
	// IdleTimeout closes a connection that has no command in flight and
	// has sent nothing for this long. Default 0: never, as mongod. The
	// driver does not check pooled connections before reusing them, so a
	// server-side idle close surfaces as a network error on the next
	// operation; set it only with clients whose maxIdleTimeMS is shorter.
	// Awaiting getMores and awaitable hellos are in flight, never idle.
	IdleTimeout time.Duration
	// MessageReadTimeout drops a connection that stops sending in the
	// middle of a message: once a message has started, each read must
	// make progress within it. Default 30 seconds.
	MessageReadTimeout time.Duration
	// MaxPendingMessageBytes bounds the memory held by partially received
	// messages across all connections (buffers grow as bytes arrive): a
	// connection whose message would take the total past it is dropped
	// and logged. Default 1 GiB, twenty maximum-size (48 MB) messages
	// arriving at once; negative: no limit.
	MaxPendingMessageBytes int64

	// Users, when non-empty, turns on authentication: every command but
	// the handshake and authentication ones (hello, saslStart,
	// saslContinue, ping, buildInfo ...) is refused with 13 Unauthorized
	// until the connection authenticates with SCRAM-SHA-256 as one of
	// them, against the admin database. Default none: no authentication,
	// acceptable on loopback only (Start logs a warning otherwise).
	Users []User
	// TLS, when set, makes the server speak TLS only (crypto/tls, its
	// Certificates or GetCertificate must be set); URI then carries
	// tls=true. Default nil: plain TCP.
	TLS *tls.Config

	// EnableTestCommands enables configureFailPoint and waitForFailPoint,
	// like mongod's enableTestCommands: without it they answer 59
	// CommandNotFound, so no client can make another's commands fail.
	// Default false (the safe zero value); the test helpers
	// (testenv.StartEmbedded) turn it on.
	EnableTestCommands bool
}

// User is one account of Config.Users, authenticating with SCRAM-SHA-256
// against the admin database. Every user may run every command (mongod's
// root role): roles are not modelled.
type User struct {
	Name     string
	Password string
}

// Defaults.
const (
	DefaultAddr               = "127.0.0.1:0"
	DefaultReplicaSetName     = "rs0"
	DefaultOplogCapacity      = 100_000
	DefaultOplogSizeBytes     = engine.DefaultOplogSizeBytes
	DefaultSnapshotWindow     = engine.DefaultSnapshotHistoryWindow
	DefaultTTLMonitorInterval = 60 * time.Second
	DefaultCursorIdleTimeout  = 10 * time.Minute
	DefaultSessionIdleTimeout = 30 * time.Minute
	DefaultMaxConnections     = 10_000
	DefaultMessageReadTimeout = 30 * time.Second
	// DefaultMaxPendingMessageBytes is Config.MaxPendingMessageBytes's
	// default.
	DefaultMaxPendingMessageBytes = 1 << 30
)

// Defaults of the memory limits.
const (
	// DefaultMaxBlockingStageBytes is mongod's 100 MB stage limit.
	DefaultMaxBlockingStageBytes = 100 << 20
	DefaultMaxAggregationBytes   = 1 << 30
	DefaultMaxSpillBytes         = 10 << 30
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
	if c.OplogSizeBytes == 0 {
		c.OplogSizeBytes = DefaultOplogSizeBytes
	}
	if c.SnapshotHistoryWindow == 0 {
		c.SnapshotHistoryWindow = DefaultSnapshotWindow
	}
	if c.TTLMonitorInterval == 0 {
		c.TTLMonitorInterval = DefaultTTLMonitorInterval
	}
	if c.Clock == nil {
		c.Clock = time.Now
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
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MessageReadTimeout == 0 {
		c.MessageReadTimeout = DefaultMessageReadTimeout
	}
	if c.MaxPendingMessageBytes == 0 {
		c.MaxPendingMessageBytes = DefaultMaxPendingMessageBytes
	}
	c.MaxBlockingStageBytes = defaultBytes(c.MaxBlockingStageBytes, DefaultMaxBlockingStageBytes)
	c.MaxAggregationBytes = defaultBytes(c.MaxAggregationBytes, DefaultMaxAggregationBytes)
	c.MaxSpillBytes = defaultBytes(c.MaxSpillBytes, DefaultMaxSpillBytes)
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
	if c.OplogSizeBytes < 0 {
		return fmt.Errorf("%w: OplogSizeBytes %d is negative", ErrInvalidConfig, c.OplogSizeBytes)
	}
	if c.SnapshotHistoryWindow < 0 {
		return fmt.Errorf("%w: SnapshotHistoryWindow %v is negative", ErrInvalidConfig, c.SnapshotHistoryWindow)
	}
	if c.TTLMonitorInterval < 0 {
		return fmt.Errorf("%w: TTLMonitorInterval %v is negative", ErrInvalidConfig, c.TTLMonitorInterval)
	}
	if c.CursorIdleTimeout < 0 {
		return fmt.Errorf("%w: CursorIdleTimeout %v is negative", ErrInvalidConfig, c.CursorIdleTimeout)
	}
	if c.SessionIdleTimeout < 0 {
		return fmt.Errorf("%w: SessionIdleTimeout %v is negative", ErrInvalidConfig, c.SessionIdleTimeout)
	}
	if err := c.validateDurability(); err != nil {
		return err
	}
	return c.validateExposure()
}
