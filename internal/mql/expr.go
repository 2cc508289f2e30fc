package mql

import (
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// xMissing is the value of an expression that refers to nothing (a missing
// field, $$REMOVE). It differs from null: $ifNull and $type see the
// difference, and a computed field whose value is missing is not added.
type xMissing struct{}

// Expr is a compiled aggregation expression. It is immutable and safe for
// concurrent use.
type Expr struct {
	n xNode
}

type xNode interface {
	eval(c *xCtx) (any, error)
}

// xCtx is the evaluation state: the root document and the variables in
// scope (innermost first).
type xCtx struct {
	root  bson.D
	vars  map[string]any
	scope *xScope
	// now is the default $$NOW: one instant per operation, as on the server.
	now time.Time
	// coll is the operation's collation (nil: simple) for comparisons.
	coll *Collation
	// mem accounts the memory of a pipeline run (nil: no limits).
	mem *memGuard
}

type xScope struct {
	name string
	val  any
	next *xScope
}

func (c *xCtx) with(name string, v any) *xCtx {
	return &xCtx{root: c.root, vars: c.vars, scope: &xScope{name: name, val: v, next: c.scope}, now: c.now, coll: c.coll, mem: c.mem}
}

func (c *xCtx) lookup(name string) (any, bool) {
	for s := c.scope; s != nil; s = s.next {
		if s.name == name {
			return s.val, true
		}
	}
	if v, ok := c.vars[name]; ok {
		return v, true
	}
	switch name {
	case "ROOT", "CURRENT":
		return c.root, true
	case "REMOVE":
		return xMissing{}, true
	case "DESCEND", "PRUNE", "KEEP":
		// $redact's answers, as the server defines them.
		return strings.ToLower(name), true
	case "NOW":
		return bson.NewDateTimeFromTime(c.now), true
	case "CLUSTER_TIME":
		return bson.Timestamp{T: uint32(c.now.Unix()), I: 1}, true
	}
	return nil, false
}

// NewExpr compiles an aggregation expression: a field path ("$a.b"), a
// variable ("$$ROOT.a"), an operator document ({$add: [...]}), a document or
// array of expressions, or a literal value.
func NewExpr(v any) (*Expr, error) {
	n, err := xCompile(v)
	if err != nil {
		return nil, err
	}
	return &Expr{n: n}, nil
}

// Eval evaluates the expression against root ($$ROOT and $$CURRENT) with the
// given variables (names without "$$"; NOW and CLUSTER_TIME may be set here,
// otherwise the current time is used). A missing result is returned as nil.
func (e *Expr) Eval(root bson.D, vars map[string]any) (any, error) {
	return e.EvalCollation(root, vars, nil)
}

// EvalCollation is Eval with comparisons ($eq, $lt, $in, set operators...)
// of strings under coll (nil: simple).
func (e *Expr) EvalCollation(root bson.D, vars map[string]any, coll *Collation) (any, error) {
	v, err := e.n.eval(&xCtx{root: root, vars: vars, now: time.Now(), coll: coll})
	if _, ok := v.(xMissing); ok {
		return nil, err
	}
	return v, err
}

// EvalMissing is Eval that reports a missing result (a missing field,
// $$REMOVE) as ok == false instead of nil.
func (e *Expr) EvalMissing(root bson.D, vars map[string]any) (v any, ok bool, err error) {
	v, err = e.n.eval(&xCtx{root: root, vars: vars, now: time.Now()})
	if _, miss := v.(xMissing); miss {
		return nil, false, err
	}
	return v, err == nil, err
}

func xIsMissing(v any) bool {
	_, ok := v.(xMissing)
	return ok
}

// xNullish is true for null, undefined and missing.
func xNullish(v any) bool {
	return xIsMissing(v) || IsNullish(v)
}

type xConst struct{ v any }

func (n xConst) eval(*xCtx) (any, error) { return n.v, nil }

// xFieldPath reads a path below a variable (CURRENT for "$a.b").
type xFieldPath struct {
	variable string
	segs     []string
}

func (n *xFieldPath) eval(c *xCtx) (any, error) {
	v, ok := c.lookup(n.variable)
	if !ok {
		return nil, Errorf(17276, "Location17276", "Use of undefined variable: %s", n.variable)
	}
	return xTraverse(v, n.segs), nil
}

// xTraverse follows a field path the way aggregation does: through
// documents, and through arrays by mapping over their elements (numeric
// segments are field names, not indexes).
func xTraverse(v any, segs []string) any {
	if len(segs) == 0 {
		return v
	}
	switch x := v.(type) {
	case bson.D:
		f, ok := uGetField(x, segs[0])
		if !ok {
			return xMissing{}
		}
		return xTraverse(f, segs[1:])
	case bson.A:
		out := make(bson.A, 0, len(x))
		for _, e := range x {
			switch e.(type) {
			case bson.D, bson.A:
				r := xTraverse(e, segs)
				if !xIsMissing(r) {
					out = append(out, r)
				}
			}
		}
		return out
	case bson.M, map[string]any:
		d, _ := asDoc(x)
		return xTraverse(d, segs)
	}
	return xMissing{}
}

type xObject struct {
	keys  []string
	nodes []xNode
}

func (n *xObject) eval(c *xCtx) (any, error) {
	out := make(bson.D, 0, len(n.keys))
	for i, k := range n.keys {
		v, err := n.nodes[i].eval(c)
		if err != nil {
			return nil, err
		}
		if xIsMissing(v) {
			continue
		}
		out = append(out, bson.E{Key: k, Value: v})
	}
	return out, nil
}

type xArray struct{ nodes []xNode }

func (n *xArray) eval(c *xCtx) (any, error) {
	out := make(bson.A, len(n.nodes))
	for i, e := range n.nodes {
		v, err := e.eval(c)
		if err != nil {
			return nil, err
		}
		if xIsMissing(v) {
			v = nil
		}
		out[i] = v
	}
	return out, nil
}

func xCompile(v any) (xNode, error) {
	switch x := v.(type) {
	case string:
		if strings.HasPrefix(x, "$") {
			return xCompilePath(x)
		}
		return xConst{x}, nil
	case bson.D:
		if len(x) > 0 && strings.HasPrefix(x[0].Key, "$") {
			if len(x) != 1 {
				return nil, Errorf(15983, "Location15983",
					"an expression specification must contain exactly one field, the name of the expression. Found %d fields in %s", len(x), uShort(x))
			}
			return xCompileOp(x[0].Key, x[0].Value)
		}
		obj := &xObject{}
		for _, e := range x {
			if err := xCheckFieldName(e.Key); err != nil {
				return nil, err
			}
			n, err := xCompile(e.Value)
			if err != nil {
				return nil, err
			}
			obj.keys = append(obj.keys, e.Key)
			obj.nodes = append(obj.nodes, n)
		}
		return obj, nil
	case bson.M, map[string]any:
		d, _ := asDoc(x)
		return xCompile(d)
	case bson.A:
		arr := &xArray{}
		for _, e := range x {
			n, err := xCompile(e)
			if err != nil {
				return nil, err
			}
			arr.nodes = append(arr.nodes, n)
		}
		return arr, nil
	case []any:
		return xCompile(bson.A(x))
	}
	return xConst{xNormalizeNumber(v)}, nil
}

func xCheckFieldName(k string) error {
	if k == "" {
		return Errorf(16410, "Location16410", "FieldPath cannot be constructed with empty string")
	}
	if strings.HasPrefix(k, "$") {
		return Errorf(16410, "Location16410", "FieldPath field names may not start with '$'. Consider using $getField or $setField.")
	}
	if strings.Contains(k, ".") {
		return Errorf(16412, "Location16412", "FieldPath field names may not contain '.'. Consider using $getField or $setField.")
	}
	return nil
}

func xCompilePath(s string) (xNode, error) {
	if s == "$" {
		return nil, Errorf(16872, "Location16872", "'$' by itself is not a valid FieldPath")
	}
	variable := "CURRENT"
	rest := s[1:]
	if strings.HasPrefix(s, "$$") {
		name, tail, _ := strings.Cut(s[2:], ".")
		if name == "" {
			return nil, Errorf(16869, "Location16869", "empty variable names are not allowed")
		}
		variable = name
		if tail == "" {
			return &xFieldPath{variable: variable}, nil
		}
		rest = tail
	}
	segs := strings.Split(rest, ".")
	for _, sg := range segs {
		if sg == "" {
			return nil, Errorf(15998, "Location15998", "FieldPath field names may not be empty strings.")
		}
		if strings.HasPrefix(sg, "$") {
			return nil, Errorf(16410, "Location16410", "FieldPath field names may not start with '$'. Consider using $getField or $setField.")
		}
	}
	return &xFieldPath{variable: variable, segs: segs}, nil
}

// xCmp is the aggregation comparison under coll: missing sorts below
// everything.
func xCmp(a, b any, coll *Collation) int {
	am, bm := xIsMissing(a), xIsMissing(b)
	switch {
	case am && bm:
		return 0
	case am:
		return -1
	case bm:
		return 1
	}
	return compareColl(a, b, coll)
}
