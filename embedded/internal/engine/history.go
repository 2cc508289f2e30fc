package engine

import (
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Snapshot history (MVCC for reads at an earlier cluster time).
//
// Every committed update, replacement or delete records an undo record:
// the collection (by UUID, which survives renames and a transaction's
// swapped-in copy), the _id, and the version it replaced. A read at
// cluster time T copies the collection's trees copy-on-write, undoes the
// records newer than T, newest first, and drops the versions still newer
// than T (inserts, which every stored version's commit time, docRec.ver,
// identifies without a record). Records leave the history once older
// than Options.SnapshotHistoryWindow or when their before-images exceed
// Options.OplogSizeBytes; the history floor then rises and older reads fail
// with 239 SnapshotTooOld, as mongod's do past
// minSnapshotHistoryWindowInSeconds.

// undoRec is one committed document write, as needed to undo it.
type undoRec struct {
	ts bson.Timestamp
	// uuid identifies the collection: the first byte of its UUID, shared
	// by every copy and rename of it (comparing it allocates nothing).
	uuid   *byte
	id     any
	before *docRec // the replaced version
	size   int64
}

// undoOverhead approximates an undo record's own memory.
const undoOverhead = 64

// history is a FIFO of undo records in commit order.
type history struct {
	recs  []undoRec
	head  int
	bytes int64
	// floor is the oldest cluster time that can still be read: history
	// after it is complete.
	floor bson.Timestamp
	// pending are the records of the commit in progress (stamped by
	// Engine.commit).
	pending []undoRec
	// catalog maps a namespace to its last drop or rename: its data
	// before that time is gone (reads answer 246 SnapshotUnavailable).
	catalog map[Namespace]bson.Timestamp
}

func uuidKey(c *collection) *byte {
	if len(c.uuid.Data) == 0 {
		return nil
	}
	return &c.uuid.Data[0]
}

// noteWrite records that the commit in progress replaces before (nil for an
// insert) by another version of the document id in c. Callers hold e.mu
// exclusively and commit right after.
func (e *Engine) noteWrite(c *collection, id any, before *docRec) {
	if before == nil {
		// An insert needs no record: the version it stored carries its
		// commit time (docRec.ver), and viewAt drops what is newer.
		return
	}
	r := undoRec{uuid: uuidKey(c), id: id, before: before, size: undoOverhead}
	if before != nil {
		r.size += int64(len(before.raw))
	}
	e.hist.pending = append(e.hist.pending, r)
}

// noteCatalogChange records that ns lost its data at the commit in progress
// (drop, rename) and frees the history of the dropped collection, whose
// documents must not outlive it. Callers hold e.mu exclusively.
func (e *Engine) noteCatalogChange(ts bson.Timestamp, ns Namespace, dropped *collection) {
	h := &e.hist
	if h.catalog == nil {
		h.catalog = map[Namespace]bson.Timestamp{}
	}
	h.catalog[ns] = ts
	if dropped == nil {
		return
	}
	// Rebuilt without them: the records themselves (and a backing array
	// grown by appends) would otherwise stay until the window passes.
	uuid := uuidKey(dropped)
	keep := make([]undoRec, 0, len(h.recs)-h.head)
	for _, r := range h.recs[h.head:] {
		if r.uuid == uuid {
			h.bytes -= r.size
			continue
		}
		keep = append(keep, r)
	}
	h.recs, h.head = keep, 0
}

// stampHistory moves the pending records of a commit into the history
// with its timestamp and prunes what fell out of the window or the byte
// bound. Callers hold e.mu exclusively.
func (e *Engine) stampHistory(ts bson.Timestamp) {
	h := &e.hist
	for _, r := range h.pending {
		r.ts = ts
		h.recs = append(h.recs, r)
		h.bytes += r.size
	}
	clear(h.pending)
	h.pending = h.pending[:0]
	e.pruneHistory(e.opts.Now())
}

// pruneHistory drops records older than the window (wall clock) or beyond
// the byte bound, raising the floor past them.
func (e *Engine) pruneHistory(now time.Time) {
	h := &e.hist
	oldest := now.Add(-e.opts.SnapshotHistoryWindow).Unix()
	for h.head < len(h.recs) {
		r := &h.recs[h.head]
		if int64(r.ts.T) >= oldest && h.bytes <= e.opts.OplogSizeBytes {
			break
		}
		h.floor = r.ts
		h.bytes -= r.size
		*r = undoRec{}
		h.head++
	}
	if h.head > 1024 && h.head*2 >= len(h.recs) {
		h.recs = append(h.recs[:0:0], h.recs[h.head:]...)
		h.head = 0
	}
	if oldest > int64(h.floor.T) {
		// Nothing was written since: times before the window are too old
		// all the same.
		h.floor = bson.Timestamp{T: uint32(max(oldest, 0))}
	}
	for ns, ts := range h.catalog {
		if ts.Before(h.floor) {
			delete(h.catalog, ns)
		}
	}
}

// snapshotTooOld is mongod's answer to a read before the retained history.
func snapshotTooOld(ts bson.Timestamp) *Error {
	return errorf(CodeSnapshotTooOld, "SnapshotTooOld",
		"Read timestamp Timestamp(%d, %d) is older than the oldest available timestamp.", ts.T, ts.I)
}

// viewAt returns a private copy of ns as it was at ts. Callers hold e.mu
// exclusively.
func (e *Engine) viewAt(ns Namespace, ts bson.Timestamp) (view, error) {
	if !ts.Before(e.last) {
		if c := e.colls[ns]; c != nil {
			return c.snapshotView(), nil
		}
		return view{}, nil
	}
	e.pruneHistory(e.opts.Now())
	h := &e.hist
	if ts.Before(h.floor) {
		return view{}, snapshotTooOld(ts)
	}
	if at, ok := h.catalog[ns]; ok && ts.Before(at) {
		return view{}, errorf(CodeSnapshotUnavailable, "SnapshotUnavailable",
			"Unable to read from a snapshot due to pending collection catalog changes to %s; please retry the operation. Snapshot timestamp is Timestamp(%d, %d). Collection minimum is Timestamp(%d, %d).",
			ns, ts.T, ts.I, at.T, at.I)
	}
	c := e.colls[ns]
	if c == nil {
		return view{}, nil
	}
	v := c.snapshotView()
	v.unique = nil // the unique indexes are not rewound: let scans answer
	uuid := uuidKey(c)
	for i := len(h.recs) - 1; i >= h.head; i-- {
		r := &h.recs[i]
		if !ts.Before(r.ts) {
			break
		}
		if r.uuid != uuid {
			continue
		}
		if cur, ok := v.byID.Get(&docRec{id: r.id}); ok {
			v.byID.Delete(cur)
			v.natural.Delete(cur)
		}
		if r.before != nil {
			v.byID.Set(r.before)
			v.natural.Set(r.before)
		}
	}
	// What is still newer than ts was inserted after it (inserts keep no
	// undo record; an insert later updated or deleted was rewound to it).
	var newer []*docRec
	v.natural.Scan(func(r *docRec) bool {
		if ts.Before(r.ver) {
			newer = append(newer, r)
		}
		return true
	})
	for _, r := range newer {
		v.byID.Delete(r)
		v.natural.Delete(r)
	}
	return v, nil
}

// Snapshot reads the committed state as of one cluster time.
type Snapshot struct {
	e  *Engine
	ts bson.Timestamp
}

// ReadAt returns a reader of the state at cluster time ts (readConcern
// snapshot with atClusterTime). A time at or after the current cluster time
// reads the latest state. Reads fail with 239 SnapshotTooOld when ts is
// older than the retained history (SnapshotHistoryWindow, OplogSizeBytes,
// or an engine restart), and with 246 SnapshotUnavailable for a namespace
// dropped or renamed after ts.
func (e *Engine) ReadAt(ts bson.Timestamp) (*Snapshot, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	if ts.Before(e.last) {
		e.pruneHistory(e.opts.Now())
		if ts.Before(e.hist.floor) {
			return nil, snapshotTooOld(ts)
		}
	}
	return &Snapshot{e: e, ts: ts}, nil
}

// Time is the snapshot's cluster time.
func (s *Snapshot) Time() bson.Timestamp { return s.ts }

func (s *Snapshot) view(ns Namespace) (view, error) {
	e := s.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return view{}, ErrClosed
	}
	return e.viewAt(ns, s.ts)
}

func errSnapshotWrite() error {
	return fmt.Errorf("engine: a snapshot is read-only")
}

// Insert implements Ops: snapshots are read-only.
func (s *Snapshot) Insert(Namespace, bson.D) (any, error) { return nil, errSnapshotWrite() }

// Update implements Ops: snapshots are read-only.
func (s *Snapshot) Update(Namespace, UpdateArgs) (UpdateResult, error) {
	return UpdateResult{}, errSnapshotWrite()
}

// Delete implements Ops: snapshots are read-only.
func (s *Snapshot) Delete(Namespace, bson.D, int) (int64, error) { return 0, errSnapshotWrite() }

// FindAndModify implements Ops: snapshots are read-only.
func (s *Snapshot) FindAndModify(Namespace, FindAndModifyArgs) (FindAndModifyResult, error) {
	return FindAndModifyResult{}, errSnapshotWrite()
}

// Find implements Ops at the snapshot's time.
func (s *Snapshot) Find(ns Namespace, args FindArgs) ([]bson.Raw, error) {
	v, err := s.view(ns)
	if err != nil {
		return nil, err
	}
	return findTree(v, args)
}

// FindByID implements Ops at the snapshot's time.
func (s *Snapshot) FindByID(ns Namespace, id any) (bson.Raw, bool) {
	v, err := s.view(ns)
	if err != nil {
		return nil, false
	}
	return findByIDTree(v, id)
}

// Count implements Ops at the snapshot's time.
func (s *Snapshot) Count(ns Namespace, args CountArgs) (int64, error) {
	v, err := s.view(ns)
	if err != nil {
		return 0, err
	}
	return countTree(v, args)
}

// Distinct implements Ops at the snapshot's time.
func (s *Snapshot) Distinct(ns Namespace, key string, filter bson.D) ([]any, error) {
	v, err := s.view(ns)
	if err != nil {
		return nil, err
	}
	return distinctTree(v, key, filter)
}

// Aggregate implements Ops at the snapshot's time ($$CLUSTER_TIME is it).
func (s *Snapshot) Aggregate(ns Namespace, args AggregateArgs) ([]bson.D, error) {
	v, err := s.view(ns)
	if err != nil {
		return nil, err
	}
	vars := s.e.pipelineVars(args.Vars)
	vars["CLUSTER_TIME"] = s.ts
	return aggregateTree(v, args, vars)
}

var _ Ops = (*Snapshot)(nil)

// noteReplay records the undo record of a transaction's document entry
// about to be applied to c (a copy that replaces the committed collection).
func (e *Engine) noteReplay(c *collection, en *Entry) error {
	switch en.Op {
	case OpInsert, OpUpdate, OpReplace, OpDelete:
	default:
		return nil
	}
	id, err := rawID(en.DocumentKey)
	if err != nil {
		return err
	}
	old, ok := c.get(id)
	if !ok {
		old = nil
	}
	e.noteWrite(c, id, old)
	return nil
}

// discardPendingHistory forgets the undo records of a commit that failed
// before it was stamped. Callers hold e.mu exclusively.
func (e *Engine) discardPendingHistory() {
	clear(e.hist.pending)
	e.hist.pending = e.hist.pending[:0]
}
