package mql

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Lookup returns the value at a plain dotted path. Each segment names a
// field of a document; a segment of decimal digits indexes an array. There
// is no implicit array traversal: "a.b" on {a: [{b: 1}]} is not found (use
// "a.0.b"). This is the addressing of update operators and of "$"-less field
// access; queries use the traversal of Matcher instead.
func Lookup(doc bson.D, path string) (any, bool) {
	var cur any = doc
	for {
		seg, rest, more := strings.Cut(path, ".")
		switch x := cur.(type) {
		case bson.D:
			v, ok := lookupKey(x, seg)
			if !ok {
				return nil, false
			}
			cur = v
		case bson.A:
			i, ok := arrayIndex(seg)
			if !ok || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			d, isDoc := asDoc(cur)
			if isDoc {
				cur = d
				continue
			}
			a, isArr := asArray(cur)
			if isArr {
				cur = a
				continue
			}
			return nil, false
		}
		if !more {
			return cur, true
		}
		path = rest
	}
}

// lookupKey returns the first field of doc named key. Documents from the
// wire have unique keys; the first wins like on the server.
func lookupKey(doc bson.D, key string) (any, bool) {
	for i := range doc {
		if doc[i].Key == key {
			return doc[i].Value, true
		}
	}
	return nil, false
}

// arrayIndex parses a path segment made only of ASCII digits, as the server
// does for positional path components. Leading zeros are not indexes
// ("01" is a field name), except "0" itself.
func arrayIndex(seg string) (int, bool) {
	if seg == "" || len(seg) > 9 || (len(seg) > 1 && seg[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// segment is one compiled component of a query path.
type segment struct {
	name  string
	index int // array index named by the segment, or -1
}

// queryPath is a dotted path compiled for repeated query-side traversal.
type queryPath struct {
	full string
	segs []segment
}

func compilePath(path string) queryPath {
	parts := strings.Split(path, ".")
	segs := make([]segment, len(parts))
	for i, p := range parts {
		idx, ok := arrayIndex(p)
		if !ok {
			idx = -1
		}
		segs[i] = segment{name: p, index: idx}
	}
	return queryPath{full: path, segs: segs}
}

// walk produces the values of path in doc with the server's query semantics
// (ElementPath/BSONElementIterator): documents are descended; an array met
// before the end of the path is traversed, each document element being
// searched for the rest of the path, and an element whose offset equals a
// numeric next segment being entered positionally; an array at the end of the
// path yields each of its elements and then, unless leafNoTraverse, itself
// (when leafNoTraverse is set, only the array itself). It returns whether the
// visitor stopped the walk and whether any value (present or missing) was
// produced.
func (p *queryPath) walk(doc bson.D, leafNoTraverse bool, vis *pathVisitor) (stopped, produced bool) {
	return p.walkDoc(doc, 0, -1, leafNoTraverse, vis)
}

func (p *queryPath) walkDoc(doc bson.D, i, arrayIdx int, leafNoTraverse bool, vis *pathVisitor) (bool, bool) {
	v, ok := lookupKey(doc, p.segs[i].name)
	if !ok {
		return vis.visit(nil, true, arrayIdx), true
	}
	return p.walkValue(v, i+1, arrayIdx, leafNoTraverse, vis)
}

// walkValue continues the walk with v as the value of segment i-1.
func (p *queryPath) walkValue(v any, i, arrayIdx int, leafNoTraverse bool, vis *pathVisitor) (bool, bool) {
	if i == len(p.segs) {
		arr, isArr := v.(bson.A)
		if !isArr {
			if a, ok := v.([]any); ok {
				arr, isArr = a, true
			}
		}
		if !isArr || leafNoTraverse {
			return vis.visit(v, false, arrayIdx), true
		}
		for j, e := range arr {
			idx := arrayIdx
			if idx < 0 {
				idx = j
			}
			if vis.visit(e, false, idx) {
				return true, true
			}
		}
		return vis.visit(v, false, arrayIdx), true
	}
	switch x := v.(type) {
	case bson.D:
		return p.walkDoc(x, i, arrayIdx, leafNoTraverse, vis)
	case bson.A:
		return p.walkArray(x, i, arrayIdx, leafNoTraverse, vis)
	}
	if d, ok := asDoc(v); ok {
		return p.walkDoc(d, i, arrayIdx, leafNoTraverse, vis)
	}
	if a, ok := asArray(v); ok {
		return p.walkArray(a, i, arrayIdx, leafNoTraverse, vis)
	}
	// A scalar where the path wants a document: the path is missing.
	return vis.visit(nil, true, arrayIdx), true
}

// walkArray traverses arr, which stands where segment i must be resolved.
func (p *queryPath) walkArray(arr bson.A, i, arrayIdx int, leafNoTraverse bool, vis *pathVisitor) (bool, bool) {
	produced := false
	want := p.segs[i].index
	last := i+1 == len(p.segs)
	for j, e := range arr {
		idx := arrayIdx
		if idx < 0 {
			idx = j
		}
		d, isDoc := e.(bson.D)
		if !isDoc {
			d, isDoc = asDoc(e)
		}
		if isDoc {
			stop, prod := p.walkDoc(d, i, idx, leafNoTraverse, vis)
			produced = produced || prod
			if stop {
				return true, true
			}
		}
		if j != want {
			continue
		}
		// The segment is this element's offset: enter it positionally. The
		// offset is not an implicit traversal, so the outer offset stays.
		if last {
			produced = true
			if vis.visit(e, false, arrayIdx) {
				return true, true
			}
			continue
		}
		if isDoc {
			stop, prod := p.walkDoc(d, i+1, arrayIdx, leafNoTraverse, vis)
			produced = produced || prod
			if stop {
				return true, true
			}
			continue
		}
		if nested, ok := asArray(e); ok {
			stop, prod := p.walkArray(nested, i+1, arrayIdx, leafNoTraverse, vis)
			produced = produced || prod
			if stop {
				return true, true
			}
		}
	}
	return false, produced
}

// collectPred gathers every value a path produces instead of testing them.
type collectPred struct {
	vals    []any
	missing bool
}

func (c *collectPred) noLeafTraversal() bool { return false }

func (c *collectPred) test(v any, missing bool, _ *position) bool {
	if missing {
		c.missing = true
		return false
	}
	c.vals = append(c.vals, v)
	return false
}

// Values returns every value that a query on path would examine in doc, in
// traversal order, with MongoDB's implicit array traversal: "a.b" on
// {a: [{b: 1}, {b: [2, 3]}]} yields 1, 2, 3 and [2, 3]. missing reports
// whether some branch of the path did not exist (null-equality semantics).
func Values(doc bson.D, path string) (vals []any, missing bool) {
	p := compilePath(path)
	c := &collectPred{}
	_, produced := p.walk(doc, false, &pathVisitor{p: c})
	return c.vals, c.missing || !produced
}
