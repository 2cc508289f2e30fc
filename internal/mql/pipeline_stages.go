package mql

import (
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

type agMatch struct{ m *Matcher }

func agCompileMatch(spec any, vars map[string]any, coll *Collation) (agStage, error) {
	d, ok := asDoc(spec)
	if !ok {
		return nil, Errorf(15959, "Location15959", "the match filter must be an expression in an object")
	}
	if len(vars) > 0 {
		d = agBindExprVars(d, vars).(bson.D)
	}
	m, err := NewMatcherCollation(d, coll)
	if err != nil {
		return nil, err
	}
	return &agMatch{m: m}, nil
}

func (s *agMatch) all(docs []bson.D, c *xCtx) ([]bson.D, error) { return agOneAll(s, docs, c) }

func (s *agMatch) one(doc bson.D, _ *xCtx) (bson.D, bool, error) {
	ok, err := s.m.MatchErr(doc)
	return doc, ok, err
}

type agSort struct {
	s *Sort
	// keep is how many documents a following $limit keeps (0: all), so
	// that only they count against the memory limit.
	keep int64
}

func agCompileSort(spec any, coll *Collation) (agStage, error) {
	d, ok := asDoc(spec)
	if !ok {
		return nil, Errorf(15973, "Location15973", "the $sort key specification must be an object")
	}
	if len(d) == 0 {
		return nil, Errorf(15976, "Location15976", "$sort stage must have at least one sort key")
	}
	s, err := NewSortCollation(d, coll)
	if err != nil {
		return nil, err
	}
	return &agSort{s: s}, nil
}

func (s *agSort) all(docs []bson.D, c *xCtx) ([]bson.D, error) {
	if c.mem != nil {
		return s.allLimited(docs, c.mem)
	}
	out := slices.Clone(docs)
	slices.SortStableFunc(out, s.s.Compare)
	return out, nil
}

type agSkipLimit struct {
	limit bool
	n     int64
}

func agCompileSkipLimit(name string, spec any) (agStage, error) {
	n, ok := ToInt64(spec)
	if !ok || !IsIntegral(spec) {
		if name == "$skip" {
			return nil, Errorf(15972, "Location15972", "Argument to $skip must be a number not a %s", uTypeName(spec))
		}
		return nil, Errorf(15957, "Location15957", "the limit must be specified as a number")
	}
	if name == "$skip" && n < 0 {
		return nil, Errorf(5107200, "Location5107200", "invalid argument to $skip stage: Expected a non-negative number in: $skip: %d", n)
	}
	if name == "$limit" && n <= 0 {
		return nil, Errorf(15958, "Location15958", "the limit must be positive")
	}
	return &agSkipLimit{limit: name == "$limit", n: n}, nil
}

func (s *agSkipLimit) all(docs []bson.D, _ *xCtx) ([]bson.D, error) {
	n := min(s.n, int64(len(docs)))
	if s.limit {
		return docs[:n], nil
	}
	return docs[n:], nil
}

type agReplaceRoot struct {
	e     *Expr
	stage string
}

func agCompileReplaceRoot(name string, spec any) (agStage, error) {
	expr := spec
	if name == "$replaceRoot" {
		d, ok := asDoc(spec)
		if !ok {
			return nil, Errorf(40228, "Location40228", "$replaceRoot expects an object, got %s", uTypeName(spec))
		}
		nr, has := uGetField(d, "newRoot")
		if !has || len(d) != 1 {
			return nil, Errorf(40231, "Location40231", "no newRoot specified for the $replaceRoot stage")
		}
		expr = nr
	}
	e, err := NewExpr(expr)
	if err != nil {
		return nil, err
	}
	return &agReplaceRoot{e: e, stage: name}, nil
}

func (s *agReplaceRoot) all(docs []bson.D, c *xCtx) ([]bson.D, error) { return agOneAll(s, docs, c) }

func (s *agReplaceRoot) one(doc bson.D, c *xCtx) (bson.D, bool, error) {
	v, err := s.e.n.eval(c.forDoc(doc))
	if err != nil {
		return nil, false, err
	}
	d, ok := asDoc(v)
	if !ok {
		return nil, false, Errorf(40228, "Location40228",
			"'newRoot' expression must evaluate to an object, but resulting value was: %s. Type of resulting value: '%s'. Input document: %s",
			uShort(v), uTypeName(v), uShort(doc))
	}
	return d, true, nil
}

type agGroupAcc struct {
	field string
	op    string
	e     *Expr
}

type agGroup struct {
	id   *Expr
	accs []agGroupAcc
}

func agCompileGroup(spec any) (agStage, error) {
	d, ok := asDoc(spec)
	if !ok {
		return nil, Errorf(15947, "Location15947", "a group's fields must be specified in an object")
	}
	g := &agGroup{}
	for _, e := range d {
		if e.Key == "_id" {
			id, err := NewExpr(e.Value)
			if err != nil {
				return nil, err
			}
			g.id = id
			continue
		}
		if strings.Contains(e.Key, ".") {
			return nil, Errorf(40235, "Location40235", "The field name '%s' cannot contain '.'", e.Key)
		}
		if strings.HasPrefix(e.Key, "$") {
			return nil, Errorf(40236, "Location40236", "The field name '%s' cannot be an operator name", e.Key)
		}
		ad, ok := asDoc(e.Value)
		if !ok {
			return nil, Errorf(40234, "Location40234", "The field '%s' must be an accumulator object", e.Key)
		}
		if len(ad) != 1 {
			return nil, Errorf(40238, "Location40238", "The field '%s' must specify one accumulator", e.Key)
		}
		op := ad[0].Key
		if !agKnownAccumulator(op) {
			return nil, Errorf(15952, "Location15952", "unknown group operator '%s'", op)
		}
		arg := ad[0].Value
		if op == "$count" {
			if ed, ok := asDoc(arg); !ok || len(ed) != 0 {
				return nil, Errorf(CodeTypeMismatch, "TypeMismatch", "$count takes no arguments, i.e. $count:{}")
			}
			arg = nil
		}
		if _, isArr := asArray(arg); isArr && op != "$count" {
			return nil, Errorf(40237, "Location40237", "The %s accumulator is a unary operator", op)
		}
		ex, err := NewExpr(arg)
		if err != nil {
			return nil, err
		}
		g.accs = append(g.accs, agGroupAcc{field: e.Key, op: op, e: ex})
	}
	if g.id == nil {
		return nil, Errorf(15955, "Location15955", "a group specification must include an _id")
	}
	return g, nil
}

func (g *agGroup) all(docs []bson.D, c *xCtx) ([]bson.D, error) {
	type group struct {
		id   any
		accs []accState
	}
	index := map[string]*group{}
	var order []*group
	mem := newGroupMem(c)
	for _, doc := range docs {
		dc := c.forDoc(doc)
		id, err := g.id.n.eval(dc)
		if err != nil {
			return nil, err
		}
		if xIsMissing(id) {
			id = nil
		}
		k := xKey(id, c.coll)
		grp := index[k]
		if grp == nil {
			grp = &group{id: id}
			for _, a := range g.accs {
				grp.accs = append(grp.accs, newAccumulatorState(a.op, c.coll))
			}
			index[k] = grp
			order = append(order, grp)
			if err := mem.newGroup(id, len(g.accs)); err != nil {
				return nil, err
			}
		}
		for i, a := range g.accs {
			v, err := a.e.n.eval(dc)
			if err != nil {
				return nil, err
			}
			if n, ok := grp.accs[i].(accNState); ok {
				if err := n.addN(v); err != nil {
					return nil, err
				}
				continue
			}
			if err := mem.add(grp.accs[i], v); err != nil {
				return nil, err
			}
		}
		if mem.spilling() {
			return g.spillGroup(docs, c)
		}
	}
	out := make([]bson.D, 0, len(order))
	for _, grp := range order {
		d := make(bson.D, 0, len(g.accs)+1)
		d = append(d, bson.E{Key: "_id", Value: grp.id})
		for i, a := range g.accs {
			d = append(d, bson.E{Key: a.field, Value: grp.accs[i].result()})
		}
		out = append(out, d)
	}
	return out, nil
}

type agCount struct{ field string }

func agCompileCount(spec any) (agStage, error) {
	s, ok := spec.(string)
	switch {
	case !ok:
		return nil, Errorf(40156, "Location40156", "the count field must be a non-empty string")
	case s == "":
		return nil, Errorf(40157, "Location40157", "the count field must be a non-empty string")
	case strings.HasPrefix(s, "$"):
		return nil, Errorf(40158, "Location40158", "the count field cannot be a $-prefixed path")
	case strings.Contains(s, "."):
		return nil, Errorf(40160, "Location40160", "the count field cannot contain '.'")
	}
	return &agCount{field: s}, nil
}

func (s *agCount) all(docs []bson.D, _ *xCtx) ([]bson.D, error) {
	if len(docs) == 0 {
		return nil, nil
	}
	var n any = int32(len(docs))
	if int64(len(docs)) > 1<<31-1 {
		n = int64(len(docs))
	}
	return []bson.D{{{Key: s.field, Value: n}}}, nil
}

type agUnwind struct {
	segs         []string
	indexField   string
	preserveNull bool
}

func agCompileUnwind(spec any) (agStage, error) {
	u := &agUnwind{}
	path, isStr := spec.(string)
	if !isStr {
		d, ok := asDoc(spec)
		if !ok {
			return nil, Errorf(15981, "Location15981", "expected either a string or an object as specification for $unwind stage, got %s", uTypeName(spec))
		}
		for _, e := range d {
			switch e.Key {
			case "path":
				s, ok := e.Value.(string)
				if !ok {
					return nil, Errorf(28808, "Location28808", "expected a string as the path for $unwind stage, got %s", uTypeName(e.Value))
				}
				path = s
			case "includeArrayIndex":
				s, ok := e.Value.(string)
				if !ok || s == "" || strings.HasPrefix(s, "$") {
					return nil, Errorf(28810, "Location28810", "expected a non-empty string for the includeArrayIndex option to $unwind stage")
				}
				u.indexField = s
			case "preserveNullAndEmptyArrays":
				b, ok := e.Value.(bool)
				if !ok {
					return nil, Errorf(28809, "Location28809", "expected a boolean for the preserveNullAndEmptyArrays option to $unwind stage")
				}
				u.preserveNull = b
			default:
				return nil, Errorf(28811, "Location28811", "unrecognized option to $unwind stage: %s", e.Key)
			}
		}
		if path == "" {
			return nil, Errorf(28812, "Location28812", "no path specified to $unwind stage")
		}
	}
	if !strings.HasPrefix(path, "$") || len(path) < 2 {
		return nil, Errorf(28818, "Location28818", "path option to $unwind stage should be prefixed with a '$': %s", path)
	}
	segs, err := agSplitField("$unwind", path[1:])
	if err != nil {
		return nil, err
	}
	u.segs = segs
	return u, nil
}

// agSetPath returns a copy of doc with the value at a dotted path (through
// documents only) replaced.
func agSetPath(doc bson.D, segs []string, v any) bson.D {
	out := slices.Clone(doc)
	for i := range out {
		if out[i].Key == segs[0] {
			if len(segs) == 1 {
				out[i].Value = v
			} else {
				sub, _ := out[i].Value.(bson.D)
				out[i].Value = agSetPath(sub, segs[1:], v)
			}
			return out
		}
	}
	if len(segs) == 1 {
		return append(out, bson.E{Key: segs[0], Value: v})
	}
	return append(out, bson.E{Key: segs[0], Value: agSetPath(nil, segs[1:], v)})
}

func (u *agUnwind) all(docs []bson.D, c *xCtx) ([]bson.D, error) {
	var out []bson.D
	for _, doc := range docs {
		v := uLookupDocs(doc, u.segs)
		withIndex := func(d bson.D, idx any) bson.D {
			if u.indexField == "" {
				return d
			}
			return agSetPath(d, strings.Split(u.indexField, "."), idx)
		}
		arr, isArr := v.(bson.A)
		switch {
		case isArr && len(arr) > 0:
			if err := unwindCharge(c, doc, arr); err != nil {
				return nil, err
			}
			for i, e := range arr {
				out = append(out, withIndex(agSetPath(doc, u.segs, e), int64(i)))
			}
		case isArr || xNullish(v):
			if u.preserveNull {
				out = append(out, withIndex(doc, nil))
			}
		default:
			out = append(out, withIndex(doc, nil))
		}
	}
	return out, nil
}

// uLookupDocs follows a path through documents only; missing otherwise.
func uLookupDocs(doc bson.D, segs []string) any {
	var cur any = doc
	for _, s := range segs {
		d, ok := cur.(bson.D)
		if !ok {
			return xMissing{}
		}
		v, has := uGetField(d, s)
		if !has {
			return xMissing{}
		}
		cur = v
	}
	return cur
}

func agCompileSortByCount(spec any, coll *Collation) (agStage, error) {
	s, isStr := spec.(string)
	_, isDoc := asDoc(spec)
	if !(isStr && strings.HasPrefix(s, "$")) && !isDoc {
		return nil, Errorf(40148, "Location40148", "the sortByCount field must be defined as a $-prefixed path or an expression")
	}
	if isDoc {
		d, _ := asDoc(spec)
		if len(d) == 0 || !strings.HasPrefix(d[0].Key, "$") {
			return nil, Errorf(40147, "Location40147", "the sortByCount field must be specified as an expression")
		}
	}
	g, err := agCompileGroup(bson.D{{Key: "_id", Value: spec}, {Key: "count", Value: bson.D{{Key: "$sum", Value: int32(1)}}}})
	if err != nil {
		return nil, err
	}
	srt, err := agCompileSort(bson.D{{Key: "count", Value: int32(-1)}}, coll)
	if err != nil {
		return nil, err
	}
	return &agSeq{stages: []agStage{g, srt}}, nil
}

// agSeq runs several stages as one (desugared stages such as $sortByCount).
type agSeq struct{ stages []agStage }

func (s *agSeq) all(docs []bson.D, c *xCtx) ([]bson.D, error) {
	var err error
	for _, st := range s.stages {
		if docs, err = st.all(docs, c); err != nil {
			return nil, err
		}
	}
	return docs, nil
}

type agFacet struct {
	names []string
	subs  []*agSeq
}

func agCompileFacet(spec any, vars map[string]any, coll *Collation) (agStage, error) {
	d, ok := asDoc(spec)
	if !ok || len(d) == 0 {
		return nil, Errorf(40169, "Location40169", "the $facet specification must be a non-empty object")
	}
	f := &agFacet{}
	for _, e := range d {
		arr, ok := asArray(e.Value)
		if !ok {
			return nil, Errorf(40170, "Location40170", "arguments to $facet must be arrays, %s is type %s", e.Key, uTypeName(e.Value))
		}
		seq := &agSeq{}
		for _, st := range arr {
			sd, ok := asDoc(st)
			if !ok {
				return nil, Errorf(40171, "Location40171", "subpipeline of $facet stage must contain only objects")
			}
			s, err := agCompileStage(sd, true, vars, coll)
			if err != nil {
				return nil, err
			}
			seq.stages = append(seq.stages, s)
		}
		agCoalesceSortLimit(seq.stages)
		f.names = append(f.names, e.Key)
		f.subs = append(f.subs, seq)
	}
	return f, nil
}

func (f *agFacet) all(docs []bson.D, c *xCtx) ([]bson.D, error) {
	out := bson.D{}
	for i, s := range f.subs {
		res, err := s.all(docs, c)
		if err != nil {
			return nil, err
		}
		arr := make(bson.A, len(res))
		for j, r := range res {
			arr[j] = r
		}
		out = append(out, bson.E{Key: f.names[i], Value: arr})
	}
	if err := facetCheck(c, out); err != nil {
		return nil, err
	}
	return []bson.D{out}, nil
}

// agBindExprVars replaces references to the pipeline's variables inside
// the $expr clauses of a $match filter by their values, since the matcher
// evaluates $expr without pipeline variables. Variables are constant for
// the whole pipeline, so the substitution is exact; a name rebound by $let,
// $map, $filter or $reduce inside the expression is left alone.
func agBindExprVars(v any, vars map[string]any) any {
	switch x := v.(type) {
	case bson.D:
		out := make(bson.D, len(x))
		for i, e := range x {
			if e.Key == "$expr" {
				e.Value = agSubstVars(e.Value, vars)
			} else if e.Key == "$and" || e.Key == "$or" || e.Key == "$nor" {
				e.Value = agBindExprVars(e.Value, vars)
			}
			out[i] = e
		}
		return out
	case bson.A:
		out := make(bson.A, len(x))
		for i, e := range x {
			out[i] = agBindExprVars(e, vars)
		}
		return out
	}
	return v
}

func agSubstVars(v any, vars map[string]any) any {
	switch x := v.(type) {
	case string:
		if !strings.HasPrefix(x, "$$") {
			return x
		}
		name, rest, hasPath := strings.Cut(x[2:], ".")
		val, ok := vars[name]
		if !ok {
			return x
		}
		if hasPath {
			val = xTraverse(val, strings.Split(rest, "."))
			if xIsMissing(val) {
				return "$$REMOVE"
			}
		}
		return bson.D{{Key: "$literal", Value: val}}
	case bson.D:
		if len(x) == 1 {
			switch x[0].Key {
			case "$literal":
				return x
			case "$let", "$map", "$filter", "$reduce":
				// Scoped names could shadow pipeline variables: leave the
				// whole operator to run-time lookup.
				return x
			}
		}
		out := make(bson.D, len(x))
		for i, e := range x {
			out[i] = bson.E{Key: e.Key, Value: agSubstVars(e.Value, vars)}
		}
		return out
	case bson.A:
		out := make(bson.A, len(x))
		for i, e := range x {
			out[i] = agSubstVars(e, vars)
		}
		return out
	}
	return v
}
