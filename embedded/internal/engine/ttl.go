package engine

import (
	"time"

	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TTL indexes: what MongoDB's TTLMonitor does on each pass. A document
// expires when the indexed field holds a date (an array: its earliest date)
// older than now minus expireAfterSeconds, and it matches the index's
// partialFilterExpression. Each expired document is deleted as an ordinary
// auto-commit delete: its own oplog entry, so change streams see a delete
// event. Fields that are not dates never expire.

// ttlBatch bounds how many documents one hold of the engine lock deletes,
// so a large expiry does not stall writers.
const ttlBatch = 500

// ttlIndex is one TTL index found by a pass.
type ttlIndex struct {
	ns      Namespace
	uuid    *byte
	path    string
	expire  time.Duration
	partial *mql.Matcher
}

// ExpireTTL deletes the documents that TTL indexes expire at now and
// returns how many it deleted.
func (e *Engine) ExpireTTL(now time.Time) (int64, error) {
	idxs, err := e.ttlIndexes()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, ix := range idxs {
		n, err := e.expireIndex(ix, now)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (e *Engine) ttlIndexes() ([]ttlIndex, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, ErrClosed
	}
	var out []ttlIndex
	for ns, c := range e.colls {
		for _, ix := range c.indexes {
			s := ix.spec.ExpireAfterSeconds
			if s == nil || *s < 0 || len(ix.spec.Key) != 1 || ix.spec.Key[0].Key == "_id" {
				continue
			}
			out = append(out, ttlIndex{ns: ns, uuid: uuidKey(c), path: ix.spec.Key[0].Key,
				expire: time.Duration(*s) * time.Second, partial: ix.partial})
		}
	}
	return out, nil
}

// expired reports whether doc is expired by ix at now.
func (ix *ttlIndex) expired(doc bson.D, now time.Time) bool {
	if ix.partial != nil && !ix.partial.Match(doc) {
		return false
	}
	vals, found := keyValues(doc, ix.path)
	if !found {
		return false
	}
	var earliest time.Time
	has := false
	for _, v := range vals {
		d, ok := v.(bson.DateTime)
		if !ok {
			continue
		}
		if t := d.Time(); !has || t.Before(earliest) {
			earliest, has = t, true
		}
	}
	return has && earliest.Add(ix.expire).Before(now)
}

// expireIndex finds the expired documents on a snapshot, then deletes them
// in batches, checking each again under the lock (a write may have renewed
// its date since the scan).
func (e *Engine) expireIndex(ix ttlIndex, now time.Time) (int64, error) {
	v, err := e.readTree(ix.ns)
	if err != nil || v.natural == nil {
		return 0, err
	}
	var ids []any
	var derr error
	v.natural.Scan(func(r *docRec) bool {
		doc, err := decodeDoc(r.raw)
		if err != nil {
			derr = err
			return false
		}
		if ix.expired(doc, now) {
			ids = append(ids, r.id)
		}
		return true
	})
	if derr != nil {
		return 0, derr
	}
	var n int64
	for len(ids) > 0 {
		batch := ids[:min(len(ids), ttlBatch)]
		ids = ids[len(batch):]
		err := e.writeOp(func(st *opState) error {
			c := st.coll(ix.ns)
			if c == nil || uuidKey(c) != ix.uuid {
				ids = nil // dropped or replaced meanwhile
				return nil
			}
			for _, id := range batch {
				rec, ok := c.get(id)
				if !ok {
					continue
				}
				doc, err := decodeDoc(rec.raw)
				if err != nil {
					return err
				}
				if !ix.expired(doc, now) {
					continue
				}
				if err := st.deleteDoc(c, match{rec: rec, doc: doc}); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
