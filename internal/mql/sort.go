package mql

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Sort is a compiled sort specification ({field: 1 | -1, ...}). It is
// immutable and safe for concurrent use.
type Sort struct {
	keys    []sortKey
	natural int
	coll    *Collation
}

type sortKey struct {
	path queryPath
	desc bool
}

// Codes the server uses for malformed sort specifications.
const (
	CodeSortIllegalKey int32 = 15974 // sort value is not a number
	CodeSortBadOrder   int32 = 15975 // sort value is a number other than 1 or -1
)

// NewSort compiles a sort specification. Values must be the numbers 1 or
// -1 (any numeric type); {$meta: ...} is rejected as unsupported. {$natural:
// 1|-1} alone is accepted and reported by Natural, since only storage knows
// natural order. An empty or nil spec sorts nothing (every Compare is 0).
func NewSort(spec bson.D) (*Sort, error) { return NewSortCollation(spec, nil) }

// NewSortCollation is NewSort with strings ordered under coll (nil: simple).
func NewSortCollation(spec bson.D, coll *Collation) (*Sort, error) {
	s := &Sort{coll: coll}
	for _, e := range spec {
		if e.Key == "" {
			return nil, Errorf(40352, "Location40352", "FieldPath cannot be constructed with empty string")
		}
		if d, ok := asDoc(e.Value); ok {
			if len(d) > 0 && d[0].Key == "$meta" {
				return nil, badValue("sort by {$meta: %v} on field %q is not supported by mongotide", d[0].Value, e.Key)
			}
			return nil, Errorf(CodeSortIllegalKey, "Location15974", "Illegal key in $sort specification: %s: %v", e.Key, e.Value)
		}
		if !IsNumber(e.Value) {
			return nil, Errorf(CodeSortIllegalKey, "Location15974", "Illegal key in $sort specification: %s: %v", e.Key, e.Value)
		}
		f, _ := ToFloat(e.Value)
		if f != 1 && f != -1 {
			return nil, Errorf(CodeSortBadOrder, "Location15975", "$sort key ordering must be 1 (for ascending) or -1 (for descending)")
		}
		if e.Key == "$natural" {
			if len(spec) != 1 {
				return nil, badValue("$natural cannot be combined with other sort keys")
			}
			s.natural = int(f)
			continue
		}
		if strings.HasPrefix(e.Key, "$") {
			return nil, Errorf(16410, "Location16410", "FieldPath field names may not start with '$': %s", e.Key)
		}
		if strings.Contains(e.Key, "..") || strings.HasPrefix(e.Key, ".") || strings.HasSuffix(e.Key, ".") {
			return nil, Errorf(15998, "Location15998", "FieldPath field names may not be empty strings: %s", e.Key)
		}
		s.keys = append(s.keys, sortKey{path: compilePath(e.Key), desc: f < 0})
	}
	return s, nil
}

// Natural returns 1 or -1 for a {$natural: 1|-1} spec (storage order,
// forward or backward), and 0 otherwise.
func (s *Sort) Natural() int { return s.natural }

// Len returns the number of field keys in the sort (not counting $natural).
func (s *Sort) Len() int { return len(s.keys) }

// Compare orders two documents by the specification: <0 when a sorts
// before b. For each key, an array contributes its smallest element to an
// ascending sort and its largest to a descending one; an empty array sorts
// below null; a missing field sorts as null. Documents that tie on every key
// compare 0: use a stable sort to keep their input order.
func (s *Sort) Compare(a, b bson.D) int { return s.compare(a, b, s.coll) }

func (s *Sort) compare(a, b bson.D, coll *Collation) int {
	for i := range s.keys {
		k := &s.keys[i]
		ka, kb := k.value(a, coll), k.value(b, coll)
		c := compareColl(ka, kb, coll)
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// SortKey is the precomputed key of one document, to sort many documents
// without recomputing keys on every comparison.
type SortKey []any

// Key computes doc's sort key.
func (s *Sort) Key(doc bson.D) SortKey {
	k := make(SortKey, len(s.keys))
	for i := range s.keys {
		k[i] = s.keys[i].value(doc, s.coll)
	}
	return k
}

// CompareKeys is Compare over keys from Key.
func (s *Sort) CompareKeys(a, b SortKey) int {
	for i := range s.keys {
		c := compareColl(a[i], b[i], s.coll)
		if s.keys[i].desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// value returns the value doc contributes for this key: the minimum (or
// maximum when descending) of the values the path produces, with arrays at
// the end of the path unwound one level.
func (k *sortKey) value(doc bson.D, coll *Collation) any {
	// Fast path: a top-level scalar.
	if len(k.path.segs) == 1 {
		v, ok := lookupKey(doc, k.path.segs[0].name)
		if !ok {
			return nil
		}
		switch v.(type) {
		case bson.A, []any:
		default:
			return v
		}
	}
	acc := &sortAcc{desc: k.desc, coll: coll}
	_, produced := k.path.walk(doc, true, &pathVisitor{p: acc})
	if !produced || !acc.has {
		return nil
	}
	return acc.best
}

// sortAcc keeps the best candidate seen during a walk.
type sortAcc struct {
	desc bool
	has  bool
	best any
	coll *Collation
}

func (a *sortAcc) noLeafTraversal() bool { return true }

func (a *sortAcc) test(v any, missing bool, _ *position) bool {
	if missing {
		a.offer(nil)
		return false
	}
	if arr, ok := asArray(v); ok {
		if len(arr) == 0 {
			// An empty array sorts below null and missing.
			a.offer(bson.Undefined{})
			return false
		}
		for _, e := range arr {
			a.offer(e)
		}
		return false
	}
	a.offer(v)
	return false
}

func (a *sortAcc) offer(v any) {
	if !a.has {
		a.best, a.has = v, true
		return
	}
	c := compareColl(v, a.best, a.coll)
	if (!a.desc && c < 0) || (a.desc && c > 0) {
		a.best = v
	}
}
