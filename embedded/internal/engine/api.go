package engine

import (
	"errors"
	"log/slog"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/vfs"
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// This file is the exported API of the engine: the contract with the server
// (package embedded) and the change-stream engineer. Implementations live in
// the other files of the package.

// Options configures Open. The zero value is a memory-only engine.
type Options struct {
	// OplogCapacity is how many oplog entries are retained at most; the
	// oldest are dropped first. Default 100_000.
	OplogCapacity int
	// OplogSizeBytes bounds the retained oplog in bytes, like MongoDB's
	// oplogSizeMB: an entry counts every document it holds (post-image,
	// pre-image) plus a small overhead, and the oldest entries are dropped
	// first once the total exceeds it. Default DefaultOplogSizeBytes.
	OplogSizeBytes int64
	// SnapshotHistoryWindow is how long snapshot reads at an earlier
	// cluster time (ReadAt) stay possible, like MongoDB's
	// minSnapshotHistoryWindowInSeconds. Default 300 s.
	SnapshotHistoryWindow time.Duration
	// Dir, when not empty, makes the engine persistent: data, indexes,
	// collection options, the retained oplog and the clock survive Close and
	// Open on the same directory. It is created if missing.
	Dir string
	// Logger receives warnings (for example a torn journal tail truncated at
	// Open). Default: slog.Default().
	Logger *slog.Logger
	// Now is the wall clock. Default time.Now.
	Now func() time.Time
	// CompactBytes is the journal size after which the engine writes a
	// snapshot and starts a fresh journal. Default 64 MiB.
	CompactBytes int64
	// Sync says which commits are fsynced before WaitDurable returns
	// for them; see SyncMode. Default SyncJournaled.
	Sync SyncMode
	// CommitInterval is how often the journal is fsynced in the background
	// (mongod's commitIntervalMs): a write that did not wait is durable
	// within it. Default 100 ms.
	CommitInterval time.Duration
	// Repair makes Open keep every intact record of a damaged directory
	// instead of refusing it; Repaired reports what was dropped.
	Repair bool
	// FS is the file layer (tests inject faults); nil is the OS.
	FS vfs.FS
}

// SyncMode chooses when commits reach the disk (Options.Sync).
type SyncMode string

const (
	// SyncJournaled (the default) fsyncs for writes that ask for it (j:
	// true, w: "majority", transaction commits: the server calls
	// WaitDurable), sharing one fsync among concurrent callers, and every
	// CommitInterval for the rest.
	SyncJournaled SyncMode = "journaled"
	// SyncAlways makes every write wait for the fsync.
	SyncAlways SyncMode = "always"
)

// Defaults of Options.
const (
	// DefaultOplogSizeBytes is 192 MiB. mongod sizes its oplog at 5% of the
	// disk (in-memory engine: of RAM), at least 990 MB: meant for a
	// dedicated machine. An embedded server shares its process, so the
	// bound is the memory a test or a local app can spare while still
	// holding hours of ordinary change-stream history (about 200,000
	// entries of 1 KiB documents).
	DefaultOplogSizeBytes = 192 << 20
	// DefaultSnapshotHistoryWindow is MongoDB's default
	// minSnapshotHistoryWindowInSeconds.
	DefaultSnapshotHistoryWindow = 300 * time.Second
)

// WithDefaults returns o with every zero field set to its documented default.
func (o Options) WithDefaults() Options {
	if o.OplogCapacity <= 0 {
		o.OplogCapacity = 100_000
	}
	if o.OplogSizeBytes <= 0 {
		o.OplogSizeBytes = DefaultOplogSizeBytes
	}
	if o.SnapshotHistoryWindow <= 0 {
		o.SnapshotHistoryWindow = DefaultSnapshotHistoryWindow
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sync == "" {
		o.Sync = SyncJournaled
	}
	if o.CommitInterval <= 0 {
		o.CommitInterval = 100 * time.Millisecond
	}
	if o.CompactBytes <= 0 {
		o.CompactBytes = 64 << 20
	}
	return o
}

// Sentinel errors.
var (
	// ErrHistoryLost is returned by OplogRead when entries after the given
	// position were already dropped from the capped oplog. The server maps
	// it to code 286 ChangeStreamHistoryLost.
	ErrHistoryLost = errors.New("engine: oplog history lost: resume point is older than the retained oplog")
	// ErrClosed is returned by every operation after Close.
	ErrClosed = errors.New("engine: closed")
	// ErrTxnDone is returned by operations on a transaction that was already
	// committed or aborted.
	ErrTxnDone = errors.New("engine: transaction already committed or aborted")
)

// CollectionOptions are the options a collection is created with.
type CollectionOptions struct {
	// Collation is the collection's default collation ({locale: ...} with
	// every option filled in); empty is the simple collation. Operations
	// without a collation, the validator and new indexes use it.
	Collation bson.D

	// ChangeStreamPreAndPostImages makes oplog entries of this collection
	// carry pre-images (Entry.PreImage) and marks them ImagesEnabled.
	ChangeStreamPreAndPostImages bool
	// Validator, if not empty, is a query filter every inserted or updated
	// document must match (otherwise code 121 DocumentValidationFailure).
	Validator bson.D
	// ValidationLevel is "strict" (also ""), "moderate" (updates of
	// documents that did not match are not checked) or "off".
	ValidationLevel string
	// ValidationAction is "error" (also "" and "errorAndLog") or "warn"
	// (nothing is rejected; mongod only logs).
	ValidationAction string
	// Capped makes the collection a capped collection: an insert that
	// takes it past CappedSize bytes or CappedMax documents evicts the
	// oldest documents (natural order) first, as MongoDB does. Evictions
	// write no oplog entries (MongoDB's do not reach change streams either).
	Capped     bool
	CappedSize int64
	// CappedMax is the document limit; 0 means none.
	CappedMax int64
	// ClusteredIndex is a clustered collection's clusteredIndex option as
	// listCollections reports it ({v, key: {_id: 1}, unique, name}).
	// Documents are kept in _id order in every collection, so it changes
	// only what the catalog reports.
	ClusteredIndex bson.D
	// Timeseries is a time-series collection's timeseries option as
	// listCollections reports it; every inserted document needs a date in
	// its timeField.
	Timeseries bson.D
	// ExpireAfterSeconds is the expireAfterSeconds option of a clustered
	// or time-series collection (stored and reported).
	ExpireAfterSeconds *int64
	// StorageEngine and IndexOptionDefaults are storage tuning: stored and
	// reported by listCollections as given, without effect.
	StorageEngine, IndexOptionDefaults bson.D
}

// CollModArgs are the changes of a collMod command; nil fields are left as
// they are.
type CollModArgs struct {
	ChangeStreamPreAndPostImages *bool
	// Validator replaces the validator when non-nil (an empty bson.D removes it).
	Validator *bson.D
	// ValidationLevel and ValidationAction replace theirs when non-nil.
	ValidationLevel, ValidationAction *string
}

// CollectionInfo describes a collection for listCollections and stats.
type CollectionInfo struct {
	Name    string
	UUID    bson.Binary // subtype 4
	Options CollectionOptions
	// Count is the number of documents (estimatedDocumentCount).
	Count int64
	// Size is the total size of the stored BSON documents in bytes.
	Size int64
	// NIndexes counts the indexes including _id_.
	NIndexes int
}

// DatabaseInfo describes a database for listDatabases and dbStats.
type DatabaseInfo struct {
	Name        string
	Collections int
	Objects     int64
	// SizeOnDisk is the summed document size (there is no real disk layout).
	SizeOnDisk int64
}

// IndexSpec is an index definition as createIndexes receives it and
// listIndexes reports it.
type IndexSpec struct {
	// PrepareUnique makes new duplicate keys fail with 11000 (existing
	// ones stay) so that collMod can then make the index unique.
	PrepareUnique bool

	// Collation is the index's collation, stored and reported (empty:
	// simple).
	Collation bson.D

	Name   string
	Key    bson.D
	Unique bool
	Sparse bool
	// PartialFilterExpression limits the index (and its uniqueness) to
	// documents matching it.
	PartialFilterExpression bson.D
	// ExpireAfterSeconds makes a single-field index a TTL index:
	// ExpireTTL deletes documents whose indexed date is older than it.
	ExpireAfterSeconds *int32
	// Hidden is stored and reported.
	Hidden bool
	// Extra are the options of text, wildcard and geo indexes (weights,
	// default_language, language_override, textIndexVersion,
	// wildcardProjection, 2dsphereIndexVersion, bits, min, max), stored
	// and reported as given; no query uses these indexes.
	Extra bson.D
}

// CreateIndexesResult is the reply data of createIndexes.
type CreateIndexesResult struct {
	NumIndexesBefore               int
	NumIndexesAfter                int
	CreatedCollectionAutomatically bool
	// Note is "all indexes already exist" when nothing was created.
	Note string
}

// TxnMeta identifies a multi-document transaction; its oplog entries carry
// these values.
type TxnMeta struct {
	LSID      bson.Raw
	TxnNumber *int64
}

// UpdateArgs is one update statement.
type UpdateArgs struct {
	// BypassDocumentValidation skips the collection's validator.
	BypassDocumentValidation bool

	// Collation is the operation's collation option as given (nil: the
	// collection's default applies; {locale: "simple"}: binary).
	Collation bson.D

	Filter bson.D
	// Update is a bson.D of update operators, a bson.D replacement document,
	// or a bson.A aggregation pipeline.
	Update       any
	ArrayFilters []bson.D
	Multi        bool
	Upsert       bool
	// Sort picks the document an updateOne (Multi false) modifies (8.0).
	Sort bson.D
	// KeepEmptyTimestamps keeps Timestamp(0, 0) in a replacement
	// (bypassEmptyTsReplacement) instead of setting the cluster time.
	KeepEmptyTimestamps bool
}

// UpdateResult reports one update statement.
type UpdateResult struct {
	Matched  int64
	Modified int64
	// UpsertedID is the _id of the inserted document when the update
	// upserted, else nil.
	UpsertedID any
}

// FindAndModifyArgs is a findAndModify command.
type FindAndModifyArgs struct {
	// BypassDocumentValidation skips the collection's validator.
	BypassDocumentValidation bool

	// Collation is the operation's collation option as given (nil: the
	// collection's default applies; {locale: "simple"}: binary).
	Collation bson.D

	Query  bson.D
	Sort   bson.D
	Remove bool
	// Update is as in UpdateArgs; nil when Remove is set.
	Update       any
	ArrayFilters []bson.D
	// New returns the document after the update instead of before it.
	New    bool
	Fields bson.D
	Upsert bool
	// KeepEmptyTimestamps is as in UpdateArgs.
	KeepEmptyTimestamps bool
}

// FindAndModifyResult is the outcome of findAndModify.
type FindAndModifyResult struct {
	// Value is the (projected) document, or nil for "value: null".
	Value bson.Raw
	// N is lastErrorObject.n.
	N int64
	// UpdatedExisting is lastErrorObject.updatedExisting (updates only).
	UpdatedExisting bool
	// Upserted is lastErrorObject.upserted, or nil.
	Upserted any
}

// FindArgs is a find query.
type FindArgs struct {
	// Collation is the operation's collation option as given (nil: the
	// collection's default applies; {locale: "simple"}: binary).
	Collation bson.D

	Filter     bson.D
	Sort       bson.D
	Projection bson.D
	Skip       int64
	// Limit <= 0 means no limit.
	Limit int64
	// Memory bounds a blocking sort (StageBytes, NoDiskUse): over the
	// limit with NoDiskUse it fails with 292; otherwise it sorts in memory.
	Memory mql.MemoryLimits
}

// CountArgs is a count command.
type CountArgs struct {
	// Collation is the operation's collation option as given (nil: the
	// collection's default applies; {locale: "simple"}: binary).
	Collation bson.D

	Filter bson.D
	Skip   int64
	// Limit <= 0 means no limit.
	Limit int64
}

// AggregateArgs is an aggregate command on a collection.
type AggregateArgs struct {
	// Collation is the operation's collation option as given (nil: the
	// collection's default applies; {locale: "simple"}: binary).
	Collation bson.D

	Stages []bson.D
	// Vars are extra pipeline variables (from "let"); NOW and CLUSTER_TIME
	// are supplied by the engine.
	Vars map[string]any
	// Memory bounds the pipeline run (see mql.MemoryLimits); the zero
	// value sets no limit.
	Memory mql.MemoryLimits
}

// Ops are the data operations. *Engine implements them with auto-commit
// (every document write is its own commit with its own timestamp); *Txn
// implements them inside a multi-document transaction. Reads never fail on
// a missing collection: they see it as empty.
type Ops interface {
	// Insert stores doc in ns, creating the collection if needed. An _id
	// (a new ObjectID) is added first when missing, and _id is moved to the
	// first position. It returns the _id. Duplicate keys fail with code
	// 11000 (*Error with KeyPattern and KeyValue set).
	Insert(ns Namespace, doc bson.D) (id any, err error)
	// Update runs one update statement.
	Update(ns Namespace, args UpdateArgs) (UpdateResult, error)
	// Delete removes documents matching filter; limit 1 removes at most one,
	// 0 removes all. It returns the number removed.
	Delete(ns Namespace, filter bson.D, limit int) (int64, error)
	// FindAndModify runs a findAndModify command.
	FindAndModify(ns Namespace, args FindAndModifyArgs) (FindAndModifyResult, error)
	// Find returns the matching documents, in natural (insertion) order
	// unless args.Sort is set (ties keep natural order). Equality on _id or
	// on a uniquely indexed field is answered without a scan. The returned
	// bson.Raw values are shared with the store and must not be modified.
	Find(ns Namespace, args FindArgs) ([]bson.Raw, error)
	// FindByID returns the document with the given _id.
	FindByID(ns Namespace, id any) (bson.Raw, bool)
	// Count counts matching documents after skip and limit.
	Count(ns Namespace, args CountArgs) (int64, error)
	// Distinct returns the distinct values of key (arrays are unwound one
	// level) among matching documents, in BSON order.
	Distinct(ns Namespace, key string, filter bson.D) ([]any, error)
	// Aggregate runs a pipeline over the collection.
	Aggregate(ns Namespace, args AggregateArgs) ([]bson.D, error)
}

var (
	_ Ops = (*Engine)(nil)
	_ Ops = (*Txn)(nil)
)

// Open creates an engine, loading the snapshot and journal from opts.Dir
// when it is set. A torn journal tail is truncated with a logged warning.
func Open(opts Options) (*Engine, error) { return open(opts.WithDefaults()) }

// Close flushes and fsyncs the journal (when persistent) and releases the
// engine. It is idempotent.
func (e *Engine) Close() error { return e.close() }

// ClusterTime returns the last timestamp assigned to a commit. Timestamps
// strictly increase, also across a restart on the same Dir.
func (e *Engine) ClusterTime() bson.Timestamp { return e.clusterTime() }

// Catalog operations. Each successful change is one commit appending oplog
// entries (OpCreate, OpDrop, ...).

// CreateCollection creates ns. An existing collection fails with code 48
// NamespaceExists.
func (e *Engine) CreateCollection(ns Namespace, opts CollectionOptions) error {
	return e.createCollection(ns, opts)
}

// DropCollection drops ns and reports whether it existed.
func (e *Engine) DropCollection(ns Namespace) (existed bool, err error) {
	return e.dropCollection(ns)
}

// DropDatabase drops every collection of db (one OpDrop each, then one
// OpDropDatabase when the database existed).
func (e *Engine) DropDatabase(db string) error { return e.dropDatabase(db) }

// RenameCollection renames from to to (one OpRename entry; when dropTarget
// replaces an existing target, the entry's Object is {dropTarget: true} and,
// as on MongoDB, there is no separate OpDrop for the target). A missing
// source fails with code 26 NamespaceNotFound; an existing target fails with
// code 48 NamespaceExists unless dropTarget is set.
func (e *Engine) RenameCollection(from, to Namespace, dropTarget bool) error {
	return e.renameCollection(from, to, dropTarget)
}

// ListDatabases lists databases that have at least one collection, by name.
func (e *Engine) ListDatabases() []DatabaseInfo { return e.listDatabases() }

// ListCollections lists the collections of db, by name.
func (e *Engine) ListCollections(db string) []CollectionInfo { return e.listCollections(db) }

// Collection describes one collection.
func (e *Engine) Collection(ns Namespace) (CollectionInfo, bool) { return e.collectionInfo(ns) }

// CollMod changes collection options. A missing collection fails with code
// 26 NamespaceNotFound.
func (e *Engine) CollMod(ns Namespace, args CollModArgs) error { return e.collMod(ns, args) }

// CreateIndexes builds indexes, creating the collection if needed. An
// existing index with the same name and key is not an error; the same name
// with another key fails with code 86 IndexKeySpecsConflict, the same key
// under another name or options with 85 IndexOptionsConflict; a unique
// index over duplicate values fails with 11000.
func (e *Engine) CreateIndexes(ns Namespace, specs []IndexSpec) (CreateIndexesResult, error) {
	return e.createIndexes(ns, specs)
}

// ListIndexes lists the indexes of ns, _id_ first. Nested documents
// (PartialFilterExpression) are shared with the engine: do not modify them. A missing collection
// fails with code 26 NamespaceNotFound.
func (e *Engine) ListIndexes(ns Namespace) ([]IndexSpec, error) { return e.listIndexes(ns) }

// DropIndexes drops the named indexes ("*" drops all but _id_) and returns
// the number of indexes before. Unknown names fail with code 27
// IndexNotFound; dropping _id_ fails with code 72 InvalidOptions.
func (e *Engine) DropIndexes(ns Namespace, names []string) (nIndexesWas int, err error) {
	return e.dropIndexes(ns, names)
}

// DropIndexByKey drops the index whose key pattern equals key.
func (e *Engine) DropIndexByKey(ns Namespace, key bson.D) (nIndexesWas int, err error) {
	return e.dropIndexByKey(ns, key)
}

// Transactions.

// Begin starts a multi-document transaction. Its snapshot is taken at its
// first operation. Reads see the snapshot plus the transaction's own writes;
// Commit applies everything atomically as one commit (all entries share one
// timestamp, Index 0..n-1, carrying meta). Writing a document that another
// commit changed after the snapshot fails with code 112 WriteConflict and
// the TransientTransactionError label, as does a commit that finds such a
// change made meanwhile by a non-transactional write.
func (e *Engine) Begin(meta TxnMeta) *Txn { return e.begin(meta) }

// Commit applies the transaction and returns its timestamp (the current
// cluster time when it wrote nothing).
func (t *Txn) Commit() (bson.Timestamp, error) { return t.commit() }

// Abort discards the transaction. It is idempotent.
func (t *Txn) Abort() { t.abort() }

// Oplog.

// OplogRead returns up to max entries strictly after after, oldest first.
// It fails with ErrHistoryLost when some entries after after were already
// dropped. The zero Position reads from the oldest retained entry (and
// fails with ErrHistoryLost once anything was dropped).
func (e *Engine) OplogRead(after Position, max int) ([]Entry, error) { return e.oplogRead(after, max) }

// OplogFirst returns the position of the oldest retained entry (zero when
// the oplog is empty).
func (e *Engine) OplogFirst() Position { return e.oplogFirst() }

// OplogLast returns the position of the newest entry (zero when nothing was
// ever written).
func (e *Engine) OplogLast() Position { return e.oplogLast() }

// OplogNotify returns a channel that is closed at the next append. Take a
// fresh one after each wake-up (and before re-reading, so no append is
// missed).
func (e *Engine) OplogNotify() <-chan struct{} { return e.oplogNotify() }

// Before returns the greatest position strictly before every entry with
// timestamp ts: OplogRead(Before(ts), n) starts at ts (startAtOperationTime).
func Before(ts bson.Timestamp) Position {
	switch {
	case ts.I > 0:
		return Position{TS: bson.Timestamp{T: ts.T, I: ts.I - 1}, Index: ^uint32(0)}
	case ts.T > 0:
		return Position{TS: bson.Timestamp{T: ts.T - 1, I: ^uint32(0)}, Index: ^uint32(0)}
	}
	return Position{}
}

// Stats.

// EstimatedCount returns the number of documents in ns (0 if missing).
func (e *Engine) EstimatedCount(ns Namespace) int64 { return e.estimatedCount(ns) }
