package mql

import (
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Matcher is a compiled query filter. It is immutable after NewMatcher and
// safe for concurrent use.
type Matcher struct {
	root node
	coll *Collation
}

// Collation returns the collation the filter compares strings with (nil:
// simple), for storage that must not answer it with byte-ordered indexes.
func (m *Matcher) Collation() *Collation { return m.coll }

// NewMatcher compiles a query filter ({field: value}, {field: {$op: ...}},
// $and/$or/$nor/$expr/$comment at the top level). Mistakes in the filter are
// reported as *Error with the server's code (2 BadValue for an unknown
// operator). A nil or empty filter matches every document.
func NewMatcher(filter bson.D) (*Matcher, error) {
	return NewMatcherCollation(filter, nil)
}

// NewMatcherCollation is NewMatcher with string comparisons ($eq, $in,
// $lt..., also of strings inside documents and arrays, and in $expr) under
// coll; nil is the simple collation. Regular expressions ignore it, as on
// the server.
func NewMatcherCollation(filter bson.D, coll *Collation) (*Matcher, error) {
	mc := &compiler{coll: coll}
	n, err := mc.compileFilter(filter, 0)
	if err != nil {
		return nil, err
	}
	return &Matcher{root: n, coll: coll}, nil
}

// compiler holds what every compiled predicate shares.
type compiler struct {
	coll *Collation
}

// Match reports whether doc satisfies the filter.
func (m *Matcher) Match(doc bson.D) bool {
	return m.root.match(doc, nil)
}

// MatchArrayIndex reports whether doc satisfies the filter and, if the match
// went through an array, the offset of the matching element in the first
// array traversed on the matching path (the element that the positional "$"
// update operator addresses). When several conditions traverse arrays, the
// last one evaluated wins, as on the server.
func (m *Matcher) MatchArrayIndex(doc bson.D) (ok bool, idx int, hasIdx bool) {
	pos := &position{idx: -1}
	if !m.root.match(doc, pos) {
		return false, 0, false
	}
	if pos.idx < 0 {
		return true, 0, false
	}
	return true, pos.idx, true
}

// MatchErr is Match that also reports the first run-time error of an $expr
// clause (the server fails the whole operation on such an error; Match
// treats it as "no match").
func (m *Matcher) MatchErr(doc bson.D) (bool, error) {
	pos := &position{idx: -1}
	ok := m.root.match(doc, pos)
	if pos.err != nil {
		return false, pos.err
	}
	return ok, nil
}

// position receives the array offset of a match and the first $expr
// evaluation error; it is nil when nobody asked (the fast path of Match).
type position struct {
	idx int
	err error
}

func (p *position) set(idx int) {
	if p != nil && idx >= 0 {
		p.idx = idx
	}
}

// node is a compiled filter over a whole document.
type node interface {
	match(doc bson.D, pos *position) bool
}

// maxDepth bounds filter nesting like the server's 100-level limit, so that
// hostile filters cannot exhaust the stack.
const maxDepth = 100

func badValue(format string, args ...any) *Error {
	return Errorf(CodeBadValue, "BadValue", format, args...)
}

func (mc *compiler) compileFilter(filter bson.D, depth int) (node, error) {
	if depth > maxDepth {
		return nil, badValue("exceeded depth limit of %d when parsing the filter", maxDepth)
	}
	var kids []node
	for _, e := range filter {
		n, err := mc.compileTopLevel(e, depth)
		if err != nil {
			return nil, err
		}
		if n != nil {
			kids = append(kids, n)
		}
	}
	switch len(kids) {
	case 0:
		return alwaysNode(true), nil
	case 1:
		return kids[0], nil
	}
	return andNode(kids), nil
}

func (mc *compiler) compileTopLevel(e bson.E, depth int) (node, error) {
	if !strings.HasPrefix(e.Key, "$") {
		return mc.compileField(e.Key, e.Value, depth)
	}
	switch e.Key {
	case "$and", "$or", "$nor":
		kids, err := mc.compileClauses(e.Key, e.Value, depth)
		if err != nil {
			return nil, err
		}
		switch e.Key {
		case "$and":
			return andNode(kids), nil
		case "$or":
			return orNode(kids), nil
		}
		return notNode{orNode(kids)}, nil
	case "$comment":
		return nil, nil
	case "$expr":
		return mc.compileExpr(e.Value)
	case "$alwaysTrue", "$alwaysFalse":
		if n, ok := ToFloat(e.Value); !ok || n != 1 {
			return nil, badValue("%s must be an integer value of 1", e.Key)
		}
		return alwaysNode(e.Key == "$alwaysTrue"), nil
	case "$jsonSchema":
		s, err := compileJSONSchema(e.Value, depth)
		if err != nil {
			return nil, err
		}
		return schemaNode{s: s}, nil
	case "$sampleRate":
		return compileSampleRate(e.Value)
	case "$where", "$text":
		return nil, badValue("%s is not supported by mongotide", e.Key)
	}
	return nil, badValue("unknown top level operator: %s", e.Key)
}

func (mc *compiler) compileClauses(op string, v any, depth int) ([]node, error) {
	arr, ok := asArray(v)
	if !ok || len(arr) == 0 {
		return nil, badValue("%s must be a nonempty array", op)
	}
	kids := make([]node, 0, len(arr))
	for _, c := range arr {
		d, ok := asDoc(c)
		if !ok {
			return nil, badValue("$or/$and/$nor entries need to be full objects")
		}
		n, err := mc.compileFilter(d, depth+1)
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	return kids, nil
}

// isOperatorDoc reports whether v is a document of query operators
// ({$gt: 1}) rather than a literal document to compare with. DBRef-shaped
// documents ({$ref, $id}) are literals.
func isOperatorDoc(v any) (bson.D, bool) {
	d, ok := asDoc(v)
	if !ok || len(d) == 0 {
		return nil, false
	}
	k := d[0].Key
	if !strings.HasPrefix(k, "$") || k == "$ref" || k == "$id" || k == "$db" {
		return nil, false
	}
	return d, true
}

func (mc *compiler) compileField(path string, v any, depth int) (node, error) {
	ops, isOps := isOperatorDoc(v)
	if !isOps {
		p, err := mc.valuePred(v)
		if err != nil {
			return nil, err
		}
		return leafExpr(p).toNode(compilePath(path)), nil
	}
	ex, err := mc.compileOps(ops, depth)
	if err != nil {
		return nil, err
	}
	return ex.toNode(compilePath(path)), nil
}

// valuePred is the predicate of a bare value {field: v}: a regex matches,
// anything else is equality.
func (mc *compiler) valuePred(v any) (pred, error) {
	if re, ok := v.(bson.Regex); ok {
		return newRegexPred(re.Pattern, re.Options)
	}
	return mc.newEqPred(v), nil
}

// opExpr is a boolean combination of per-value predicates, compiled from an
// operator document. At field level each leaf becomes a path walk (so that
// "any element matches" holds per operator and $not negates the whole walk);
// inside $elemMatch it is evaluated against one array element.
type opExpr struct {
	kind int // opLeaf, opAnd, opNot
	p    pred
	kids []opExpr
}

const (
	opLeaf = iota
	opAnd
	opNot
)

func leafExpr(p pred) opExpr { return opExpr{kind: opLeaf, p: p} }

func (x opExpr) toNode(path queryPath) node {
	switch x.kind {
	case opAnd:
		kids := make([]node, len(x.kids))
		for i, k := range x.kids {
			kids[i] = k.toNode(path)
		}
		if len(kids) == 1 {
			return kids[0]
		}
		return andNode(kids)
	case opNot:
		return notNode{x.kids[0].toNode(path)}
	}
	pn := &pathNode{path: path, p: x.p}
	pn.leafNoTraverse = x.p.noLeafTraversal()
	return pn
}

// matchOne evaluates the expression against a single value (an array
// element inside $elemMatch): no array traversal.
func (x *opExpr) matchOne(v any) bool {
	switch x.kind {
	case opAnd:
		for i := range x.kids {
			if !x.kids[i].matchOne(v) {
				return false
			}
		}
		return true
	case opNot:
		return !x.kids[0].matchOne(v)
	}
	return x.p.test(v, false, nil)
}

// compileOps compiles an operator document {$op: arg, ...}.
func (mc *compiler) compileOps(ops bson.D, depth int) (opExpr, error) {
	if depth > maxDepth {
		return opExpr{}, badValue("exceeded depth limit of %d when parsing the filter", maxDepth)
	}
	var kids []opExpr
	var regexSrc *bson.E
	var options *string
	for i := range ops {
		e := ops[i]
		var x opExpr
		var err error
		switch e.Key {
		case "$eq":
			x = leafExpr(mc.newEqPred(e.Value))
		case "$ne":
			if _, isRe := e.Value.(bson.Regex); isRe {
				return opExpr{}, badValue("Can't have regex as arg to $ne.")
			}
			x = opExpr{kind: opNot, kids: []opExpr{leafExpr(mc.newEqPred(e.Value))}}
		case "$gt", "$gte", "$lt", "$lte":
			x = leafExpr(mc.newCmpPred(e.Key, e.Value))
		case "$in", "$nin":
			var p pred
			p, err = mc.newInPred(e.Key, e.Value)
			x = leafExpr(p)
			if e.Key == "$nin" {
				x = opExpr{kind: opNot, kids: []opExpr{x}}
			}
		case "$exists":
			x = leafExpr(existsPred{})
			if !Truthy(e.Value) {
				x = opExpr{kind: opNot, kids: []opExpr{x}}
			}
		case "$type":
			var p pred
			p, err = newTypePred(e.Value)
			x = leafExpr(p)
		case "$regex":
			regexSrc = &ops[i]
			continue
		case "$options":
			s, ok := e.Value.(string)
			if !ok {
				return opExpr{}, badValue("$options has to be a string")
			}
			options = &s
			continue
		case "$not":
			x, err = mc.compileNot(e.Value, depth)
		case "$elemMatch":
			x, err = mc.compileElemMatch(e.Value, depth)
		case "$size":
			var p pred
			p, err = newSizePred(e.Value)
			x = leafExpr(p)
		case "$all":
			x, err = mc.compileAll(e.Value, depth)
		case "$mod":
			var p pred
			p, err = newModPred(e.Value)
			x = leafExpr(p)
		case "$bitsAllSet", "$bitsAllClear", "$bitsAnySet", "$bitsAnyClear":
			var p pred
			p, err = newBitsPred(e.Key, e.Value)
			x = leafExpr(p)
		case "$geoWithin", "$geoIntersects", "$near", "$nearSphere", "$within",
			"$where", "$text", "$jsonSchema":
			return opExpr{}, badValue("%s is not supported by mongotide", e.Key)
		default:
			return opExpr{}, badValue("unknown operator: %s", e.Key)
		}
		if err != nil {
			return opExpr{}, err
		}
		kids = append(kids, x)
	}
	if options != nil && regexSrc == nil {
		return opExpr{}, badValue("$options needs a $regex")
	}
	if regexSrc != nil {
		p, err := regexFromOperator(regexSrc.Value, options)
		if err != nil {
			return opExpr{}, err
		}
		kids = append(kids, leafExpr(p))
	}
	if len(kids) == 1 {
		return kids[0], nil
	}
	return opExpr{kind: opAnd, kids: kids}, nil
}

func regexFromOperator(v any, options *string) (pred, error) {
	switch x := v.(type) {
	case string:
		opts := ""
		if options != nil {
			opts = *options
		}
		return newRegexPred(x, opts)
	case bson.Regex:
		opts := x.Options
		if options != nil {
			if x.Options != "" {
				return nil, badValue("options set in both $regex and $options")
			}
			opts = *options
		}
		return newRegexPred(x.Pattern, opts)
	}
	return nil, badValue("$regex has to be a string")
}

func (mc *compiler) compileNot(v any, depth int) (opExpr, error) {
	if re, ok := v.(bson.Regex); ok {
		p, err := newRegexPred(re.Pattern, re.Options)
		if err != nil {
			return opExpr{}, err
		}
		return opExpr{kind: opNot, kids: []opExpr{leafExpr(p)}}, nil
	}
	d, ok := asDoc(v)
	if !ok {
		return opExpr{}, badValue("$not needs a regex or a document")
	}
	if len(d) == 0 {
		return opExpr{}, badValue("$not cannot be empty")
	}
	if !strings.HasPrefix(d[0].Key, "$") {
		return opExpr{}, badValue("unknown operator: %s", d[0].Key)
	}
	inner, err := mc.compileOps(d, depth+1)
	if err != nil {
		return opExpr{}, err
	}
	return opExpr{kind: opNot, kids: []opExpr{inner}}, nil
}

// pathlessOps are the operators that make an $elemMatch argument a
// document filter rather than a list of value predicates.
func isPathlessOp(k string) bool {
	switch k {
	case "$and", "$or", "$nor", "$expr", "$where", "$comment", "$text",
		"$jsonSchema", "$alwaysTrue", "$alwaysFalse", "$sampleRate":
		return true
	}
	return false
}

func (mc *compiler) compileElemMatch(v any, depth int) (opExpr, error) {
	d, ok := asDoc(v)
	if !ok {
		return opExpr{}, badValue("$elemMatch needs an Object")
	}
	if len(d) > 0 && strings.HasPrefix(d[0].Key, "$") && !isPathlessOp(d[0].Key) {
		inner, err := mc.compileOps(d, depth+1)
		if err != nil {
			return opExpr{}, err
		}
		return leafExpr(&elemMatchValuePred{x: inner}), nil
	}
	if hasTopLevelExpr(d, depth) {
		return opExpr{}, badValue("$expr can only be applied to the top-level document")
	}
	sub, err := mc.compileFilter(d, depth+1)
	if err != nil {
		return opExpr{}, err
	}
	return leafExpr(&elemMatchObjectPred{m: sub}), nil
}

// hasTopLevelExpr reports whether filter uses $expr at its top level or in
// its logical clauses (where it would apply to an array element).
func hasTopLevelExpr(filter bson.D, depth int) bool {
	if depth > maxDepth {
		return false
	}
	for _, e := range filter {
		switch e.Key {
		case "$expr":
			return true
		case "$and", "$or", "$nor":
			arr, _ := asArray(e.Value)
			for _, c := range arr {
				if d, ok := asDoc(c); ok && hasTopLevelExpr(d, depth+1) {
					return true
				}
			}
		}
	}
	return false
}

func (mc *compiler) compileAll(v any, depth int) (opExpr, error) {
	arr, ok := asArray(v)
	if !ok {
		return opExpr{}, badValue("$all needs an array")
	}
	if len(arr) == 0 {
		// The server matches nothing for an empty $all.
		return leafExpr(neverPred{}), nil
	}
	kids := make([]opExpr, 0, len(arr))
	elemMatches := 0
	for _, item := range arr {
		if d, isOps := isOperatorDoc(item); isOps && d[0].Key == "$elemMatch" {
			if len(d) != 1 {
				return opExpr{}, badValue("$all/$elemMatch has to be consistent")
			}
			x, err := mc.compileElemMatch(d[0].Value, depth)
			if err != nil {
				return opExpr{}, err
			}
			kids = append(kids, x)
			elemMatches++
			continue
		}
		if _, isOps := isOperatorDoc(item); isOps {
			return opExpr{}, badValue("no $ expressions in $all")
		}
		p, err := mc.valuePred(item)
		if err != nil {
			return opExpr{}, err
		}
		kids = append(kids, leafExpr(p))
	}
	if elemMatches != 0 && elemMatches != len(kids) {
		return opExpr{}, badValue("$all/$elemMatch has to be consistent")
	}
	if len(kids) == 1 {
		return kids[0], nil
	}
	return opExpr{kind: opAnd, kids: kids}, nil
}

func (mc *compiler) compileExpr(v any) (node, error) {
	e, err := NewExpr(v)
	if err != nil {
		return nil, err
	}
	return &exprNode{e: e, coll: mc.coll}, nil
}

// ---- document-level nodes ----

type alwaysNode bool

func (a alwaysNode) match(bson.D, *position) bool { return bool(a) }

type andNode []node

func (a andNode) match(doc bson.D, pos *position) bool {
	for _, n := range a {
		if !n.match(doc, pos) {
			return false
		}
	}
	return true
}

type orNode []node

func (o orNode) match(doc bson.D, pos *position) bool {
	for _, n := range o {
		if n.match(doc, pos) {
			return true
		}
	}
	return false
}

type notNode struct{ n node }

func (n notNode) match(doc bson.D, pos *position) bool {
	// A negation matches because something did not match: there is no
	// element to point at, but errors still propagate.
	if pos == nil {
		return !n.n.match(doc, nil)
	}
	inner := position{idx: -1}
	r := !n.n.match(doc, &inner)
	if inner.err != nil && pos.err == nil {
		pos.err = inner.err
	}
	return r
}

type exprNode struct {
	e    *Expr
	coll *Collation
}

func (n *exprNode) match(doc bson.D, pos *position) bool {
	v, err := n.e.EvalCollation(doc, nil, n.coll)
	if err != nil {
		// Match has no error channel: a failing expression (e.g. $divide
		// by zero) does not match; MatchErr reports it.
		if pos != nil && pos.err == nil {
			pos.err = err
		}
		return false
	}
	return Truthy(v)
}

// pathNode applies one predicate to the values a path produces: the
// document matches when any produced value satisfies it.
type pathNode struct {
	path           queryPath
	p              pred
	leafNoTraverse bool
}

func (n *pathNode) match(doc bson.D, pos *position) bool {
	// Fast path: a single-segment path to a non-array value, the common
	// case, needs no walker.
	if len(n.path.segs) == 1 {
		v, ok := lookupKey(doc, n.path.segs[0].name)
		if !ok {
			return n.p.test(nil, true, pos)
		}
		switch v.(type) {
		case bson.A, []any:
		default:
			return n.p.test(v, false, pos)
		}
	}
	w := pathVisitor{p: n.p, pos: pos}
	stopped, produced := n.path.walk(doc, n.leafNoTraverse, &w)
	if stopped {
		return true
	}
	if !produced {
		// Nothing at all along the path (e.g. "a.b" over an array of
		// scalars) counts as missing, as null-equality and $exists expect.
		return n.p.test(nil, true, pos)
	}
	return false
}

// pathVisitor receives the values a query path produces. missing is true
// where the path ends in a document lacking the field (or runs into a
// scalar); arrayIdx is the offset in the outermost array traversed to reach
// the value, or -1. visit returns true to stop the walk. It is a concrete
// type, not an interface, so that walking allocates nothing.
type pathVisitor struct {
	p   pred
	pos *position
}

func (w *pathVisitor) visit(v any, missing bool, arrayIdx int) bool {
	if w.pos == nil {
		return w.p.test(v, missing, nil)
	}
	inner := position{idx: -1}
	if !w.p.test(v, missing, &inner) {
		return false
	}
	if arrayIdx >= 0 {
		w.pos.set(arrayIdx)
	} else {
		w.pos.set(inner.idx)
	}
	return true
}

// ---- per-value predicates ----

// pred tests one value produced by a path (missing=true: the path is absent
// there). pos, when not nil, receives an element offset chosen by the
// predicate itself ($elemMatch).
type pred interface {
	test(v any, missing bool, pos *position) bool
	// noLeafTraversal: the predicate looks at a whole array ($size,
	// $elemMatch), not at its elements.
	noLeafTraversal() bool
}

type neverPred struct{}

func (neverPred) test(any, bool, *position) bool { return false }
func (neverPred) noLeafTraversal() bool          { return false }

type eqPred struct {
	val     any
	bracket int
	isNull  bool
	str     string
	isStr   bool
	coll    *Collation
}

func (mc *compiler) newEqPred(v any) *eqPred {
	p := &eqPred{val: v, bracket: TypeBracket(v), coll: mc.coll}
	switch x := v.(type) {
	case nil, bson.Null:
		p.isNull = true
	case string:
		p.str, p.isStr = x, mc.coll == nil
	}
	return p
}

func (p *eqPred) noLeafTraversal() bool { return false }

func (p *eqPred) test(v any, missing bool, _ *position) bool {
	if missing {
		return p.isNull
	}
	if p.isStr {
		if s, ok := v.(string); ok {
			return s == p.str
		}
	}
	if TypeBracket(v) != p.bracket {
		return false
	}
	return compareColl(v, p.val, p.coll) == 0
}

type cmpPred struct {
	op      int // -2 $lt, -1 $lte, 1 $gte, 2 $gt
	val     any
	bracket int
	isNull  bool
	nan     bool
	coll    *Collation
}

func (mc *compiler) newCmpPred(op string, v any) *cmpPred {
	p := &cmpPred{val: v, bracket: TypeBracket(v), isNull: IsNullish(v) && TypeNumber(v) == TypeNull, nan: IsNaN(v), coll: mc.coll}
	switch op {
	case "$lt":
		p.op = -2
	case "$lte":
		p.op = -1
	case "$gte":
		p.op = 1
	default:
		p.op = 2
	}
	return p
}

func (p *cmpPred) noLeafTraversal() bool { return false }

func (p *cmpPred) test(v any, missing bool, _ *position) bool {
	inclusive := p.op == -1 || p.op == 1
	if missing {
		// {$gte: null} and {$lte: null} are equality with null.
		return p.isNull && inclusive
	}
	vb := TypeBracket(v)
	if vb != p.bracket {
		switch p.bracket {
		case BracketMaxKey:
			return p.op < 0
		case BracketMinKey:
			return p.op > 0
		}
		return false
	}
	if p.bracket == BracketNumber && (p.nan || IsNaN(v)) {
		// NaN equals NaN but is neither below nor above anything.
		return inclusive && p.nan && IsNaN(v)
	}
	c := compareColl(v, p.val, p.coll)
	switch p.op {
	case -2:
		return c < 0
	case -1:
		return c <= 0
	case 1:
		return c >= 0
	}
	return c > 0
}

type inPred struct {
	vals    []any // sorted by the collation, no regexes, no nulls
	regexes []*regexPred
	hasNull bool
	coll    *Collation
}

func (mc *compiler) newInPred(op string, v any) (*inPred, error) {
	arr, ok := asArray(v)
	if !ok {
		return nil, badValue("%s needs an array", op)
	}
	p := &inPred{coll: mc.coll}
	for _, item := range arr {
		if _, isOps := isOperatorDoc(item); isOps {
			return nil, badValue("cannot nest $ under %s", op)
		}
		switch x := item.(type) {
		case bson.Regex:
			re, err := newRegexPred(x.Pattern, x.Options)
			if err != nil {
				return nil, err
			}
			p.regexes = append(p.regexes, re)
		case nil, bson.Null:
			p.hasNull = true
		default:
			p.vals = append(p.vals, item)
		}
	}
	slices.SortFunc(p.vals, p.cmp)
	return p, nil
}

func (p *inPred) noLeafTraversal() bool { return false }

func (p *inPred) cmp(a, b any) int { return compareColl(a, b, p.coll) }

func (p *inPred) test(v any, missing bool, _ *position) bool {
	if missing {
		return p.hasNull
	}
	switch v.(type) {
	case nil, bson.Null:
		return p.hasNull
	}
	if len(p.vals) > 0 {
		if _, found := slices.BinarySearchFunc(p.vals, v, p.cmp); found {
			return true
		}
	}
	for _, re := range p.regexes {
		if re.test(v, false, nil) {
			return true
		}
	}
	return false
}

type existsPred struct{}

func (existsPred) noLeafTraversal() bool { return false }

func (existsPred) test(_ any, missing bool, _ *position) bool { return !missing }

type typePred struct {
	types  []int
	number bool
}

func newTypePred(v any) (*typePred, error) {
	p := &typePred{}
	add := func(t any) error {
		if s, ok := t.(string); ok {
			if s == "number" {
				p.number = true
				return nil
			}
			n, ok := TypeAlias(s)
			if !ok {
				return badValue("Unknown type name alias: %s", s)
			}
			p.types = append(p.types, n)
			return nil
		}
		if !IsNumber(t) {
			return badValue("type must be represented as a number or a string")
		}
		n, ok := ToInt64(t)
		if !ok || !IsIntegral(t) || !validTypeCode(n) {
			return badValue("Invalid numerical type code: %v", t)
		}
		p.types = append(p.types, int(n))
		return nil
	}
	if arr, ok := asArray(v); ok {
		for _, t := range arr {
			if err := add(t); err != nil {
				return nil, err
			}
		}
		return p, nil
	}
	if err := add(v); err != nil {
		return nil, err
	}
	return p, nil
}

func validTypeCode(n int64) bool {
	return (n >= 1 && n <= 19) || n == TypeMinKey || n == TypeMaxKey
}

func (p *typePred) noLeafTraversal() bool { return false }

func (p *typePred) test(v any, missing bool, _ *position) bool {
	if missing {
		return false
	}
	if p.number && IsNumber(v) {
		return true
	}
	t := TypeNumber(v)
	for _, want := range p.types {
		if want == t {
			return true
		}
	}
	return false
}

type regexPred struct {
	re  *regexp.Regexp
	src bson.Regex
}

func newRegexPred(pattern, options string) (*regexPred, error) {
	re, err := compileRegex(pattern, options)
	if err != nil {
		return nil, err
	}
	return &regexPred{re: re, src: bson.Regex{Pattern: pattern, Options: options}}, nil
}

// compileRegex translates a PCRE pattern with MongoDB options (i, m, s, x,
// u) to Go's RE2. Patterns using PCRE-only features (backreferences,
// lookaround) are rejected with the server's error code for invalid regexes.
func compileRegex(pattern, options string) (*regexp.Regexp, error) {
	flags := ""
	for _, c := range options {
		switch c {
		case 'i', 'm', 's':
			if !strings.ContainsRune(flags, c) {
				flags += string(c)
			}
		case 'x':
			pattern = stripExtended(pattern)
		case 'u':
			// Go regexps are UTF-8 already.
		default:
			return nil, badValue("invalid flag in regex options: %c", c)
		}
	}
	pattern = translatePCRE(pattern, strings.ContainsRune(flags, 'm'))
	if strings.IndexByte(pattern, 0) >= 0 {
		return nil, badValue("Regular expression cannot contain an embedded null byte")
	}
	src := pattern
	if flags != "" {
		src = "(?" + flags + ")" + pattern
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, Errorf(51091, "Location51091", "Regular expression is invalid: %v", err)
	}
	return re, nil
}

// translatePCRE rewrites the PCRE anchors that RE2 reads differently:
// without the m flag PCRE's "$" also matches before a final newline (RE2's
// is the very end), and "\Z" (end or before a final newline) does not
// exist in RE2. Matching only asks whether there is a match, so consuming
// the optional newline is harmless.
func translatePCRE(p string, multiline bool) string {
	if !strings.ContainsAny(p, "$Z") {
		return p
	}
	const endOrFinalNewline = `(?:\n?\z)`
	var b strings.Builder
	inClass := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p):
			if p[i+1] == 'Z' && !inClass {
				b.WriteString(endOrFinalNewline)
			} else {
				b.WriteByte(c)
				b.WriteByte(p[i+1])
			}
			i++
			continue
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
			// A "]" right after "[" or "[^" is a literal member.
			if i+1 < len(p) && p[i+1] == '^' {
				b.WriteString("[^")
				i++
			} else {
				b.WriteByte('[')
			}
			if i+1 < len(p) && p[i+1] == ']' {
				b.WriteByte(']')
				i++
			}
			continue
		case c == '$' && !multiline:
			b.WriteString(endOrFinalNewline)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// stripExtended removes unescaped whitespace and #-comments outside
// character classes, which is what PCRE's extended flag means.
func stripExtended(p string) string {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p):
			b.WriteByte(c)
			b.WriteByte(p[i+1])
			i++
			continue
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			continue
		case c == '#':
			for i < len(p) && p[i] != '\n' {
				i++
			}
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (p *regexPred) noLeafTraversal() bool { return false }

func (p *regexPred) test(v any, missing bool, _ *position) bool {
	if missing {
		return false
	}
	switch x := v.(type) {
	case string:
		return p.re.MatchString(x)
	case bson.Symbol:
		return p.re.MatchString(string(x))
	case bson.Regex:
		return x == p.src
	}
	return false
}

type sizePred struct{ n int }

func newSizePred(v any) (*sizePred, error) {
	if !IsNumber(v) {
		return nil, badValue("$size needs a number")
	}
	if !IsIntegral(v) {
		return nil, badValue("$size must be a whole number")
	}
	n, ok := ToInt64(v)
	if !ok {
		return nil, badValue("$size must be a whole number")
	}
	if n < 0 {
		return nil, badValue("$size may not be negative")
	}
	if n > math.MaxInt32 {
		return &sizePred{n: -1}, nil
	}
	return &sizePred{n: int(n)}, nil
}

func (p *sizePred) noLeafTraversal() bool { return true }

func (p *sizePred) test(v any, missing bool, _ *position) bool {
	if missing {
		return false
	}
	arr, ok := asArray(v)
	return ok && len(arr) == p.n
}

type modPred struct{ div, rem int64 }

func newModPred(v any) (*modPred, error) {
	arr, ok := asArray(v)
	if !ok {
		return nil, badValue("malformed mod, needs to be an array")
	}
	if len(arr) < 2 {
		return nil, badValue("malformed mod, not enough elements")
	}
	if len(arr) > 2 {
		return nil, badValue("malformed mod, too many elements")
	}
	div, ok := modOperand(arr[0])
	if !ok {
		return nil, badValue("malformed mod, divisor value is invalid :: caused by :: %v", arr[0])
	}
	if div == 0 {
		return nil, badValue("divisor cannot be 0")
	}
	rem, ok := modOperand(arr[1])
	if !ok {
		return nil, badValue("malformed mod, remainder value is invalid :: caused by :: %v", arr[1])
	}
	return &modPred{div: div, rem: rem}, nil
}

func modOperand(v any) (int64, bool) {
	if !IsNumber(v) {
		return 0, false
	}
	return ToInt64(v)
}

func (p *modPred) noLeafTraversal() bool { return false }

func (p *modPred) test(v any, missing bool, _ *position) bool {
	if missing || !IsNumber(v) {
		return false
	}
	n, ok := ToInt64(v)
	if !ok {
		return false
	}
	return n%p.div == p.rem
}

// elemMatchValuePred: {$elemMatch: {$gt: 1, $lt: 5}}: some element of the
// array satisfies every operator.
type elemMatchValuePred struct{ x opExpr }

func (p *elemMatchValuePred) noLeafTraversal() bool { return true }

func (p *elemMatchValuePred) test(v any, missing bool, pos *position) bool {
	if missing {
		return false
	}
	arr, ok := asArray(v)
	if !ok {
		return false
	}
	for i, e := range arr {
		if p.x.matchOne(e) {
			pos.set(i)
			return true
		}
	}
	return false
}

// elemMatchObjectPred: {$elemMatch: {b: 1, c: {$gt: 2}}}: some document
// element of the array matches the whole sub-filter.
type elemMatchObjectPred struct{ m node }

func (p *elemMatchObjectPred) noLeafTraversal() bool { return true }

func (p *elemMatchObjectPred) test(v any, missing bool, pos *position) bool {
	if missing {
		return false
	}
	arr, ok := asArray(v)
	if !ok {
		return false
	}
	for i, e := range arr {
		d, ok := asDoc(e)
		if !ok {
			// The server treats an array element as the document of its
			// indexes ({"0": ..., "1": ...}); scalars never match.
			inner, isArr := asArray(e)
			if !isArr {
				continue
			}
			d = arrayAsDoc(inner)
		}
		if p.m.match(d, nil) {
			pos.set(i)
			return true
		}
	}
	return false
}

// bitsPred implements $bitsAllSet, $bitsAllClear, $bitsAnySet and
// $bitsAnyClear over integral numbers (two's complement, sign-extended past
// bit 63) and binary data (little-endian bit order).
type bitsPred struct {
	positions []int
	set       bool // looking for set bits (else clear bits)
	all       bool // every position (else any position)
}

func newBitsPred(op string, v any) (*bitsPred, error) {
	p := &bitsPred{
		set: op == "$bitsAllSet" || op == "$bitsAnySet",
		all: op == "$bitsAllSet" || op == "$bitsAllClear",
	}
	switch x := v.(type) {
	case bson.Binary:
		p.positions = binaryBits(x.Data)
		return p, nil
	case []byte:
		p.positions = binaryBits(x)
		return p, nil
	}
	if IsNumber(v) {
		n, ok := ToInt64(v)
		if !ok || !IsIntegral(v) {
			return nil, badValue("%s takes an Array, a number, or a BinData but received: %v", op, v)
		}
		if n < 0 {
			return nil, badValue("%s bitmask must be a non-negative integer: %v", op, v)
		}
		for i := 0; i < 63; i++ {
			if n&(1<<i) != 0 {
				p.positions = append(p.positions, i)
			}
		}
		return p, nil
	}
	arr, ok := asArray(v)
	if !ok {
		return nil, badValue("%s takes an Array, a number, or a BinData but received: %v", op, v)
	}
	for _, e := range arr {
		n, ok := ToInt64(e)
		if !ok || !IsNumber(e) || !IsIntegral(e) {
			return nil, badValue("bit positions must be an integer but got: %v", e)
		}
		if n < 0 {
			return nil, badValue("bit positions must be >= 0 but got: %v", e)
		}
		if n > math.MaxInt32 {
			n = math.MaxInt32
		}
		p.positions = append(p.positions, int(n))
	}
	return p, nil
}

func binaryBits(data []byte) []int {
	var out []int
	for i, b := range data {
		for j := 0; j < 8; j++ {
			if b&(1<<j) != 0 {
				out = append(out, i*8+j)
			}
		}
	}
	return out
}

func (p *bitsPred) noLeafTraversal() bool { return false }

func (p *bitsPred) test(v any, missing bool, _ *position) bool {
	if missing {
		return false
	}
	var bit func(int) bool
	switch x := v.(type) {
	case bson.Binary:
		bit = func(i int) bool { return i/8 < len(x.Data) && x.Data[i/8]&(1<<(i%8)) != 0 }
	default:
		if !IsNumber(v) || !IsIntegral(v) {
			return false
		}
		if _, isDec := v.(bson.Decimal128); isDec {
			return false
		}
		n, ok := ToInt64(v)
		if !ok {
			return false
		}
		bit = func(i int) bool {
			if i > 63 {
				return n < 0
			}
			return n&(1<<i) != 0
		}
	}
	for _, pos := range p.positions {
		if bit(pos) == p.set {
			if !p.all {
				return true
			}
		} else if p.all {
			return false
		}
	}
	return p.all
}

func arrayAsDoc(a bson.A) bson.D {
	d := make(bson.D, len(a))
	for i, v := range a {
		d[i] = bson.E{Key: strconv.Itoa(i), Value: v}
	}
	return d
}
