package engine

import (
	"github.com/mongotide/mongotide/internal/mql"
	"github.com/tidwall/btree"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// docRec is one stored document. Records are immutable once stored: an
// update stores a new record, so snapshots sharing B-tree nodes stay valid.
type docRec struct {
	id  any
	raw bson.Raw
	// ver is the timestamp of the commit that wrote this version (zero
	// while it exists only inside an uncommitted transaction).
	ver bson.Timestamp
	// rid orders documents naturally (insertion order, as MongoDB returns
	// them without a sort); an update keeps the rid of the old version.
	rid int64
}

func lessRID(a, b *docRec) bool { return a.rid < b.rid }

// view is a collection's documents in both orders. Views handed to readers
// are copy-on-write snapshots that no writer mutates.
type view struct {
	byID    *btree.BTreeG[*docRec]
	natural *btree.BTreeG[*docRec]
	// unique are the single-field, non-partial unique indexes, usable to
	// answer equality filters without a scan.
	unique []uniqueIndex
	// collation is the collection's default collation (nil: simple).
	collation *mql.Collation
}

type uniqueIndex struct {
	path string
	keys *btree.BTreeG[ikey]
}

func (v view) len() int {
	if v.byID == nil {
		return 0
	}
	return v.byID.Len()
}

func lessDoc(a, b *docRec) bool { return mql.Compare(a.id, b.id) < 0 }

func newDocTree() *btree.BTreeG[*docRec] {
	return btree.NewBTreeGOptions(lessDoc, btree.Options{NoLocks: true})
}

// collection is one collection's data. The committed collections are
// mutated in place under Engine.mu; transactions work on copies (copy()).
type collection struct {
	ns        Namespace
	uuid      bson.Binary
	opts      CollectionOptions
	validator *mql.Matcher
	// collation is the default collation, compiled (nil: simple).
	collation *mql.Collation
	docs      *btree.BTreeG[*docRec] // by _id
	natural   *btree.BTreeG[*docRec] // by rid
	nextRID   int64
	// indexes are the secondary indexes, in creation order (_id_ is
	// implicit: docs is ordered by _id).
	indexes []*index
	size    int64
	// cappedEvicted is the highest rid a capped collection evicted: a
	// tailable cursor positioned at or before it lost its place.
	cappedEvicted int64
}

// index is a secondary index. Only unique indexes keep entries; the others
// exist for listIndexes (there is no query planner to use them).
type index struct {
	spec    IndexSpec
	partial *mql.Matcher
	keys    *btree.BTreeG[ikey] // unique indexes only
}

// ikey is one entry of a unique index: the indexed values and the _id of
// the one document that holds them (a unique index maps each value to one
// document, so the tree is ordered by vals alone).
type ikey struct {
	vals []any
	id   any
}

func lessIKey(a, b ikey) bool { return compareVals(a.vals, b.vals) < 0 }

// owner returns the _id holding vals in a unique index.
func owner(keys *btree.BTreeG[ikey], vals []any) (any, bool) {
	it, ok := keys.Get(ikey{vals: vals})
	return it.id, ok
}

func compareVals(a, b []any) int {
	for i := range a {
		if i >= len(b) {
			return 1
		}
		if c := mql.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	if len(a) < len(b) {
		return -1
	}
	return 0
}

func newCollection(ns Namespace, uuid bson.Binary, opts CollectionOptions) (*collection, error) {
	c := &collection{ns: ns, uuid: uuid, docs: newDocTree(),
		natural: btree.NewBTreeGOptions(lessRID, btree.Options{NoLocks: true})}
	if err := c.setOptions(opts); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *collection) setOptions(opts CollectionOptions) error {
	var m *mql.Matcher
	coll, err := optionsCollation(opts)
	if err != nil {
		return err
	}
	if len(opts.Validator) > 0 {
		// The validator compares strings under the default collation.
		if m, err = mql.NewMatcherCollation(opts.Validator, coll); err != nil {
			return err
		}
	}
	c.opts, c.validator, c.collation = opts, m, coll
	return nil
}

// copy returns an isolated copy sharing storage copy-on-write. Callers hold
// Engine.mu exclusively (copying a B-tree marks the original).
func (c *collection) copy() *collection {
	c2 := *c
	c2.docs = c.docs.Copy()
	c2.natural = c.natural.Copy()
	c2.indexes = make([]*index, len(c.indexes))
	for i, ix := range c.indexes {
		ix2 := *ix
		if ix.keys != nil {
			ix2.keys = ix.keys.Copy()
		}
		c2.indexes[i] = &ix2
	}
	return &c2
}

func newIndex(spec IndexSpec) (*index, error) {
	ix := &index{spec: spec}
	if len(spec.PartialFilterExpression) > 0 {
		m, err := mql.NewMatcher(spec.PartialFilterExpression)
		if err != nil {
			return nil, err
		}
		ix.partial = m
	}
	if spec.Unique || spec.PrepareUnique {
		ix.keys = btree.NewBTreeGOptions(lessIKey, btree.Options{NoLocks: true})
	}
	return ix, nil
}

// view returns the live trees (callers hold the engine lock or own c).
func (c *collection) view() view {
	return view{byID: c.docs, natural: c.natural, unique: c.uniqueIndexes(false), collation: c.collation}
}

func (c *collection) uniqueIndexes(copyTrees bool) []uniqueIndex {
	var out []uniqueIndex
	for _, ix := range c.indexes {
		if ix.keys == nil || !ix.spec.Unique || ix.partial != nil || len(ix.spec.Key) != 1 || hasNumericSegment(ix.spec.Key[0].Key) {
			// numeric segments also match fields named "0": leave those
			// to the matcher; a prepareUnique index may hold duplicates
			// from before, which its key tree does not list.
			continue
		}
		keys := ix.keys
		if copyTrees {
			keys = keys.Copy()
		}
		out = append(out, uniqueIndex{path: ix.spec.Key[0].Key, keys: keys})
	}
	return out
}

// indexLookup answers a filter with an equality on a uniquely indexed field
// from the index: it returns the only documents that can match (to be
// checked with the matcher), in natural order. ok is false when no index
// applies.
func (v view) indexLookup(filter bson.D) (recs []*docRec, ok bool) {
	if len(v.unique) == 0 {
		return nil, false
	}
	for _, e := range filter {
		if len(e.Key) == 0 || e.Key[0] == '$' {
			continue
		}
		val, isEq := plainEquality(e.Value)
		if !isEq {
			continue
		}
		for _, u := range v.unique {
			if u.path != e.Key {
				continue
			}
			if id, found := owner(u.keys, []any{val}); found {
				if rec, ok := v.byID.Get(&docRec{id: id}); ok {
					recs = append(recs, rec)
				}
			}
			return recs, true
		}
	}
	return nil, false
}

// plainEquality recognises a filter value that means "equal to x" for a
// scalar x the index stores as is (not null, which also matches missing
// fields, nor documents, arrays or regexes, which match differently).
func plainEquality(v any) (any, bool) {
	if d, ok := v.(bson.D); ok {
		if len(d) != 1 || d[0].Key != "$eq" {
			return nil, false
		}
		v = d[0].Value
	}
	switch v.(type) {
	case nil, bson.D, bson.A, bson.Regex, bson.Undefined, bson.MinKey, bson.MaxKey:
		return nil, false
	}
	return v, true
}

// snapshotView returns copy-on-write copies. Callers hold Engine.mu
// exclusively (copying a B-tree marks the original).
func (c *collection) snapshotView() view {
	return view{byID: c.docs.Copy(), natural: c.natural.Copy(), unique: c.uniqueIndexes(true), collation: c.collation}
}

func (c *collection) get(id any) (*docRec, bool) {
	return c.docs.Get(&docRec{id: id})
}

func (c *collection) hasUnique() bool {
	for _, ix := range c.indexes {
		if ix.keys != nil {
			return true
		}
	}
	return false
}

// keysOf computes the index entries of doc (nil when the index skips it:
// sparse with all fields missing, or not matching the partial filter).
func (ix *index) keysOf(doc bson.D) [][]any {
	if ix.partial != nil && !ix.partial.Match(doc) {
		return nil
	}
	if len(ix.spec.Key) == 1 { // common case: no cartesian product
		vals, found := keyValues(doc, ix.spec.Key[0].Key)
		if ix.spec.Sparse && !found {
			return nil
		}
		out := make([][]any, 0, len(vals))
		for i, v := range vals {
			dup := false
			for _, p := range vals[:i] {
				if mql.Compare(p, v) == 0 {
					dup = true
					break
				}
			}
			if !dup {
				out = append(out, vals[i:i+1:i+1])
			}
		}
		return out
	}
	per := make([][]any, len(ix.spec.Key))
	anyFound := false
	for i, k := range ix.spec.Key {
		vals, found := keyValues(doc, k.Key)
		anyFound = anyFound || found
		per[i] = vals
	}
	if ix.spec.Sparse && !anyFound {
		return nil
	}
	// cartesian product (multikey)
	out := [][]any{{}}
	for _, vals := range per {
		next := make([][]any, 0, len(out)*len(vals))
		for _, prefix := range out {
			for _, v := range vals {
				k := make([]any, len(prefix), len(prefix)+1)
				copy(k, prefix)
				next = append(next, append(k, v))
			}
		}
		out = next
	}
	if len(out) > 1 { // the same key twice in one document is one entry
		uniq := out[:1]
		for _, k := range out[1:] {
			dup := false
			for _, u := range uniq {
				if compareVals(k, u) == 0 {
					dup = true
					break
				}
			}
			if !dup {
				uniq = append(uniq, k)
			}
		}
		out = uniq
	}
	return out
}

// uniqueKeys computes doc's entries in every unique index (nil for other
// indexes) and returns a duplicate key error if one of them belongs to
// another document.
func (c *collection) uniqueKeys(doc bson.D, id any) ([][][]any, error) {
	all := make([][][]any, len(c.indexes))
	for i, ix := range c.indexes {
		if ix.keys == nil {
			continue
		}
		keys := ix.keysOf(doc)
		all[i] = keys
		for _, k := range keys {
			if other, found := owner(ix.keys, k); found && mql.Compare(other, id) != 0 {
				return nil, dupKeyError(c.ns, ix.spec.Name, ix.spec.Key, k)
			}
		}
	}
	return all, nil
}

// put stores rec (replacing old when not nil; old and rec have the same
// _id). doc is rec decoded; oldDoc is old decoded or nil (decoded here when
// unique indexes need it). It checks unique indexes first and changes
// nothing on error.
func (c *collection) put(old *docRec, oldDoc bson.D, rec *docRec, doc bson.D) error {
	uniq := c.hasUnique()
	if uniq {
		if doc == nil {
			var err error
			if doc, err = decodeDoc(rec.raw); err != nil {
				return err
			}
		}
		keys, err := c.uniqueKeys(doc, rec.id)
		if err != nil {
			return err
		}
		if old != nil {
			if oldDoc == nil {
				var err error
				if oldDoc, err = decodeDoc(old.raw); err != nil {
					return err
				}
			}
			c.removeKeys(oldDoc, old.id)
		}
		for i, ix := range c.indexes {
			for _, k := range keys[i] {
				ix.keys.Set(ikey{vals: k, id: rec.id})
			}
		}
	}
	if old != nil {
		rec.rid = old.rid
	} else {
		c.nextRID++
		rec.rid = c.nextRID
	}
	c.docs.Set(rec)
	c.natural.Set(rec)
	if old != nil {
		c.size -= int64(len(old.raw))
	}
	c.size += int64(len(rec.raw))
	if old == nil {
		return c.evictCapped(rec)
	}
	return nil
}

func (c *collection) removeKeys(doc bson.D, id any) {
	for _, ix := range c.indexes {
		if ix.keys == nil {
			continue
		}
		for _, k := range ix.keysOf(doc) {
			if other, found := owner(ix.keys, k); found && mql.Compare(other, id) == 0 {
				ix.keys.Delete(ikey{vals: k})
			}
		}
	}
}

// remove deletes old (doc is old decoded, or nil).
func (c *collection) remove(old *docRec, doc bson.D) error {
	if c.hasUnique() {
		if doc == nil {
			var err error
			if doc, err = decodeDoc(old.raw); err != nil {
				return err
			}
		}
		c.removeKeys(doc, old.id)
	}
	c.docs.Delete(old)
	c.natural.Delete(old)
	c.size -= int64(len(old.raw))
	return nil
}

// buildIndex fills a new unique index from the existing documents, failing
// with 11000 on duplicates.
func (c *collection) buildIndex(ix *index) error {
	if ix.keys == nil {
		return nil
	}
	var err error
	c.natural.Scan(func(r *docRec) bool {
		var doc bson.D
		if doc, err = decodeDoc(r.raw); err != nil {
			return false
		}
		for _, k := range ix.keysOf(doc) {
			if other, found := owner(ix.keys, k); found && mql.Compare(other, r.id) != 0 {
				if !ix.spec.Unique {
					continue // prepareUnique: existing duplicates stay
				}
				err = dupKeyError(c.ns, ix.spec.Name, ix.spec.Key, k)
				return false
			}
			ix.keys.Set(ikey{vals: k, id: r.id})
		}
		return true
	})
	return err
}

// keyValues returns the values an index stores for path in doc: arrays are
// expanded (an empty array indexes as undefined), a missing field indexes
// as null. found reports whether the path exists at all.
func keyValues(doc bson.D, path string) (vals []any, found bool) {
	cur := []any{doc}
	for _, seg := range splitPath(path) {
		var next []any
		for _, v := range cur {
			switch x := v.(type) {
			case bson.D:
				for _, e := range x {
					if e.Key == seg {
						next = append(next, e.Value)
						break
					}
				}
			case bson.A:
				if n, ok := arrayIndex(seg); ok {
					if n < len(x) {
						next = append(next, x[n])
					}
					continue
				}
				for _, el := range x {
					if d, ok := el.(bson.D); ok {
						for _, e := range d {
							if e.Key == seg {
								next = append(next, e.Value)
								break
							}
						}
					}
				}
			}
		}
		cur = next
	}
	for _, v := range cur {
		found = true
		if a, ok := v.(bson.A); ok {
			if len(a) == 0 {
				vals = append(vals, bson.Undefined{})
			}
			vals = append(vals, a...)
			continue
		}
		vals = append(vals, v)
	}
	if len(vals) == 0 {
		vals = []any{nil}
	}
	return vals, found
}

func splitPath(p string) []string {
	var out []string
	start := 0
	for i := 0; i < len(p); i++ {
		if p[i] == '.' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return append(out, p[start:])
}

func arrayIndex(seg string) (int, bool) {
	if seg == "" || len(seg) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return 0, false
		}
		n = n*10 + int(seg[i]-'0')
	}
	return n, true
}

func hasNumericSegment(path string) bool {
	for _, seg := range splitPath(path) {
		if _, ok := arrayIndex(seg); ok {
			return true
		}
	}
	return false
}
