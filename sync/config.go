package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/mongotide/mongotide/gateway/client"
	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// ConflictPolicy decides which side wins when both changed a document since
// they last agreed.
type ConflictPolicy int

const (
	// LastWriterWins keeps the edit with the higher Version (HLC, then
	// replica id). The default.
	LastWriterWins ConflictPolicy = iota
	// RemoteWins keeps the remote edit.
	RemoteWins
	// LocalWins keeps the local edit.
	LocalWins
	// Custom calls Config.Resolve, whose result becomes a new edit on both
	// sides (not logged as a conflict: it was merged).
	Custom
	// FieldMerge merges concurrent edits field by field against the base
	// document both sides last agreed on: a field changed on one side only
	// takes that side's value, so edits to different fields both survive.
	// A field both sides changed to different values is decided by
	// last-writer-wins and the conflict is logged with the clashing
	// fields. A delete against an update follows the delete-vs-update rule
	// (last writer wins, logged). The merged document is a new edit,
	// written to both sides. Under FieldMerge the local docs entry also
	// keeps the base document itself; where it has none (an entry written
	// under another policy) the conflict falls back to last-writer-wins,
	// logged. See docs/sync.md.
	FieldMerge
)

func (p ConflictPolicy) String() string {
	switch p {
	case LastWriterWins:
		return "last-writer-wins"
	case RemoteWins:
		return "remote-wins"
	case LocalWins:
		return "local-wins"
	case Custom:
		return "custom"
	case FieldMerge:
		return "field-merge"
	}
	return fmt.Sprintf("ConflictPolicy(%d)", int(p))
}

// ParseConflictPolicy returns the policy whose String is name.
func ParseConflictPolicy(name string) (ConflictPolicy, error) {
	for p := LastWriterWins; p <= FieldMerge; p++ {
		if p.String() == name {
			return p, nil
		}
	}
	return 0, fmt.Errorf("sync: unknown conflict policy %q", name)
}

// MarshalBSONValue stores a policy by name (the conflict log is read by
// people and by other versions, for which a number would mean nothing).
func (p ConflictPolicy) MarshalBSONValue() (byte, []byte, error) {
	t, data, err := bson.MarshalValue(p.String())
	return byte(t), data, err
}

// UnmarshalBSONValue reads a policy stored by name.
func (p *ConflictPolicy) UnmarshalBSONValue(t byte, data []byte) error {
	var name string
	if err := bson.UnmarshalValue(bson.Type(t), data, &name); err != nil {
		return fmt.Errorf("sync: conflict policy: %w", err)
	}
	v, err := ParseConflictPolicy(name)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Direction says which way a change went.
type Direction string

const (
	// Upload is local to remote.
	Upload Direction = "upload"
	// Download is remote to local.
	Download Direction = "download"
)

// SyncEvent describes one document that was written to the other side.
type SyncEvent struct {
	Collection string
	// ID is the document's _id.
	ID        bson.RawValue
	Direction Direction
	// Deleted is true when the document was deleted.
	Deleted bool
	// Version is the document's version after the write.
	Version Version
	// Conflict is true when both sides had changed the document and
	// Config.Conflict picked this side.
	Conflict bool
}

// BootstrapProgress reports the initial copy of one collection.
type BootstrapProgress struct {
	Collection string
	// Copied counts documents copied so far, including earlier runs
	// interrupted mid-bootstrap only from the last checkpoint on.
	Copied int64
	// Done is true once the copy finished and tailing starts.
	Done bool
}

// Config configures a Syncer. Zero values take the stated defaults.
type Config struct {
	// Local is the database the application reads and writes. Required.
	// Sync metadata (versions, checkpoints, bootstrap progress) is kept
	// here, in collections named "_mongotide_sync_*".
	Local *mongo.Database
	// Remote is the database kept in step with Local (e.g. on Atlas).
	// Required. It must support change streams and transactions (a replica
	// set or sharded cluster). Remote versions are kept in its
	// "_mongotide_sync_versions" collection.
	Remote *mongo.Database
	// Gateway, instead of Remote, syncs through a mongotide gateway
	// (package gateway) with a client holding only the user's token: a
	// device then needs no database credentials and opens no change
	// streams of its own on the remote. The gateway decides concurrent
	// edits with its own conflict policy (gateway.Config.Conflict), so
	// Resolve and Owner must be left zero (the token's owner scopes the
	// data) and Conflict zero, or FieldMerge when the gateway's policy is
	// FieldMerge: the device then keeps each document's base and sends it
	// with its edits, which the gateway merges against; and Verify, Reconcile, Compact, Replicas,
	// ForgetReplica, Pending and ResetLocal return ErrGatewayRemote.
	// ReplicaID becomes the push's clientId, so it must be 1 to 64 of
	// A-Z a-z 0-9 . _ ~ - (the generated default is). See docs/sync.md,
	// "Through a gateway".
	Gateway *client.Client
	// Collections to sync (same name on both sides). Required, at least one.
	Collections []string
	// ReplicaID names this replica in document versions. Default: a random
	// id generated on first start and kept in the local database.
	ReplicaID string
	// BatchSize is the number of documents per bootstrap batch; a
	// checkpoint is saved after each batch. Default 500.
	BatchSize int
	// ChangeLinger is how long each direction lets changes gather before
	// it handles them as one batch, while changes keep coming
	// (listen.ListenBatch's linger: a lone change after a quiet spell goes
	// at once). A batch of changes of distinct documents costs a handful
	// of round trips in all, one change about eight, so under load the
	// linger cuts the CPU per change about in half (docs/sync.md,
	// Performance) for at most that much more latency. Default 10 ms
	// (measured side by side at 1,000 writes/s: 0.58 ms of CPU per upload
	// at 5 ms, 0.53 ms at 10 ms, the same lag p99);
	// negative: no linger (a batch is what arrived while the previous one
	// was handled).
	ChangeLinger time.Duration
	// Backoff returns the retry policy for remote operations that fail
	// (remote unreachable, transaction aborted) and for reopening change
	// streams. Default: exponential from 100ms to 5s with jitter, forever.
	Backoff func() backoff.BackOff
	// Resolve merges a conflict under the Custom policy: it gets both
	// edits (nil for a delete) and returns the document both sides get
	// (nil to delete it; it must keep the _id). An error fails the upload,
	// which is retried with backoff. It may be called more than once for
	// one conflict (transaction retries), so keep it free of side effects.
	Resolve func(ctx context.Context, c Conflict) (bson.Raw, error)
	// Owner, when set, syncs only one tenant's documents, in both
	// directions (see Owner). Default: every document.
	Owner *Owner
	// Conflict decides concurrent edits. Default LastWriterWins. Changing
	// it between runs is safe; FieldMerge merges only documents synced
	// since it was set (it needs their base document).
	Conflict ConflictPolicy
	// OnSync is called after each document written to the other side.
	OnSync func(SyncEvent)
	// OnConflict is called once for each new conflict log entry: a
	// concurrent edit resolved by overwriting one side, in whole or (under
	// FieldMerge) in some fields. The entry is kept in the conflict log
	// (Syncer.Conflicts); meeting the same conflict again (a redelivered
	// change, a retry after a failure) neither logs nor reports it twice.
	OnConflict func(Conflict)
	// OnBootstrap reports bootstrap progress (after each batch).
	OnBootstrap func(BootstrapProgress)
	// OnOnline and OnOffline are called when the remote becomes reachable
	// or unreachable (edges only).
	OnOnline  func()
	OnOffline func(err error)
	// OnError receives every error the syncer survives (it retries them).
	OnError func(error)
	// Logger receives debug logs. Default: discard.
	Logger *slog.Logger
	// Clock is this replica's wall clock, the physical part of the hybrid
	// logical clock that versions edits made without a server commit time
	// (a reconciliation's differences, a remote document written without
	// mongotide) and the time of conflict log entries. Edits the servers
	// commit carry their commit time, so tests that order edits move the
	// servers' clocks too (embedded.Config.Clock). Default time.Now.
	Clock func() time.Time
	// ReplicaName is a human name for this replica in the remote's replica
	// registry (Syncer.Replicas, mongotide sync replicas). Default: the
	// host name.
	ReplicaName string
	// HeartbeatInterval is how often this replica records itself in the
	// registry (last seen, version, download positions). Default 30s.
	HeartbeatInterval time.Duration
	// Retention bounds how long the remote keeps the version entries of
	// deleted documents (tombstones) that some registered replica has not
	// synced past yet: Compact collects a tombstone once every replica in
	// the registry synced past it, or once it is older than Retention. A
	// replica away longer sees those deletes without their versions (as
	// deletes made outside mongotide, versioned by their commit time).
	// Default 30 days.
	Retention time.Duration
	// CompactInterval is how often a running Syncer compacts (Compact).
	// Default 1 hour; -1 disables automatic compaction.
	CompactInterval time.Duration
	// UploadRate caps uploads (local changes written to the remote, by the
	// upload stream and by reconciliation) to this many per second across
	// all collections, so that a device back online after a long outage
	// drains its queue at a pace the remote was sized for rather than all
	// at once. Changes wait in the local change stream (nothing is dropped;
	// Status.UploadRate shows the waiting). Default 0: unlimited.
	UploadRate float64
	// UploadBurst is how many uploads may go at once after an idle spell
	// before UploadRate paces them. Default: one second's worth of
	// UploadRate (at least 1). Only with UploadRate.
	UploadBurst int
}

// metaPrefix starts the names of sync's own collections.
const metaPrefix = "_mongotide_sync"

// WithDefaults returns a copy of c with the defaults filled in.
func (c Config) WithDefaults() Config {
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.ChangeLinger == 0 {
		c.ChangeLinger = 10 * time.Millisecond
	}
	if c.Backoff == nil {
		c.Backoff = listen.DefaultReconnectBackoff
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.ReplicaName == "" {
		c.ReplicaName = defaultReplicaName()
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 30 * time.Second
	}
	if c.Retention == 0 {
		c.Retention = 30 * 24 * time.Hour
	}
	if c.CompactInterval == 0 {
		c.CompactInterval = time.Hour
	}
	if c.UploadRate > 0 && c.UploadBurst == 0 {
		c.UploadBurst = defaultUploadBurst(c.UploadRate)
	}
	c.Collections = append([]string(nil), c.Collections...)
	return c
}

func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if c.Local == nil {
		bad("Local database is nil")
	}
	switch {
	case c.Remote == nil && c.Gateway == nil:
		bad("Remote database is nil (set Remote, or Gateway to sync through a gateway)")
	case c.Remote != nil && c.Gateway != nil:
		bad("both Remote and Gateway are set: set one")
	case c.Gateway != nil:
		if (c.Conflict != LastWriterWins && c.Conflict != FieldMerge) || c.Resolve != nil {
			bad("Conflict is %v or Resolve is set, but with Gateway the gateway's conflict policy decides: leave them zero (or Conflict FieldMerge when the gateway's is)", c.Conflict)
		}
		if c.Owner != nil {
			bad("Owner is set, but with Gateway the token's owner scopes the data: leave it nil")
		}
		if c.ReplicaID != "" && !client.ClientIDPattern.MatchString(c.ReplicaID) {
			bad("ReplicaID %q cannot be a gateway clientId (1 to 64 of A-Z a-z 0-9 . _ ~ -)", c.ReplicaID)
		}
	}
	if c.Local != nil && c.Remote != nil && c.Local.Client() == c.Remote.Client() && c.Local.Name() == c.Remote.Name() {
		bad("Local and Remote are the same database %q", c.Local.Name())
	}
	if len(c.Collections) == 0 {
		bad("Collections is empty: name at least one collection to sync")
	}
	seen := map[string]bool{}
	for i, name := range c.Collections {
		if err := CheckCollectionName(name); err != nil {
			bad("Collections[%d]: %w", i, err)
			continue
		}
		if seen[name] {
			bad("Collections[%d]: %q is listed twice", i, name)
		}
		seen[name] = true
	}
	if c.BatchSize < 1 {
		bad("BatchSize is %d, must be >= 1", c.BatchSize)
	}
	switch c.Conflict {
	case LastWriterWins, RemoteWins, LocalWins, FieldMerge:
		if c.Resolve != nil {
			bad("Resolve is set but Conflict is %v (Resolve needs Custom)", c.Conflict)
		}
	case Custom:
		if c.Resolve == nil {
			bad("Conflict is custom but Resolve is nil")
		}
	default:
		bad("Conflict is %v, not a known policy", c.Conflict)
	}
	if c.Owner != nil {
		if err := c.Owner.validate(); err != nil {
			bad("%w", err)
		}
	}
	if c.HeartbeatInterval < 0 {
		bad("HeartbeatInterval is %v, must be > 0", c.HeartbeatInterval)
	}
	if c.Retention < time.Second {
		bad("Retention is %v, must be >= 1s", c.Retention)
	}
	if c.CompactInterval < -1 {
		bad("CompactInterval is %v, must be > 0 or -1 (never)", c.CompactInterval)
	}
	switch {
	case c.UploadRate < 0 || math.IsNaN(c.UploadRate) || math.IsInf(c.UploadRate, 0):
		bad("UploadRate is %v, must be a finite number >= 0 (0: unlimited)", c.UploadRate)
	case c.UploadBurst < 0:
		bad("UploadBurst is %d, must be >= 0", c.UploadBurst)
	case c.UploadBurst > 0 && c.UploadRate == 0:
		bad("UploadBurst is %d but UploadRate is 0 (unlimited): set UploadRate", c.UploadBurst)
	}
	if c.ReplicaID == RemoteReplica {
		bad("ReplicaID %q is reserved for remote writes made without mongotide", RemoteReplica)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

// CheckCollectionName reports why name cannot be synced, or nil.
func CheckCollectionName(name string) error {
	switch {
	case name == "":
		return errors.New("collection name is empty")
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("collection name %q contains a NUL byte", name)
	case strings.Contains(name, "$"):
		return fmt.Errorf("collection name %q contains '$'", name)
	case strings.HasPrefix(name, "system."):
		return fmt.Errorf("collection name %q is a system collection", name)
	case strings.HasPrefix(name, metaPrefix):
		return fmt.Errorf("collection name %q is reserved for sync metadata (prefix %q)", name, metaPrefix)
	case len(name) > 200:
		return fmt.Errorf("collection name %q is %d bytes long, at most 200 are allowed", name[:20]+"...", len(name))
	}
	return nil
}
