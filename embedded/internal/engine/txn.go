package engine

import (
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Txn is a multi-document transaction. It works on private copy-on-write
// copies of every collection taken at its first operation (its snapshot)
// and applies its oplog entries to the committed state at Commit.
type Txn struct {
	e    *Engine
	meta TxnMeta

	mu      sync.Mutex // a session may abort from another goroutine (reaping)
	started bool
	done    bool
	snapTS  bson.Timestamp
	colls   map[Namespace]*collection
	created map[Namespace]bool
	entries []Entry
	// locked are the documents this transaction wrote, with the version it
	// saw in its snapshot (validated again at commit).
	locked map[string]txnLock
}

type txnLock struct {
	uuid    string
	ns      Namespace
	id      any
	existed bool
	ver     bson.Timestamp
}

func (e *Engine) begin(meta TxnMeta) *Txn {
	return &Txn{e: e, meta: meta, created: map[Namespace]bool{}, locked: map[string]txnLock{}}
}

// start takes the snapshot. Callers hold t.mu.
func (t *Txn) start() error {
	if t.done {
		return ErrTxnDone
	}
	if t.started {
		return nil
	}
	e := t.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	t.colls = make(map[Namespace]*collection, len(e.colls))
	for ns, c := range e.colls {
		t.colls[ns] = c.copy()
	}
	t.snapTS = e.last
	t.started = true
	return nil
}

func (t *Txn) addEntry(en Entry) {
	en.LSID, en.TxnNumber = t.meta.LSID, t.meta.TxnNumber
	t.entries = append(t.entries, en)
}

func writeConflict(msg string) *Error {
	return &Error{
		Code:     CodeWriteConflict,
		CodeName: "WriteConflict",
		Message:  "Write conflict during plan execution and yielding is disabled. :: Please retry your operation or multi-document transaction. (" + msg + ")",
		Labels:   []string{LabelTransientTransactionError},
	}
}

// check verifies that the committed state of a document is still what
// the transaction's snapshot saw. Callers hold e.mu.
func (t *Txn) check(l txnLock) error {
	cc := t.e.colls[l.ns]
	if cc == nil && t.created[l.ns] {
		return nil
	}
	if cc == nil || string(cc.uuid.Data) != l.uuid {
		return writeConflict("collection " + l.ns.String() + " was dropped or recreated")
	}
	rec, ok := cc.get(l.id)
	if ok != l.existed || (ok && rec.ver != l.ver) {
		return writeConflict("document changed after the transaction's snapshot")
	}
	return nil
}

// write records one document write of the transaction.
func (t *Txn) write(c *collection, old *docRec, oldDoc bson.D, rec *docRec, doc bson.D, entry Entry) error {
	id := old
	if id == nil {
		id = rec
	}
	key := string(c.uuid.Data) + idKey(id.id)
	if _, mine := t.locked[key]; !mine {
		snap, existed := c.get(id.id)
		l := txnLock{uuid: string(c.uuid.Data), ns: c.ns, id: id.id, existed: existed}
		if existed {
			l.ver = snap.ver
		}
		e := t.e
		e.mu.Lock()
		if other := e.txnLocks[key]; other != nil && other != t {
			e.mu.Unlock()
			return writeConflict("document is being written by another transaction")
		}
		if err := t.check(l); err != nil {
			e.mu.Unlock()
			return err
		}
		e.txnLocks[key] = t
		e.mu.Unlock()
		t.locked[key] = l
	}
	var err error
	if rec == nil {
		err = c.remove(old, oldDoc)
	} else {
		err = c.put(old, oldDoc, rec, doc)
	}
	if err != nil {
		return err
	}
	t.addEntry(entry)
	return nil
}

// releaseLocks drops the transaction's document locks. Callers hold e.mu.
func (t *Txn) releaseLocks() {
	for key := range t.locked {
		if t.e.txnLocks[key] == t {
			delete(t.e.txnLocks, key)
		}
	}
}

func (t *Txn) commit() (bson.Timestamp, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return bson.Timestamp{}, ErrTxnDone
	}
	t.done = true
	e := t.e
	e.mu.Lock()
	defer e.mu.Unlock()
	defer t.releaseLocks()
	// A commit that fails half way must not leave its undo records for
	// the next commit to stamp (after a success they are already stamped).
	defer e.discardPendingHistory()
	if e.closed {
		return bson.Timestamp{}, ErrClosed
	}
	if len(t.entries) == 0 {
		return e.last, nil
	}
	for _, l := range t.locked {
		if err := t.check(l); err != nil {
			return bson.Timestamp{}, err
		}
	}
	// Apply to copies of the committed collections, then swap them in: a
	// failure half way leaves the committed state untouched.
	work := map[Namespace]*collection{}
	var recs []*docRec
	for i := range t.entries {
		en := &t.entries[i]
		c := work[en.NS]
		if c == nil {
			if en.Op == OpCreate {
				if e.colls[en.NS] != nil {
					return bson.Timestamp{}, writeConflict("collection " + en.NS.String() + " was created concurrently")
				}
				c = t.colls[en.NS]
				fresh, err := newCollection(en.NS, c.uuid, c.opts)
				if err != nil {
					return bson.Timestamp{}, err
				}
				work[en.NS] = fresh
				continue
			}
			cc := e.colls[en.NS]
			if cc == nil {
				return bson.Timestamp{}, writeConflict("collection " + en.NS.String() + " was dropped")
			}
			c = cc.copy()
			work[en.NS] = c
		}
		if err := e.noteReplay(c, en); err != nil {
			return bson.Timestamp{}, err
		}
		if en.Op == OpCreateIndexes {
			if err := replayCreateIndexes(c, en); err != nil {
				return bson.Timestamp{}, err
			}
			continue
		}
		if rec, err := replayDoc(c, en); err != nil {
			if _, dup := err.(*Error); dup {
				return bson.Timestamp{}, writeConflict(err.Error())
			}
			return bson.Timestamp{}, err
		} else if rec != nil {
			recs = append(recs, rec)
		}
	}
	olds := make(map[Namespace]*collection, len(work))
	for ns, c := range work {
		olds[ns] = e.colls[ns]
		e.colls[ns] = c
	}
	ts, err := e.commit(t.entries)
	if err != nil {
		// Not journaled: none of the transaction stays applied.
		for ns, c := range olds {
			if c == nil {
				delete(e.colls, ns)
			} else {
				e.colls[ns] = c
			}
		}
		return ts, err
	}
	for _, r := range recs {
		r.ver = ts
	}
	return ts, nil
}

func (t *Txn) abort() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return
	}
	t.done = true
	t.e.mu.Lock()
	t.releaseLocks()
	t.e.mu.Unlock()
	t.colls, t.entries = nil, nil
}

// replayDoc applies one document entry to c (commit and journal replay)
// and returns the stored record (nil for deletes).
func replayDoc(c *collection, en *Entry) (*docRec, error) {
	switch en.Op {
	case OpInsert, OpUpdate, OpReplace:
		id, err := rawID(en.Document)
		if err != nil {
			return nil, err
		}
		rec := &docRec{id: id, raw: en.Document}
		old, _ := c.get(id)
		if en.Op == OpInsert && old != nil {
			return nil, dupIDError(c.ns, id)
		}
		return rec, c.put(old, nil, rec, nil)
	case OpDelete:
		id, err := rawID(en.DocumentKey)
		if err != nil {
			return nil, err
		}
		if old, ok := c.get(id); ok {
			return nil, c.remove(old, nil)
		}
		return nil, nil
	}
	return nil, nil
}

func (t *Txn) op(fn func(st *opState) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.start(); err != nil {
		return err
	}
	return fn(&opState{e: t.e, txn: t, colls: t.colls})
}

// Insert implements Ops.
func (t *Txn) Insert(ns Namespace, doc bson.D) (id any, err error) {
	err = t.op(func(st *opState) error {
		id, err = st.insert(ns, doc)
		return err
	})
	return id, err
}

// Update implements Ops.
func (t *Txn) Update(ns Namespace, args UpdateArgs) (res UpdateResult, err error) {
	err = t.op(func(st *opState) error {
		res, err = st.update(ns, args)
		return err
	})
	return res, err
}

// Delete implements Ops.
func (t *Txn) Delete(ns Namespace, filter bson.D, limit int) (n int64, err error) {
	err = t.op(func(st *opState) error {
		n, err = st.delete(ns, filter, limit)
		return err
	})
	return n, err
}

// FindAndModify implements Ops.
func (t *Txn) FindAndModify(ns Namespace, args FindAndModifyArgs) (res FindAndModifyResult, err error) {
	err = t.op(func(st *opState) error {
		res, err = st.findAndModify(ns, args)
		return err
	})
	return res, err
}

// Find implements Ops.
func (t *Txn) Find(ns Namespace, args FindArgs) (out []bson.Raw, err error) {
	err = t.op(func(st *opState) error {
		var c = st.coll(ns)
		if c == nil {
			return nil
		}
		out, err = findTree(c.view(), args)
		return err
	})
	return out, err
}

// FindByID implements Ops.
func (t *Txn) FindByID(ns Namespace, id any) (raw bson.Raw, ok bool) {
	_ = t.op(func(st *opState) error {
		if c := st.coll(ns); c != nil {
			raw, ok = findByIDTree(c.view(), id)
		}
		return nil
	})
	return raw, ok
}

// Count implements Ops.
func (t *Txn) Count(ns Namespace, args CountArgs) (n int64, err error) {
	err = t.op(func(st *opState) error {
		c := st.coll(ns)
		if c == nil {
			n, err = countTree(view{}, args)
			return err
		}
		n, err = countTree(c.view(), args)
		return err
	})
	return n, err
}

// Distinct implements Ops.
func (t *Txn) Distinct(ns Namespace, key string, filter bson.D) (out []any, err error) {
	err = t.op(func(st *opState) error {
		c := st.coll(ns)
		if c == nil {
			out, err = distinctTree(view{}, key, filter)
			return err
		}
		out, err = distinctTree(c.view(), key, filter)
		return err
	})
	return out, err
}

// Aggregate implements Ops.
func (t *Txn) Aggregate(ns Namespace, args AggregateArgs) (out []bson.D, err error) {
	vars := t.e.pipelineVars(args.Vars)
	err = t.op(func(st *opState) error {
		c := st.coll(ns)
		if c == nil {
			out, err = aggregateTree(view{}, args, vars)
			return err
		}
		out, err = aggregateTree(c.view(), args, vars)
		return err
	})
	return out, err
}
