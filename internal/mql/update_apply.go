package mql

import (
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// uApplier applies the operators of one Update to one document copy and
// records which concrete paths changed.
type uApplier struct {
	u       *Update
	ctx     ApplyContext
	doc     bson.D // the original, for error messages
	updated []uRec
	removed []string
	leaves  []string
}

// uMaxPadding is the server's cap on the nulls added to an array when a
// path sets an index past its end.
const uMaxPadding = 1500000

// uRec records a changed path; created says the field did not exist
// before (an insert in the server's diff, as opposed to an update).
type uRec struct {
	path    string
	created bool
}

// uLeaf is the outcome of one operator on one field.
type uLeaf struct {
	val     any
	exists  bool
	changed bool
	// appendFrom >= 0 says the change only appended elements from that index
	// on, so the description names the new elements rather than the array.
	appendFrom int
}

func uNoChange(cur any, exists bool) uLeaf {
	return uLeaf{val: cur, exists: exists, appendFrom: -1}
}

func uSetTo(cur any, exists bool, v any) uLeaf {
	if exists && uIdentical(cur, v) {
		return uNoChange(cur, exists)
	}
	return uLeaf{val: v, exists: true, changed: true, appendFrom: -1}
}

// uCreates reports whether an operator creates a missing field (and its
// missing parents) rather than doing nothing.
func uCreates(op string) bool {
	switch op {
	case "$unset", "$pull", "$pullAll", "$pop":
		return false
	}
	return true
}

func (u *Update) applyOperators(doc bson.D, ctx ApplyContext) (bson.D, *UpdateDescription, error) {
	a := &uApplier{u: u, ctx: ctx, doc: doc}
	out := uCloneD(doc)
	if out == nil {
		out = bson.D{}
	}
	oldID, hadID := uGetField(doc, "_id")
	var cur any = out
	for _, m := range u.mods {
		if m.op == "$setOnInsert" && !ctx.Insert {
			continue
		}
		var err error
		if m.op == "$rename" {
			cur, err = a.rename(cur.(bson.D), m)
			if err != nil {
				return nil, nil, err
			}
			continue
		}
		segs := m.segs
		for i, s := range segs {
			if s == "$" {
				if !ctx.HasPositional || ctx.Insert {
					return nil, nil, uBadValue("The positional operator did not find the match needed from the query.")
				}
				segs = slices.Clone(segs)
				segs[i] = strconv.Itoa(ctx.PositionalIndex)
			}
		}
		cur, _, err = a.walk(m, cur, true, segs, 0, nil, false)
		if err != nil {
			return nil, nil, err
		}
	}
	out = cur.(bson.D)
	if u.hasArrayOps {
		if err := a.checkDynamicConflicts(); err != nil {
			return nil, nil, err
		}
	}
	newID, hasID := uGetField(out, "_id")
	if hasID {
		if _, isArr := newID.(bson.A); isArr {
			return nil, nil, Errorf(53, "InvalidIdField", "The '_id' value cannot be of type array")
		}
	}
	if hadID && !ctx.Insert && (!hasID || !Equal(oldID, newID)) {
		return nil, nil, Errorf(CodeImmutableField, "ImmutableField",
			"Performing an update on the path '_id' would modify the immutable field '_id'")
	}
	if hasID && (len(out) == 0 || out[0].Key != "_id") {
		out = uIDFirst(out, newID)
	}
	return out, a.describe(out), nil
}

func (a *uApplier) checkDynamicConflicts() error {
	ps := slices.Clone(a.leaves)
	slices.Sort(ps)
	for i := 1; i < len(ps); i++ {
		if ps[i] == ps[i-1] || strings.HasPrefix(ps[i], ps[i-1]+".") {
			return Errorf(CodeConflictingUpdateOps, "ConflictingUpdateOperators", "Update created a conflict at '%s'", ps[i-1])
		}
	}
	return nil
}

func uJoin(path []string, seg string) []string {
	out := make([]string, len(path)+1)
	copy(out, path)
	out[len(path)] = seg
	return out
}

// walk applies m at segs[i:] below cur (the value at path, which exists or
// not) and returns cur's new value. parentArr is true when cur is an array
// element: unsetting it then stores null, as the server does.
func (a *uApplier) walk(m *uMod, cur any, exists bool, segs []string, i int, path []string, parentArr bool) (any, bool, error) {
	if i == len(segs) {
		res, err := a.leaf(m, cur, exists, path)
		if err != nil {
			return nil, false, err
		}
		if !res.changed {
			return res.val, res.exists, nil
		}
		p := strings.Join(path, ".")
		a.leaves = append(a.leaves, p)
		switch {
		case !res.exists && parentArr:
			a.updated = append(a.updated, uRec{path: p})
			return nil, true, nil
		case !res.exists:
			a.removed = append(a.removed, p)
		case res.appendFrom >= 0:
			arr := res.val.(bson.A)
			for j := res.appendFrom; j < len(arr); j++ {
				a.updated = append(a.updated, uRec{path: p + "." + strconv.Itoa(j)})
			}
		default:
			a.updated = append(a.updated, uRec{path: p, created: !exists})
		}
		return res.val, res.exists, nil
	}
	seg := segs[i]
	creates := uCreates(m.op)
	arrayOp := strings.HasPrefix(seg, "$[")
	switch c := cur.(type) {
	case bson.D:
		if arrayOp {
			return nil, false, uBadValue("Cannot apply array updates to non-array element %s: %s", seg, uShort(c))
		}
		k := slices.IndexFunc(c, func(e bson.E) bool { return e.Key == seg })
		var child any
		if k >= 0 {
			child = c[k].Value
		}
		childPath := uJoin(path, seg)
		nv, nexists, err := a.walk(m, child, k >= 0, segs, i+1, childPath, false)
		if err != nil {
			return nil, false, err
		}
		switch {
		case k >= 0 && nexists:
			c[k].Value = nv
		case k >= 0:
			c = slices.Delete(c, k, k+1)
		case nexists:
			c = append(c, bson.E{Key: seg, Value: nv})
			a.updated = append(a.updated, uRec{path: strings.Join(childPath, "."), created: true})
		}
		return c, true, nil
	case bson.A:
		var idxs []int
		switch {
		case seg == "$[]":
			for j := range c {
				idxs = append(idxs, j)
			}
		case arrayOp:
			id := seg[2 : len(seg)-1]
			f := a.u.filters[id]
			for j, e := range c {
				if f.Match(bson.D{{Key: id, Value: e}}) {
					idxs = append(idxs, j)
				}
			}
		default:
			n, err := strconv.Atoi(seg)
			if err != nil || n < 0 || (len(seg) > 1 && seg[0] == '0') {
				if !creates {
					return c, true, nil
				}
				return nil, false, Errorf(28, "PathNotViable", "Cannot create field '%s' in element {%s: %s}",
					seg, strings.Join(path, "."), uShort(c))
			}
			idxs = []int{n}
		}
		for _, j := range idxs {
			childPath := uJoin(path, strconv.Itoa(j))
			if j < len(c) {
				nv, nexists, err := a.walk(m, c[j], true, segs, i+1, childPath, true)
				if err != nil {
					return nil, false, err
				}
				if nexists {
					c[j] = nv
				}
				continue
			}
			if !creates {
				continue
			}
			if j-len(c) > uMaxPadding {
				return nil, false, Errorf(34, "CannotBackfillArray", "can't backfill more than %d elements", uMaxPadding)
			}
			nv, nexists, err := a.walk(m, nil, false, segs, i+1, childPath, true)
			if err != nil {
				return nil, false, err
			}
			if nexists {
				for len(c) <= j {
					c = append(c, nil)
				}
				c[j] = nv
				a.updated = append(a.updated, uRec{path: strings.Join(childPath, "."), created: true})
			}
		}
		return c, true, nil
	}
	if !exists {
		if !creates {
			return nil, false, nil
		}
		if seg == "$" || arrayOp {
			return nil, false, uBadValue("The path '%s' must exist in the document in order to apply array updates.", strings.Join(path, "."))
		}
		nv, nexists, err := a.walk(m, bson.D{}, true, segs, i, path, parentArr)
		return nv, nexists, err
	}
	if !creates {
		return cur, true, nil
	}
	if arrayOp {
		return nil, false, uBadValue("Cannot apply array updates to non-array element %s: %s", strings.Join(path, "."), uShort(cur))
	}
	return nil, false, Errorf(28, "PathNotViable", "Cannot create field '%s' in element {%s: %s}",
		seg, path[len(path)-1], uShort(cur))
}

func (a *uApplier) idString() string {
	if id, ok := uGetField(a.doc, "_id"); ok {
		return "{_id: " + uShort(id) + "}"
	}
	return "{}"
}

func (a *uApplier) leaf(m *uMod, cur any, exists bool, path []string) (uLeaf, error) {
	field := strings.Join(path, ".")
	switch m.op {
	case "$set", "$setOnInsert":
		return uSetTo(cur, exists, uClone(m.arg)), nil
	case "$unset":
		if !exists {
			return uNoChange(cur, exists), nil
		}
		return uLeaf{changed: true, appendFrom: -1}, nil
	case "$inc", "$mul":
		if !exists {
			if m.op == "$inc" {
				return uSetTo(cur, exists, m.arg), nil
			}
			zero, _ := xArith(xOpMul, m.arg, int32(0), false)
			return uSetTo(cur, exists, zero), nil
		}
		if !IsNumber(cur) {
			return uLeaf{}, Errorf(CodeTypeMismatch, "TypeMismatch",
				"Cannot apply %s to a value of non-numeric type. %s has the field '%s' of non-numeric type %s",
				m.op, a.idString(), path[len(path)-1], uTypeName(cur))
		}
		op := xOpAdd
		if m.op == "$mul" {
			op = xOpMul
		}
		r, err := xArith(op, cur, m.arg, true)
		if err != nil {
			verb := "$inc"
			if m.op == "$mul" {
				verb = "$mul"
			}
			return uLeaf{}, uBadValue("Failed to apply %s operations to current value (%s) for document %s", verb, uShort(cur), a.idString())
		}
		return uSetTo(cur, exists, r), nil
	case "$bit":
		return a.bit(m, cur, exists, path)
	case "$min", "$max":
		if !exists {
			return uSetTo(cur, exists, uClone(m.arg)), nil
		}
		c := Compare(m.arg, cur)
		if (m.op == "$min" && c < 0) || (m.op == "$max" && c > 0) {
			return uSetTo(cur, exists, uClone(m.arg)), nil
		}
		return uNoChange(cur, exists), nil
	case "$currentDate":
		if m.timestamp {
			return uSetTo(cur, exists, a.ctx.clusterTime()), nil
		}
		return uSetTo(cur, exists, bson.NewDateTimeFromTime(a.ctx.now())), nil
	case "$push":
		return a.push(m, cur, exists, field)
	case "$addToSet":
		return a.addToSet(m, cur, exists, field)
	case "$pull", "$pullAll":
		if !exists {
			return uNoChange(cur, exists), nil
		}
		arr, ok := cur.(bson.A)
		if !ok {
			return uLeaf{}, uBadValue("Cannot apply %s to a non-array value", m.op)
		}
		out := make(bson.A, 0, len(arr))
		for _, e := range arr {
			if !m.pulls(e) {
				out = append(out, e)
			}
		}
		if len(out) == len(arr) {
			return uNoChange(cur, exists), nil
		}
		return uLeaf{val: out, exists: true, changed: true, appendFrom: -1}, nil
	case "$pop":
		if !exists {
			return uNoChange(cur, exists), nil
		}
		arr, ok := cur.(bson.A)
		if !ok {
			return uLeaf{}, Errorf(CodeTypeMismatch, "TypeMismatch", "Path '%s' contains an element of non-array type '%s'", field, uTypeName(cur))
		}
		if len(arr) == 0 {
			return uNoChange(cur, exists), nil
		}
		f, _ := ToFloat(m.arg)
		var out bson.A
		if f < 0 {
			out = slices.Clone(arr[1:])
		} else {
			out = slices.Clone(arr[:len(arr)-1])
		}
		return uLeaf{val: out, exists: true, changed: true, appendFrom: -1}, nil
	}
	return uLeaf{}, uFailedToParse("Unknown modifier: %s", m.op)
}

// pulls reports whether $pull/$pullAll removes element e.
func (m *uMod) pulls(e any) bool {
	if m.op == "$pullAll" {
		arr, _ := asArray(m.arg)
		for _, v := range arr {
			if Equal(e, v) {
				return true
			}
		}
		return false
	}
	switch {
	case m.pullWrapped:
		return m.pullMatcher.Match(bson.D{{Key: "x", Value: e}})
	case m.pullDocOnly:
		d, ok := e.(bson.D)
		return ok && m.pullMatcher.Match(d)
	}
	return Equal(e, m.arg)
}

func (a *uApplier) push(m *uMod, cur any, exists bool, field string) (uLeaf, error) {
	var old bson.A
	if exists {
		arr, ok := cur.(bson.A)
		if !ok {
			return uLeaf{}, uBadValue("The field '%s' must be an array but is of type %s in document %s", field, uTypeName(cur), a.idString())
		}
		old = arr
	}
	pos := int64(len(old))
	if m.position != nil {
		pos = *m.position
		if pos < 0 {
			pos = max(int64(len(old))+pos, 0)
		}
		pos = min(pos, int64(len(old)))
	}
	each := uClone(m.each).(bson.A)
	out := make(bson.A, 0, len(old)+len(each))
	out = append(out, old[:pos]...)
	out = append(out, each...)
	out = append(out, old[pos:]...)
	// The server logs only the appended elements when nothing but an append
	// at the end happened: no explicit $position (an explicit one equal to
	// the length counts as an insert), no $sort, nothing sliced off, and a
	// non-empty array to start from.
	appendOnly := exists && len(old) > 0 && len(each) > 0 && (m.position == nil || *m.position > int64(len(old))) &&
		m.sortDir == 0 && m.sortSpec == nil
	if m.sortDir != 0 {
		slices.SortStableFunc(out, func(x, y any) int { return m.sortDir * Compare(x, y) })
	} else if m.sortSpec != nil {
		slices.SortStableFunc(out, func(x, y any) int {
			dx, _ := x.(bson.D)
			dy, _ := y.(bson.D)
			return m.sortSpec.Compare(dx, dy)
		})
	}
	if m.slice != nil {
		n := *m.slice
		switch {
		case n >= 0 && n < int64(len(out)):
			out = out[:n]
			appendOnly = appendOnly && n >= int64(len(old)+len(each))
		case n < 0 && n > -int64(len(out)):
			out = out[int64(len(out))+n:]
			appendOnly = false
		}
	}
	if !exists {
		return uLeaf{val: out, exists: true, changed: true, appendFrom: -1}, nil
	}
	if uIdentical(old, out) {
		return uNoChange(cur, exists), nil
	}
	res := uLeaf{val: out, exists: true, changed: true, appendFrom: -1}
	if appendOnly && len(out) > len(old) {
		res.appendFrom = len(old)
	}
	return res, nil
}

func (a *uApplier) addToSet(m *uMod, cur any, exists bool, field string) (uLeaf, error) {
	var old bson.A
	if exists {
		arr, ok := cur.(bson.A)
		if !ok {
			return uLeaf{}, uBadValue("Cannot apply $addToSet to non-array field. Field named '%s' has non-array type %s", field, uTypeName(cur))
		}
		old = arr
	}
	out := slices.Clone(old)
	if out == nil {
		out = bson.A{}
	}
	added := false
	for _, e := range m.each {
		if slices.ContainsFunc(out, func(x any) bool { return Equal(x, e) }) {
			continue
		}
		out = append(out, uClone(e))
		added = true
	}
	if exists && !added {
		return uNoChange(cur, exists), nil
	}
	return uLeaf{val: out, exists: true, changed: true, appendFrom: -1}, nil
}

// rename moves the value at m.segs to m.toSegs. Neither path may go through
// an array, as on the server.
func (a *uApplier) rename(doc bson.D, m *uMod) (bson.D, error) {
	v, ok, err := uGetNoArrays(doc, m.segs, "source")
	if err != nil || !ok {
		return doc, err
	}
	if _, _, err := uGetNoArrays(doc, m.toSegs, "destination"); err != nil {
		return doc, err
	}
	unset := &uMod{op: "$unset", segs: m.segs, path: m.path}
	cur, _, err := a.walk(unset, doc, true, m.segs, 0, nil, false)
	if err != nil {
		return nil, err
	}
	set := &uMod{op: "$set", segs: m.toSegs, path: m.toPath, arg: v}
	cur, _, err = a.walk(set, cur, true, m.toSegs, 0, nil, false)
	if err != nil {
		return nil, err
	}
	return cur.(bson.D), nil
}

// uGetNoArrays looks up a path without array traversal and errors when an
// array is met before the last segment.
func uGetNoArrays(doc bson.D, segs []string, which string) (any, bool, error) {
	var cur any = doc
	for i, s := range segs {
		switch c := cur.(type) {
		case bson.D:
			v, ok := uGetField(c, s)
			if !ok {
				return nil, false, nil
			}
			cur = v
		case bson.A:
			return nil, false, uBadValue("The %s field cannot be an array element, '%s' in doc with %s being an array",
				which, strings.Join(segs, "."), strings.Join(segs[:i], "."))
		default:
			return nil, false, nil
		}
	}
	return cur, true, nil
}

// uGetConcrete looks up a concrete path: numeric segments index arrays.
func uGetConcrete(v any, path string) (any, bool) {
	for s := range strings.SplitSeq(path, ".") {
		switch c := v.(type) {
		case bson.D:
			x, ok := uGetField(c, s)
			if !ok {
				return nil, false
			}
			v = x
		case bson.A:
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n >= len(c) {
				return nil, false
			}
			v = c[n]
		default:
			return nil, false
		}
	}
	return v, true
}

// describe turns the recorded paths into an UpdateDescription: a path
// covered by an updated ancestor is dropped, values come from the result.
func (a *uApplier) describe(out bson.D) *UpdateDescription {
	desc := &UpdateDescription{}
	covered := func(p string, set []string, strict bool) bool {
		for _, q := range set {
			if (!strict && q == p) || strings.HasPrefix(p, q+".") {
				return true
			}
		}
		return false
	}
	var upd []string
	createdOf := map[string]bool{}
	for _, r := range a.updated {
		if !slices.Contains(upd, r.path) {
			upd = append(upd, r.path)
			createdOf[r.path] = r.created
		}
	}
	var created []bool
	for _, p := range upd {
		if covered(p, upd, true) {
			continue
		}
		v, ok := uGetConcrete(out, p)
		if !ok {
			continue
		}
		desc.UpdatedFields = append(desc.UpdatedFields, Field{Path: p, Value: v})
		created = append(created, createdOf[p])
	}
	desc.UpdatedFields = uOrderFields(out, desc.UpdatedFields, created)
	for _, p := range a.removed {
		if covered(p, upd, false) || covered(p, a.removed, true) || slices.Contains(desc.RemovedFields, p) {
			continue
		}
		desc.RemovedFields = append(desc.RemovedFields, p)
	}
	return desc
}
