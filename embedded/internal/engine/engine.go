package engine

import (
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Engine is the storage engine. It is safe for concurrent use.
//
// One RWMutex guards the committed state (catalog, documents, indexes,
// oplog, clock). Writers hold it exclusively for the whole statement, so
// readers never see half of a multi-document write or transaction. Long
// scans read from copy-on-write snapshots of the B-trees so that they do not
// hold the lock while they decode and match documents.
type Engine struct {
	opts Options

	mu     sync.RWMutex
	closed bool
	colls  map[Namespace]*collection
	last   bson.Timestamp // last assigned commit timestamp
	oplog  oplogRing
	hist   history       // snapshot history (history.go)
	notify chan struct{} // closed at the next append; nil until someone asks

	// txnLocks maps a document (collection UUID + _id key) to the active
	// transaction that wrote it, so a second transaction writing it fails
	// fast with WriteConflict.
	txnLocks map[string]*Txn

	store *store // nil when memory-only
	// commits counts successful commits (catalogOp's undo checks it).
	commits uint64
	// repair is what Options.Repair dropped at Open.
	repair RepairReport
}

func open(opts Options) (*Engine, error) {
	e := &Engine{
		opts:     opts,
		colls:    make(map[Namespace]*collection),
		oplog:    newOplogRing(opts.OplogCapacity, opts.OplogSizeBytes),
		txnLocks: make(map[string]*Txn),
	}
	if opts.Dir != "" {
		if err := e.load(); err != nil {
			return nil, err
		}
		// No history survives a restart: earlier times are too old.
		e.hist.floor = e.last
	}
	return e, nil
}

func (e *Engine) close() error {
	e.mu.Lock()
	e.closed = true
	if e.notify != nil {
		close(e.notify)
		e.notify = nil
	}
	e.mu.Unlock()
	// Without e.mu: the flusher may be stopping the engine (failStop).
	if e.store != nil {
		return e.store.close()
	}
	return nil
}

func (e *Engine) clusterTime() bson.Timestamp {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.last
}

// nextTS assigns the next commit timestamp: wall-clock seconds, with the
// increment counting commits within one second. It never goes backwards,
// even when the wall clock does. Callers hold e.mu.
func (e *Engine) nextTS() bson.Timestamp {
	now := uint32(e.opts.Now().Unix())
	if now > e.last.T {
		e.last = bson.Timestamp{T: now, I: 1}
	} else {
		e.last.I++
		if e.last.I == 0 { // 2^32 commits in one second: borrow the next second
			e.last = bson.Timestamp{T: e.last.T + 1, I: 1}
		}
	}
	return e.last
}

// commit stamps entries with one new timestamp, appends them to the oplog
// and the journal and wakes oplog readers. Callers hold e.mu exclusively and
// have already applied the changes to the committed state.
func (e *Engine) commit(entries []Entry) (bson.Timestamp, error) {
	prev := e.last
	ts := e.nextTS()
	wall := e.opts.Now()
	for i := range entries {
		entries[i].Pos = Position{TS: ts, Index: uint32(i)}
		entries[i].Wall = wall
	}
	// Journal first: a commit the journal did not take is not applied
	// (the caller undoes its changes), so no reader or change stream ever
	// sees a write that a restart would lose.
	if e.store != nil {
		if err := e.store.appendCommit(e, entries); err != nil {
			e.last = prev
			// The caller undoes the write: so must the snapshot history.
			e.discardPendingHistory()
			return bson.Timestamp{}, err
		}
	}
	for i := range entries {
		e.oplog.push(entries[i])
	}
	e.stampHistory(ts)
	e.commits++
	if e.notify != nil {
		close(e.notify)
		e.notify = nil
	}
	if e.store != nil {
		// After the push: the snapshot must see these entries. A failed
		// compaction leaves the commit journaled; it is logged.
		e.maybeCompact()
	}
	return ts, nil
}

func (e *Engine) oplogNotify() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	if e.notify == nil {
		e.notify = make(chan struct{})
	}
	return e.notify
}

func (e *Engine) oplogRead(after Position, max int) ([]Entry, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, ErrClosed
	}
	return e.oplog.read(after, max)
}

func (e *Engine) oplogFirst() Position {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.oplog.first()
}

func (e *Engine) oplogLast() Position {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.oplog.lastPos
}

func (e *Engine) estimatedCount(ns Namespace) int64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if c := e.colls[ns]; c != nil {
		return int64(c.docs.Len())
	}
	return 0
}

func (e *Engine) now() time.Time { return e.opts.Now() }
