package engine

import (
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// errCappedPositionLost is returned by TailCapped when the document a
// tailable cursor stopped at was evicted from its capped collection. The
// server maps it to code 136 CappedPositionLost.
var errCappedPositionLost = errorf(CodeCappedPositionLost, "CappedPositionLost",
	"CollectionScan died due to position in capped collection being deleted")

// CodeCappedPositionLost is CappedPositionLost (136).
const CodeCappedPositionLost int32 = 136

// evictCapped removes the oldest documents of a capped collection until it
// is within its size and count limits again; keep (the document just
// inserted) is never evicted. Replay runs the same code, so evictions need
// no oplog entries of their own.
func (c *collection) evictCapped(keep *docRec) error {
	if !c.opts.Capped {
		return nil
	}
	for c.natural.Len() > 1 && (c.size > c.opts.CappedSize || (c.opts.CappedMax > 0 && int64(c.natural.Len()) > c.opts.CappedMax)) {
		oldest, ok := c.natural.Min()
		if !ok || oldest == keep {
			return nil
		}
		if err := c.remove(oldest, nil); err != nil {
			return err
		}
		c.cappedEvicted = max(c.cappedEvicted, oldest.rid)
	}
	return nil
}

// checkCappedInsert refuses a document a capped collection cannot hold.
func (c *collection) checkCappedInsert(raw bson.Raw) error {
	if c.opts.Capped && int64(len(raw)) > c.opts.CappedSize {
		return errorf(CodeBadValue, "BadValue", "object to insert exceeds cappedMaxSize")
	}
	return nil
}

// TailArgs is one read of a tailable cursor on a capped collection.
type TailArgs struct {
	Filter     bson.D
	Projection bson.D
	// After is the position (TailResult.Pos) the cursor stopped at; 0
	// starts at the oldest document.
	After int64
	// Max bounds how many documents are returned; <= 0 means no bound.
	Max int
}

// TailResult is what TailCapped returns.
type TailResult struct {
	Docs []bson.Raw
	// Pos is the position to pass as After next time: the last document
	// examined (matching or not), or After when there was none.
	Pos int64
	// Dropped reports that the collection no longer exists (or was
	// recreated: a cursor dies with its collection).
	Dropped bool
}

// TailCapped returns the documents of the capped collection ns inserted
// after position args.After, in insertion order, that match the filter. It
// fails with CappedPositionLost when the document at After was evicted.
// uuid pins the collection the cursor was opened on (nil on the first read).
func (e *Engine) TailCapped(ns Namespace, uuid []byte, args TailArgs) (TailResult, error) {
	m, err := mql.NewMatcher(args.Filter)
	if err != nil {
		return TailResult{}, err
	}
	var proj *mql.Projection
	if len(args.Projection) > 0 {
		if proj, err = mql.NewProjection(args.Projection); err != nil {
			return TailResult{}, err
		}
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return TailResult{}, ErrClosed
	}
	c := e.colls[ns]
	if c == nil || (uuid != nil && string(c.uuid.Data) != string(uuid)) {
		e.mu.Unlock()
		return TailResult{Pos: args.After, Dropped: true}, nil
	}
	if args.After > 0 && args.After <= c.cappedEvicted {
		e.mu.Unlock()
		return TailResult{}, errCappedPositionLost
	}
	natural := c.natural.Copy()
	e.mu.Unlock()
	res := TailResult{Pos: args.After}
	natural.Ascend(&docRec{rid: args.After + 1}, func(r *docRec) bool {
		res.Pos = r.rid
		doc, derr := decodeDoc(r.raw)
		if derr != nil {
			err = derr
			return false
		}
		if !m.Match(doc) {
			return true
		}
		out := r.raw
		if proj != nil {
			if out, err = project(proj, r.raw, doc); err != nil {
				return false
			}
		}
		res.Docs = append(res.Docs, out)
		return args.Max <= 0 || len(res.Docs) < args.Max
	})
	return res, err
}

// CollectionUUID returns the UUID of ns, or nil when it does not exist.
func (e *Engine) CollectionUUID(ns Namespace) []byte {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if c := e.colls[ns]; c != nil {
		return c.uuid.Data
	}
	return nil
}
