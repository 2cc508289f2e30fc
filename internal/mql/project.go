package mql

import (
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Projection is a compiled find projection. It is immutable and safe for
// concurrent use.
type Projection struct {
	root      *projNode
	inclusion bool
	// idExcluded: {_id: 0}; otherwise _id is kept (inclusion mode keeps it
	// unless a sub-path of _id is projected explicitly).
	idExcluded bool
	// positional: the path before ".$" of a positional projection.
	positional string
	// elemMatch: top-level $elemMatch projections, applied after the rest.
	elemMatch []elemMatchProj
}

type elemMatchProj struct {
	field string
	m     *Matcher // {field: {$elemMatch: ...}}
}

// Codes the server uses for invalid projections.
const (
	CodeProjInclusionInExclusion int32 = 31253 // inclusion (or expression) in an exclusion projection
	CodeProjExclusionInInclusion int32 = 31254 // exclusion in an inclusion projection
	CodeProjPathCollision        int32 = 31250
	CodeProjEmptySub             int32 = 51270
	CodeProjPositionalNoMatch    int32 = 51246
	CodeProjSliceArg             int32 = 28667
	CodeProjSliceLimit           int32 = 28724
	CodeProjMultiplePositional   int32 = 31276
)

const (
	pSub = iota // inner node with children
	pInclude
	pExclude
	pSlice
	pExpr
)

type projNode struct {
	name     string
	kind     int
	children []*projNode
	// $slice arguments: skip is meaningful when hasSkip.
	skip, limit int
	hasSkip     bool
	expr        *Expr
}

func (n *projNode) child(name string) *projNode {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

func projErr(code int32, format string, args ...any) *Error {
	return Errorf(code, "Location"+strconv.Itoa(int(code)), format, args...)
}

// NewProjection compiles a find projection: {field: 1|true} inclusions,
// {field: 0|false} exclusions (not mixed, except for _id), dotted paths and
// nested specs ({a: {b: 1}} is "a.b": 1), {$slice: n | [skip, n]},
// {$elemMatch: filter} on top-level fields, the positional "field.$" (apply
// with ApplyPositional) and, in inclusion projections, computed fields
// (literals and aggregation expressions). {$meta: ...} is unsupported. A nil
// or empty spec returns documents unchanged.
func NewProjection(spec bson.D) (*Projection, error) {
	p := &Projection{root: &projNode{kind: pSub}}
	mode := 0 // 1 inclusion, -1 exclusion, 0 undecided
	idSpec := 0
	setMode := func(m int, path string) error {
		switch {
		case mode == 0:
			mode = m
		case mode == 1 && m == -1:
			return projErr(CodeProjExclusionInInclusion, "Cannot do exclusion on field %s in inclusion projection", path)
		case mode == -1 && m == 1:
			return projErr(CodeProjInclusionInExclusion, "Cannot do inclusion on field %s in exclusion projection", path)
		}
		return nil
	}
	var walk func(prefix string, spec bson.D, depth int) error
	walk = func(prefix string, spec bson.D, depth int) error {
		if depth > maxDepth {
			return badValue("projection nested deeper than %d levels", maxDepth)
		}
		for _, e := range spec {
			path := e.Key
			if prefix != "" {
				path = prefix + "." + e.Key
			}
			if err := checkProjPath(path); err != nil {
				return err
			}
			if strings.HasSuffix(path, ".$") {
				if p.positional != "" {
					return projErr(CodeProjMultiplePositional, "Cannot specify more than one positional projection per query.")
				}
				if !isInclusionValue(e.Value) {
					return badValue("positional projection %q must be an inclusion (1 or true)", path)
				}
				if err := setMode(1, path); err != nil {
					return err
				}
				p.positional = strings.TrimSuffix(path, ".$")
				if err := p.insert(p.positional, &projNode{kind: pInclude}); err != nil {
					return err
				}
				continue
			}
			if d, ok := asDoc(e.Value); ok {
				if len(d) == 0 {
					return projErr(CodeProjEmptySub, "An empty sub-projection is not a valid value. Found empty object at path %s", path)
				}
				if strings.HasPrefix(d[0].Key, "$") {
					if err := p.compileOperator(path, prefix, d, setMode); err != nil {
						return err
					}
					continue
				}
				if err := walk(path, d, depth+1); err != nil {
					return err
				}
				continue
			}
			if path == "_id" && isFlag(e.Value) {
				if isInclusionValue(e.Value) {
					idSpec = 1
				} else {
					idSpec = -1
				}
				continue
			}
			switch {
			case isFlag(e.Value) && isInclusionValue(e.Value):
				if err := setMode(1, path); err != nil {
					return err
				}
				if err := p.insert(path, &projNode{kind: pInclude}); err != nil {
					return err
				}
			case isFlag(e.Value):
				if err := setMode(-1, path); err != nil {
					return err
				}
				if err := p.insert(path, &projNode{kind: pExclude}); err != nil {
					return err
				}
			default:
				// A literal or an expression ("$field", an array, a
				// string): a computed field, inclusion-style.
				if err := setMode(1, path); err != nil {
					return projErr(CodeProjInclusionInExclusion, "Cannot use expression other than $meta in exclusion projection (field %s)", path)
				}
				ex, err := NewExpr(e.Value)
				if err != nil {
					return err
				}
				if err := p.insert(path, &projNode{kind: pExpr, expr: ex}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk("", spec, 0); err != nil {
		return nil, err
	}
	if len(p.elemMatch) > 0 {
		if err := setMode(1, p.elemMatch[0].field); err != nil {
			return nil, err
		}
	}
	switch {
	case mode == 0 && idSpec == 1:
		mode = 1 // {_id: 1} alone: only _id
	case mode == 0:
		mode = -1 // {}, {_id: 0} or only $slice: everything else stays
	}
	p.inclusion = mode == 1
	p.idExcluded = idSpec == -1
	if idSpec == 1 && p.root.child("_id") != nil {
		return nil, projErr(CodeProjPathCollision, "Path collision at _id")
	}
	return p, nil
}

func (p *Projection) compileOperator(path, prefix string, d bson.D, setMode func(int, string) error) error {
	op := d[0].Key
	if len(d) != 1 {
		return badValue("projection operator %s for field %s must be alone in its document", op, path)
	}
	switch op {
	case "$slice":
		n, err := compileSlice(d[0].Value)
		if err != nil {
			return err
		}
		return p.insert(path, n)
	case "$elemMatch":
		if strings.Contains(path, ".") {
			return projErr(5460701, "Cannot use $elemMatch projection on a nested field: %s", path)
		}
		sub, ok := asDoc(d[0].Value)
		if !ok {
			return badValue("elemMatch: Invalid argument, object required, but got %v", d[0].Value)
		}
		m, err := NewMatcher(bson.D{{Key: path, Value: bson.D{{Key: "$elemMatch", Value: sub}}}})
		if err != nil {
			return err
		}
		if p.root.child(path) != nil {
			return projErr(CodeProjPathCollision, "Path collision at %s", path)
		}
		for _, em := range p.elemMatch {
			if em.field == path {
				return projErr(CodeProjPathCollision, "Path collision at %s", path)
			}
		}
		p.elemMatch = append(p.elemMatch, elemMatchProj{field: path, m: m})
		return nil
	case "$meta":
		return badValue("$meta projection on field %s is not supported by mongotide", path)
	}
	// Any other operator document is an aggregation expression.
	if err := setMode(1, path); err != nil {
		return projErr(CodeProjInclusionInExclusion, "Cannot use expression other than $meta in exclusion projection (field %s)", path)
	}
	ex, err := NewExpr(d)
	if err != nil {
		return err
	}
	return p.insert(path, &projNode{kind: pExpr, expr: ex})
}

func compileSlice(v any) (*projNode, error) {
	if IsNumber(v) {
		n, ok := ToInt64(v)
		if !ok {
			return nil, projErr(CodeProjSliceArg, "$slice only supports numbers and [skip, limit] arrays")
		}
		return &projNode{kind: pSlice, limit: clampInt(n)}, nil
	}
	arr, ok := asArray(v)
	if !ok || len(arr) != 2 || !IsNumber(arr[0]) || !IsNumber(arr[1]) {
		return nil, projErr(CodeProjSliceArg, "$slice only supports numbers and [skip, limit] arrays")
	}
	skip, ok1 := ToInt64(arr[0])
	limit, ok2 := ToInt64(arr[1])
	if !ok1 || !ok2 {
		return nil, projErr(CodeProjSliceArg, "$slice only supports numbers and [skip, limit] arrays")
	}
	if limit <= 0 {
		return nil, projErr(CodeProjSliceLimit, "$slice limit must be positive")
	}
	return &projNode{kind: pSlice, skip: clampInt(skip), limit: clampInt(limit), hasSkip: true}, nil
}

func clampInt(n int64) int {
	const lim = 1 << 40
	switch {
	case n > lim:
		return lim
	case n < -lim:
		return -lim
	}
	return int(n)
}

func isFlag(v any) bool {
	switch v.(type) {
	case bool:
		return true
	}
	return IsNumber(v)
}

// isInclusionValue reports whether a flag value means "include": true or
// a non-zero number.
func isInclusionValue(v any) bool {
	if b, ok := v.(bool); ok {
		return b
	}
	f, ok := ToFloat(v)
	return ok && f != 0
}

func checkProjPath(path string) error {
	if path == "" {
		return Errorf(40352, "Location40352", "FieldPath cannot be constructed with empty string")
	}
	parts := strings.Split(path, ".")
	for i, part := range parts {
		if part == "" {
			return Errorf(15998, "Location15998", "FieldPath field names may not be empty strings: %s", path)
		}
		if strings.HasPrefix(part, "$") && !(part == "$" && i == len(parts)-1 && i > 0) {
			return Errorf(16410, "Location16410", "FieldPath field names may not start with '$': %s", path)
		}
	}
	return nil
}

// insert places a leaf at path, creating inner nodes; a leaf on a prefix of
// another projected path (or the same path twice) is a collision.
func (p *Projection) insert(path string, leaf *projNode) error {
	parts := strings.Split(path, ".")
	n := p.root
	for i, part := range parts {
		c := n.child(part)
		last := i == len(parts)-1
		if last {
			if c != nil {
				return projErr(CodeProjPathCollision, "Path collision at %s", path)
			}
			leaf.name = part
			n.children = append(n.children, leaf)
			return nil
		}
		if c == nil {
			c = &projNode{name: part, kind: pSub}
			n.children = append(n.children, c)
		} else if c.kind != pSub {
			return projErr(CodeProjPathCollision, "Path collision at %s remaining portion %s", path, strings.Join(parts[i+1:], "."))
		}
		n = c
	}
	return nil
}

// NeedsPosition reports whether the projection has a positional "field.$"
// part, which needs ApplyPositional with the matched array index.
func (p *Projection) NeedsPosition() bool { return p.positional != "" }

// Apply projects doc. It fails for a positional projection (use
// ApplyPositional) and when a computed field's expression fails.
func (p *Projection) Apply(doc bson.D) (bson.D, error) {
	return p.ApplyPositional(doc, 0, false)
}

// ApplyPositional is Apply for projections with "field.$": idx is the
// array index that the query matched (from Matcher.MatchArrayIndex).
// Without an index a positional projection fails with code 51246 as on the
// server.
func (p *Projection) ApplyPositional(doc bson.D, idx int, hasIdx bool) (bson.D, error) {
	if p.positional != "" {
		var err error
		doc, err = p.applyPositional(doc, idx, hasIdx)
		if err != nil {
			return nil, err
		}
	}
	var out bson.D
	var err error
	if p.inclusion {
		out, err = p.include(doc, doc, p.root, true)
	} else {
		out = p.exclude(doc, p.root, true)
	}
	if err != nil {
		return nil, err
	}
	for _, em := range p.elemMatch {
		_, i, has := em.m.MatchArrayIndex(doc)
		if !has {
			continue
		}
		arr, _ := asArray(mustLookup(doc, em.field))
		if i < len(arr) {
			out = append(out, bson.E{Key: em.field, Value: bson.A{arr[i]}})
		}
	}
	return out, nil
}

func mustLookup(doc bson.D, key string) any {
	v, _ := lookupKey(doc, key)
	return v
}

// applyPositional returns a shallow-modified copy of doc where the array at
// the positional path is reduced to its idx-th element.
func (p *Projection) applyPositional(doc bson.D, idx int, hasIdx bool) (bson.D, error) {
	noMatch := projErr(CodeProjPositionalNoMatch, "positional operator '.$' couldn't find a matching element in the array")
	if !hasIdx || idx < 0 {
		return nil, noMatch
	}
	v, ok := Lookup(doc, p.positional)
	if !ok {
		return nil, noMatch
	}
	arr, isArr := asArray(v)
	if !isArr || idx >= len(arr) {
		return nil, noMatch
	}
	return replaceAt(doc, strings.Split(p.positional, "."), bson.A{arr[idx]}), nil
}

// replaceAt returns a copy of doc (copying only along path) with the value
// at path replaced.
func replaceAt(doc bson.D, path []string, v any) bson.D {
	out := make(bson.D, len(doc))
	copy(out, doc)
	for i := range out {
		if out[i].Key != path[0] {
			continue
		}
		if len(path) == 1 {
			out[i].Value = v
		} else if sub, ok := asDoc(out[i].Value); ok {
			out[i].Value = replaceAt(sub, path[1:], v)
		}
		break
	}
	return out
}

// include applies an inclusion (sub)projection: fields of doc named in n,
// in document order, then computed fields in spec order. root is the whole
// document, for expressions.
func (p *Projection) include(root, doc bson.D, n *projNode, top bool) (bson.D, error) {
	out := bson.D{}
	for _, e := range doc {
		if top && e.Key == "_id" && n.child("_id") == nil {
			if !p.idExcluded {
				out = append(out, e)
			}
			continue
		}
		c := n.child(e.Key)
		if c == nil {
			continue
		}
		switch c.kind {
		case pInclude:
			out = append(out, e)
		case pSlice:
			out = append(out, bson.E{Key: e.Key, Value: sliceValue(e.Value, c)})
		case pSub:
			v, keep, err := p.includeValue(root, e.Value, c)
			if err != nil {
				return nil, err
			}
			if keep {
				out = append(out, bson.E{Key: e.Key, Value: v})
			}
		}
	}
	return p.addComputed(root, doc, out, n)
}

// includeValue applies an inner inclusion node to a value: documents are
// projected, arrays element-wise (dropping scalars), scalars dropped.
func (p *Projection) includeValue(root bson.D, v any, n *projNode) (any, bool, error) {
	if d, ok := asDoc(v); ok {
		sub, err := p.include(root, d, n, false)
		return sub, err == nil, err
	}
	if arr, ok := asArray(v); ok {
		out := make(bson.A, 0, len(arr))
		for _, e := range arr {
			pv, keep, err := p.includeValue(root, e, n)
			if err != nil {
				return nil, false, err
			}
			if keep {
				out = append(out, pv)
			}
		}
		return out, true, nil
	}
	if n.hasComputed() {
		// Computed fields under a non-document create the document.
		sub, err := p.addComputed(root, nil, bson.D{}, n)
		return sub, err == nil, err
	}
	return nil, false, nil
}

func (n *projNode) hasComputed() bool {
	for _, c := range n.children {
		if c.kind == pExpr || (c.kind == pSub && c.hasComputed()) {
			return true
		}
	}
	return false
}

// addComputed evaluates n's computed children (and computed descendants of
// inner children absent from doc) and sets them in out.
func (p *Projection) addComputed(root, doc bson.D, out bson.D, n *projNode) (bson.D, error) {
	for _, c := range n.children {
		switch {
		case c.kind == pExpr:
			v, ok, err := c.expr.EvalMissing(root, nil)
			if err != nil {
				return nil, err
			}
			out = setField(out, c.name, v, ok)
		case c.kind == pSub && c.hasComputed():
			if _, present := lookupKey(doc, c.name); present {
				continue // handled with the field itself
			}
			sub, err := p.addComputed(root, nil, bson.D{}, c)
			if err != nil {
				return nil, err
			}
			out = setField(out, c.name, sub, true)
		}
	}
	return out, nil
}

// setField sets (or, when !ok, removes) key in d, replacing in place.
func setField(d bson.D, key string, v any, ok bool) bson.D {
	for i := range d {
		if d[i].Key == key {
			if !ok {
				return append(d[:i:i], d[i+1:]...)
			}
			d[i].Value = v
			return d
		}
	}
	if !ok {
		return d
	}
	return append(d, bson.E{Key: key, Value: v})
}

// exclude applies an exclusion (sub)projection; $slice nodes transform
// their field and everything else is kept.
func (p *Projection) exclude(doc bson.D, n *projNode, top bool) bson.D {
	out := make(bson.D, 0, len(doc))
	for _, e := range doc {
		if top && e.Key == "_id" && p.idExcluded {
			continue
		}
		c := n.child(e.Key)
		if c == nil {
			out = append(out, e)
			continue
		}
		switch c.kind {
		case pExclude:
		case pSlice:
			out = append(out, bson.E{Key: e.Key, Value: sliceValue(e.Value, c)})
		case pSub:
			out = append(out, bson.E{Key: e.Key, Value: p.excludeValue(e.Value, c)})
		default:
			out = append(out, e)
		}
	}
	return out
}

func (p *Projection) excludeValue(v any, n *projNode) any {
	if d, ok := asDoc(v); ok {
		return p.exclude(d, n, false)
	}
	if arr, ok := asArray(v); ok {
		out := make(bson.A, len(arr))
		for i, e := range arr {
			out[i] = p.excludeValue(e, n)
		}
		return out
	}
	return v
}

// sliceValue applies $slice to an array; other values are returned as is.
func sliceValue(v any, n *projNode) any {
	arr, ok := asArray(v)
	if !ok {
		return v
	}
	l := len(arr)
	var from, to int
	if !n.hasSkip {
		if n.limit >= 0 {
			from, to = 0, min(n.limit, l)
		} else {
			from, to = max(l+n.limit, 0), l
		}
	} else {
		from = n.skip
		if from < 0 {
			from = max(l+from, 0)
		}
		from = min(from, l)
		to = min(from+n.limit, l)
	}
	out := make(bson.A, to-from)
	copy(out, arr[from:to])
	return out
}
