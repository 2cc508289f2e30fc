package mql

import (
	"math"
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
	CodeProjExprInExclusion      int32 = 31252 // operator expression in an exclusion projection
	CodeProjInclusionInExclusion int32 = 31253 // inclusion in an exclusion projection
	CodeProjExclusionInInclusion int32 = 31254 // exclusion in an inclusion projection
	CodeProjLiteralInExclusion   int32 = 31310 // literal (computed) value in an exclusion projection
	CodeProjPathCollisionLeaf    int32 = 31250 // the same path twice
	CodeProjPathCollision        int32 = 31249 // a path below a projected leaf
	CodeProjEmptySub             int32 = 51270
	CodeProjPositionalNoMatch    int32 = 51246
	CodeProjSliceArg             int32 = 31273 // $slice is neither a number nor an array
	CodeProjSliceArrayLen        int32 = 31272 // $slice array is not [skip, limit]
	CodeProjSliceSkip            int32 = 31257
	CodeProjSliceLimitType       int32 = 31258
	CodeProjSliceLimit           int32 = 31259 // $slice limit must be positive
	CodeProjElemMatchArg         int32 = 31274
	CodeProjElemMatchNested      int32 = 31275
	CodeProjPositionalElemMatch  int32 = 31255
	CodeProjMultiplePositional   int32 = 31276
	CodeProjPositionalExpr       int32 = 31271 // positional projection with a sub-object
	CodeProjPositionalLiteral    int32 = 31308 // positional projection with a literal
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

// NewProjection compiles a find projection the way the server's find()
// projection parser does: {field: 1|true} inclusions, {field: 0|false}
// exclusions (not mixed; a top-level _id may be either in both kinds),
// dotted paths and nested specs ({a: {b: 1}} is "a.b": 1), {$slice: n |
// [skip, n]}, {$elemMatch: filter} on top-level fields, the positional
// "field.$" (apply with ApplyPositional) and computed fields (literals such
// as "x" or [1, 2], field paths "$a", operator expressions), which make the
// projection an inclusion. {$meta: ...} is unsupported. A nil or empty spec
// returns documents unchanged.
func NewProjection(spec bson.D) (*Projection, error) {
	c := &projCompiler{p: &Projection{root: &projNode{kind: pSub}}}
	for _, e := range spec {
		if err := c.element(e, "", c.p.root, 0); err != nil {
			return nil, err
		}
	}
	mode := c.mode
	if mode == 0 {
		// The server's defaults for projections without an explicit
		// inclusion or exclusion (computeProjectionType).
		switch {
		case c.hasSlice:
			mode = -1
			if c.idIncluded {
				mode = 1
			}
		case len(c.p.elemMatch) > 0, c.idIncluded:
			mode = 1
		default:
			mode = -1
		}
	}
	c.p.inclusion = mode == 1
	c.p.idExcluded = c.idExcluded
	return c.p, nil
}

type projCompiler struct {
	p          *Projection
	mode       int // 1 inclusion, -1 exclusion, 0 undecided
	hasSlice   bool
	idIncluded bool
	idExcluded bool
}

func (c *projCompiler) setMode(m int, path string) error {
	switch {
	case c.mode == 0:
		c.mode = m
	case c.mode == 1 && m == -1:
		return projErr(CodeProjExclusionInInclusion, "Cannot do exclusion on field %s in inclusion projection", path)
	case c.mode == -1 && m == 1:
		return projErr(CodeProjInclusionInExclusion, "Cannot do inclusion on field %s in exclusion projection", path)
	}
	return nil
}

// element compiles one spec entry; parent is the node of prefix.
func (c *projCompiler) element(e bson.E, prefix string, parent *projNode, depth int) error {
	if depth > maxDepth {
		return badValue("projection nested deeper than %d levels", maxDepth)
	}
	path := e.Key
	if prefix != "" {
		path = prefix + "." + e.Key
	}
	positional := strings.HasSuffix(e.Key, ".$") || e.Key == "$"
	if !positional {
		if err := checkProjPath(e.Key); err != nil {
			return err
		}
	}
	topID := prefix == "" && e.Key == "_id"
	if d, ok := asDoc(e.Value); ok {
		if positional {
			return projErr(CodeProjPositionalExpr, "positional projection cannot be used with an expression or sub object")
		}
		if len(d) == 0 {
			return projErr(CodeProjEmptySub, "An empty sub-projection is not a valid value. Found empty object at path %s", path)
		}
		if len(d) == 1 && strings.HasPrefix(d[0].Key, "$") {
			return c.operator(path, prefix, d)
		}
		sub := parent.child(e.Key)
		if sub == nil {
			sub = &projNode{name: e.Key, kind: pSub}
			parent.children = append(parent.children, sub)
		} else if sub.kind != pSub {
			return projErr(CodeProjPathCollision, "Path collision at %s", path)
		}
		for _, se := range d {
			if err := c.element(se, path, sub, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if !isFlag(e.Value) {
		if positional {
			return projErr(CodeProjPositionalLiteral, "positional projection cannot be used with a literal")
		}
		if c.mode == -1 {
			return projErr(CodeProjLiteralInExclusion, "Cannot use an expression %s: %v in an exclusion projection", path, e.Value)
		}
		c.mode = 1
		ex, err := NewExpr(e.Value)
		if err != nil {
			return err
		}
		return insertAt(parent, e.Key, path, &projNode{kind: pExpr, expr: ex})
	}
	if !isInclusionValue(e.Value) {
		if positional {
			return Errorf(16410, "Location16410", "FieldPath field names may not start with '$': %s", path)
		}
		if topID {
			c.idExcluded = true
		} else if err := c.setMode(-1, path); err != nil {
			return err
		}
		return insertAt(parent, e.Key, path, &projNode{kind: pExclude})
	}
	if positional {
		return c.positional(path)
	}
	if topID {
		c.idIncluded = true
	} else if err := c.setMode(1, path); err != nil {
		return err
	}
	return insertAt(parent, e.Key, path, &projNode{kind: pInclude})
}

func (c *projCompiler) positional(path string) error {
	if c.p.positional != "" {
		return projErr(CodeProjMultiplePositional, "Cannot specify more than one positional projection per query.")
	}
	if len(c.p.elemMatch) > 0 {
		return projErr(31256, "Cannot specify positional operator and $elemMatch.")
	}
	base := strings.TrimSuffix(path, ".$")
	if base == path || base == "" || strings.Contains(base, ".$") {
		return Errorf(31287, "Location31287", "Cannot use positional operator twice: %s", path)
	}
	if err := checkProjPath(base); err != nil {
		return err
	}
	if err := c.setMode(1, path); err != nil {
		return err
	}
	c.p.positional = base
	return insertAt(c.p.root, base, base, &projNode{kind: pInclude})
}

func (c *projCompiler) operator(path, prefix string, d bson.D) error {
	op := d[0].Key
	switch op {
	case "$slice":
		n, err := compileSlice(d[0].Value)
		if err != nil {
			// Not the find() syntax: maybe the aggregation $slice
			// expression ({$slice: ["$arr", 2]}).
			ex, exErr := NewExpr(d)
			if exErr != nil {
				return err
			}
			return c.expression(path, ex)
		}
		c.hasSlice = true
		return insertAt(c.p.root, path, path, n)
	case "$elemMatch":
		sub, ok := asDoc(d[0].Value)
		if !ok {
			return projErr(CodeProjElemMatchArg, "elemMatch: Invalid argument, object required, but got %v", d[0].Value)
		}
		if c.p.positional != "" {
			return projErr(CodeProjPositionalElemMatch, "Cannot specify positional operator and $elemMatch.")
		}
		if prefix != "" || strings.Contains(path, ".") {
			return projErr(CodeProjElemMatchNested, "Cannot use $elemMatch projection on a nested field.")
		}
		m, err := NewMatcher(bson.D{{Key: path, Value: bson.D{{Key: "$elemMatch", Value: sub}}}})
		if err != nil {
			return err
		}
		if c.p.root.child(path) != nil {
			return projErr(CodeProjPathCollisionLeaf, "Path collision at %s", path)
		}
		for _, em := range c.p.elemMatch {
			if em.field == path {
				return projErr(CodeProjPathCollisionLeaf, "Path collision at %s", path)
			}
		}
		c.p.elemMatch = append(c.p.elemMatch, elemMatchProj{field: path, m: m})
		return nil
	case "$meta":
		return badValue("$meta projection on field %s is not supported by mongotide", path)
	}
	ex, err := NewExpr(d)
	if err != nil {
		return err
	}
	return c.expression(path, ex)
}

func (c *projCompiler) expression(path string, ex *Expr) error {
	if c.mode == -1 {
		return projErr(CodeProjExprInExclusion, "Cannot use expression other than $meta in exclusion projection")
	}
	c.mode = 1
	return insertAt(c.p.root, path, path, &projNode{kind: pExpr, expr: ex})
}

func compileSlice(v any) (*projNode, error) {
	if IsNumber(v) {
		return &projNode{kind: pSlice, limit: numberInt(v)}, nil
	}
	arr, ok := asArray(v)
	if !ok {
		return nil, projErr(CodeProjSliceArg, "$slice only supports numbers and [skip, limit] arrays")
	}
	if len(arr) != 2 {
		return nil, projErr(CodeProjSliceArrayLen, "$slice array argument should be of form [skip, limit]")
	}
	if !IsNumber(arr[0]) {
		return nil, projErr(CodeProjSliceSkip, "$slice expects the skip argument to be a number, got %s", TypeName(arr[0]))
	}
	if !IsNumber(arr[1]) {
		return nil, projErr(CodeProjSliceLimitType, "$slice expects the limit argument to be a number, got %s", TypeName(arr[1]))
	}
	limit := numberInt(arr[1])
	if limit <= 0 {
		return nil, projErr(CodeProjSliceLimit, "$slice limit must be positive, got %d", limit)
	}
	return &projNode{kind: pSlice, skip: numberInt(arr[0]), limit: limit, hasSkip: true}, nil
}

// numberInt converts like the server's BSONElement::numberInt: truncation,
// saturating at the int32 range, NaN as 0.
func numberInt(v any) int {
	f, _ := ToFloat(v)
	if i, ok := intValue(v); ok {
		f = float64(i)
	}
	switch {
	case f != f:
		return 0
	case f >= math.MaxInt32:
		return math.MaxInt32
	case f <= math.MinInt32:
		return math.MinInt32
	}
	return int(f)
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
	for _, part := range strings.Split(path, ".") {
		if part == "" {
			return Errorf(15998, "Location15998", "FieldPath field names may not be empty strings: %s", path)
		}
		if strings.HasPrefix(part, "$") {
			return Errorf(16410, "Location16410", "FieldPath field names may not start with '$': %s", path)
		}
	}
	return nil
}

// insertAt places a leaf at the dotted key below parent, creating inner
// nodes; a leaf on a prefix of another projected path (or the same path
// twice) is a collision. full is the whole path, for messages.
func insertAt(parent *projNode, key, full string, leaf *projNode) error {
	parts := strings.Split(key, ".")
	n := parent
	for i, part := range parts {
		c := n.child(part)
		if i == len(parts)-1 {
			if c != nil {
				return projErr(CodeProjPathCollisionLeaf, "Path collision at %s", full)
			}
			leaf.name = part
			n.children = append(n.children, leaf)
			return nil
		}
		if c == nil {
			c = &projNode{name: part, kind: pSub}
			n.children = append(n.children, c)
		} else if c.kind != pSub {
			return projErr(CodeProjPathCollision, "Path collision at %s remaining portion %s", full, strings.Join(parts[i+1:], "."))
		}
		n = c
	}
	return nil
}

// NeedsPosition reports whether the projection has a positional "field.$"
// part, which needs ApplyPositional with the matched array index.
func (p *Projection) NeedsPosition() bool { return p.positional != "" }

// Apply projects doc into a new document; doc is not modified, but the
// result shares the nested values it keeps unchanged with doc (copy before
// mutating either). It fails for a positional projection (use
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
		// The $elemMatch field comes after the other fields, as in 4.4+;
		// an exclusion projection kept the original, which it replaces.
		out = setField(out, em.field, nil, false)
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
	out := make(bson.D, 0, min(len(n.children)+1, len(doc)))
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
