// Package engine is the storage core of the embedded server: databases and
// collections kept in ordered B-trees by _id, secondary (unique) indexes,
// snapshot transactions, a cluster clock, the capped oplog that change
// streams read, and optional persistence of data and oplog to a directory.
//
// It knows nothing about the wire protocol; the embedded package translates
// commands into calls on an *Engine (auto-commit) or a *Txn (multi-document
// transaction), both of which implement Ops.
//
// # Storage
//
// Documents are stored as immutable bson.Raw records in two copy-on-write
// B-trees (github.com/tidwall/btree): one ordered by _id (point lookups,
// {_id: X} filters) and one in natural order (insertion order, which an
// update keeps, as MongoDB returns documents without a sort). Unique
// secondary indexes are B-trees of (key values, _id); other indexes are
// only recorded for listIndexes since there is no query planner. Every
// write is O(log n). Documents are decoded into bson.D only to match,
// update, sort or project them.
//
// # Concurrency
//
// One RWMutex guards the committed state. Auto-commit writes hold it for the
// whole statement (each document write is still its own commit with its own
// timestamp). Scans take O(1) copy-on-write snapshots of the B-trees and
// decode and match without the lock. A transaction copies every collection
// copy-on-write at its first operation (its snapshot), writes to its copies,
// and at Commit validates and applies its oplog entries to the committed
// state atomically (one timestamp, Index 0..n-1). Writing a document that a
// commit changed after the snapshot, or that another open transaction
// wrote, fails with WriteConflict (112, label TransientTransactionError).
// Unlike MongoDB, a non-transactional write to a document an open
// transaction wrote does not wait: it succeeds, and the transaction's
// Commit then fails with WriteConflict.
//
// # Oplog
//
// Every change, catalog changes included, is an Entry in a capped ring of
// Options.OplogCapacity entries. Document entries always carry the
// post-image (Document) and, when the collection has
// changeStreamPreAndPostImages, the pre-image. A write that changes nothing
// logs nothing. Readers poll with OplogRead and sleep on OplogNotify.
//
// # Persistence
//
// With Options.Dir each commit is appended to a journal (CRC-framed BSON
// records of its oplog entries) and flushed to the OS; Close fsyncs. When
// the journal exceeds Options.CompactBytes the engine rotates it and writes
// a snapshot (collections, indexes, options, the retained oplog, the clock)
// in the background to a temporary file that is fsynced and renamed into
// place. Open loads the snapshot and replays the journals after it; a torn
// last record (a crash mid-append) is truncated with a logged warning. A
// LOCK file keeps a second engine out of the same directory.
package engine
