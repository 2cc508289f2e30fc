package embedded_test

import (
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Random updates for the property test: every update operator, the
// positional forms, and pipeline updates. They are drawn from the document
// they target, so most apply; the ones MongoDB refuses (a $inc of a string,
// a $push to a document, conflicting paths) are kept on purpose: the test
// checks that a refused write changes nothing and yields no event.

// propUpdate is an update with the filter and arrayFilters it needs.
type propUpdate struct {
	update       any // bson.D of operators, or bson.A pipeline
	filter       bson.D
	arrayFilters []any
}

var propOperators = []string{
	"$set", "$set", "$unset", "$inc", "$mul", "$min", "$max", "$rename",
	"$currentDate", "$push", "$push", "$addToSet", "$pop", "$pull", "$pullAll", "$bit",
}

// operatorUpdate returns an update of one to three operators for doc
// (nil when the document does not exist: an upsert).
func (g *propGen) operatorUpdate(id any, doc bson.D, upsert bool) propUpdate {
	u := propUpdate{filter: bson.D{{Key: "_id", Value: id}}}
	paths := propPaths(doc)
	if g.chance(0.3) {
		if p, ok := g.positional(&u, paths); ok {
			return p
		}
	}
	ops := map[string]bson.D{}
	var order []string
	var used pathSet
	for range 1 + g.pick(3) {
		op := propOperators[g.pick(len(propOperators))]
		if upsert && g.chance(0.3) {
			op = "$setOnInsert"
		}
		path, arg, to := g.operatorArg(op, paths)
		if used.conflicts(path) || (to != "" && used.conflicts(to)) {
			continue
		}
		used = append(used, path)
		if to != "" {
			used = append(used, to)
		}
		if _, ok := ops[op]; !ok {
			order = append(order, op)
		}
		ops[op] = append(ops[op], bson.E{Key: path, Value: arg})
	}
	upd := bson.D{}
	for _, op := range order {
		upd = append(upd, bson.E{Key: op, Value: ops[op]})
	}
	if len(upd) == 0 {
		upd = bson.D{{Key: "$set", Value: bson.D{{Key: g.name(), Value: g.value(2)}}}}
	}
	if doc != nil && g.chance(0.02) {
		// _id is immutable (66). Only to an unequal value: embedded lets an
		// operator change _id to an equal number of another type (a $inc
		// by 0.0, a $set of 1.0 over 1), changing the documentKey of the
		// event; whether mongod refuses that is not settled here.
		upd = bson.D{{Key: "$set", Value: bson.D{{Key: "_id", Value: "changed"}}}}
	}
	u.update = upd
	return u
}

// operatorArg returns the path and argument of one operator ($rename also
// its destination).
func (g *propGen) operatorArg(op string, paths []propPath) (path string, arg any, to string) {
	switch op {
	case "$set", "$setOnInsert":
		return g.path(paths), g.value(2), ""
	case "$unset":
		return g.path(paths), "", ""
	case "$inc", "$mul":
		return g.numericPath(paths), g.number(), ""
	case "$min", "$max":
		return g.path(paths), g.scalar(), ""
	case "$rename":
		to = g.name()
		if g.chance(0.3) {
			to = g.path(paths) // may be taken, nested or in an array: all legal to ask
		}
		return g.path(paths), to, to
	case "$currentDate":
		switch g.pick(3) {
		case 0:
			arg = true
		case 1:
			arg = bson.D{{Key: "$type", Value: "timestamp"}}
		default:
			arg = bson.D{{Key: "$type", Value: "date"}}
		}
		return g.path(paths), arg, ""
	case "$push", "$addToSet":
		p, arr := g.arrayPath(paths)
		return p, g.pushArg(op, arr), ""
	case "$pop":
		p, _ := g.arrayPath(paths)
		return p, []int32{1, -1}[g.pick(2)], ""
	case "$pull":
		p, arr := g.arrayPath(paths)
		return p, g.pullArg(arr), ""
	case "$pullAll":
		p, arr := g.arrayPath(paths)
		vals := bson.A{g.scalar()}
		for _, el := range arr {
			if g.chance(0.5) {
				vals = append(vals, el)
			}
		}
		return p, vals, ""
	default: // $bit
		bit := []string{"and", "or", "xor"}[g.pick(3)]
		var v any = int32(g.pick(16))
		if g.chance(0.3) {
			v = int64(g.pick(1 << 20))
		}
		return g.numericPath(paths), bson.D{{Key: bit, Value: v}}, ""
	}
}

func (g *propGen) number() any {
	switch g.pick(6) {
	case 0:
		return int32(g.pick(5) - 2)
	case 1:
		return int64(g.pick(1000))
	case 2:
		return []float64{0.5, -1, 0, 2}[g.pick(4)]
	case 3:
		d, _ := bson.ParseDecimal128("1.25")
		return d
	default:
		return int32(1)
	}
}

func (g *propGen) pushArg(op string, arr bson.A) any {
	if g.chance(0.5) {
		return g.value(1)
	}
	each := bson.A{}
	for range g.pick(4) {
		if len(arr) > 0 && g.chance(0.3) {
			each = append(each, arr[g.pick(len(arr))])
		} else {
			each = append(each, g.value(1))
		}
	}
	mods := bson.D{{Key: "$each", Value: each}}
	if op == "$addToSet" {
		return mods
	}
	if g.chance(0.4) {
		mods = append(mods, bson.E{Key: "$slice", Value: []int32{0, 2, -2, 5}[g.pick(4)]})
	}
	if g.chance(0.4) {
		var sort any = []int32{1, -1}[g.pick(2)]
		if g.chance(0.4) {
			sort = bson.D{{Key: "k", Value: []int32{1, -1}[g.pick(2)]}}
		}
		mods = append(mods, bson.E{Key: "$sort", Value: sort})
	}
	if g.chance(0.3) {
		mods = append(mods, bson.E{Key: "$position", Value: []int32{0, 1, -1, 9}[g.pick(4)]})
	}
	return mods
}

func (g *propGen) pullArg(arr bson.A) any {
	switch g.pick(4) {
	case 0:
		if len(arr) > 0 {
			return arr[g.pick(len(arr))]
		}
		return g.scalar()
	case 1:
		return bson.D{{Key: "$gte", Value: int32(g.pick(5))}}
	case 2:
		return bson.D{{Key: "k", Value: int32(g.pick(4))}}
	default:
		return bson.D{{Key: "$in", Value: bson.A{nil, int32(1), "s"}}}
	}
}

// positional builds an update with $, $[] or $[<id>] on an array of the
// document (false when it has none).
func (g *propGen) positional(u *propUpdate, paths []propPath) (propUpdate, bool) {
	var arrs []propPath
	for _, p := range paths {
		if a, ok := p.value.(bson.A); ok && len(a) > 0 {
			arrs = append(arrs, p)
		}
	}
	if len(arrs) == 0 {
		return propUpdate{}, false
	}
	p := arrs[g.pick(len(arrs))]
	arr := p.value.(bson.A)
	el := arr[g.pick(len(arr))]
	sub := ""
	var cond any = bson.D{{Key: "$exists", Value: true}}
	if d, ok := el.(bson.D); ok && len(d) > 0 {
		sub = "." + d[0].Key
		if matchable(d[0].Value) {
			cond = d[0].Value
		}
	} else if matchable(el) {
		cond = el
	}
	op, arg := "$set", g.value(1)
	if g.chance(0.3) {
		op, arg = "$inc", g.number()
	}
	var target string
	switch g.pick(3) {
	case 0:
		target = p.path + ".$" + sub
		u.filter = append(u.filter, bson.E{Key: p.path + sub, Value: cond})
	case 1:
		target = p.path + ".$[]" + sub
	default:
		target = p.path + ".$[e]" + sub
		u.arrayFilters = []any{bson.D{{Key: "e" + sub, Value: cond}}}
	}
	u.update = bson.D{{Key: op, Value: bson.D{{Key: target, Value: arg}}}}
	return *u, true
}

// pipelineUpdate returns an update pipeline of one to three stages. Values
// are wrapped in $literal: a string starting with $ would be a field path
// and a document an expression.
func (g *propGen) pipelineUpdate(id any, doc bson.D) propUpdate {
	paths := propPaths(doc)
	stages := bson.A{}
	for range 1 + g.pick(3) {
		switch g.pick(5) {
		case 0, 1:
			stages = append(stages, bson.D{{Key: "$set", Value: bson.D{{Key: g.pipelinePath(paths), Value: bson.D{{Key: "$literal", Value: g.value(2)}}}}}})
		case 2:
			stages = append(stages, bson.D{{Key: "$unset", Value: g.pipelinePath(paths)}})
		case 3:
			stages = append(stages, bson.D{{Key: "$replaceWith", Value: bson.D{{Key: "$mergeObjects", Value: bson.A{
				"$$ROOT", bson.D{{Key: g.name(), Value: bson.D{{Key: "$literal", Value: g.value(2)}}}},
			}}}}})
		default:
			stages = append(stages, bson.D{{Key: "$replaceWith", Value: bson.D{{Key: "$literal", Value: g.storedDoc(id, true)}}}})
		}
	}
	return propUpdate{update: stages, filter: bson.D{{Key: "_id", Value: id}}}
}

// pipelinePath is a field path for $set/$unset stages: no array indexes
// (in a pipeline "a.0" names a field "0" of each element).
func (g *propGen) pipelinePath(paths []propPath) string {
	if g.chance(0.5) {
		return g.name()
	}
	p := g.path(paths)
	if p == "_id" {
		return g.name()
	}
	return p
}
