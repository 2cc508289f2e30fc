package engine

import (
	"slices"

	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The _id tree is the one index every collection has and it is kept in BSON
// order across types (mql.Compare), so it answers more than equality:
//
//   - _id points ({_id: v}, {_id: {$eq: v}}, {_id: {$in: [...]}}) are one
//     lookup per value;
//   - a lower bound ({_id: {$gt|$gte: v}}, type-bracketed as in MongoDB, or
//     {$expr: {$gt|$gte: ["$_id", v]}}, which is not) is where an ascending
//     walk of the tree starts; a bracketed bound also ends it at the end of
//     v's bracket.
//
// Either is taken from one top-level conjunct; the whole filter is still
// checked with the matcher on every candidate, so the plan only has to never
// leave out a document that matches, never to exclude one that does not.

// idPlan is what a filter lets the _id tree answer.
type idPlan struct {
	// points are the only _id values that can match (hasPoints).
	points    []any
	hasPoints bool
	// lo is the smallest _id that can match (hasLo); inclusive unless
	// loOpen. bracket ends the walk after lo's type bracket.
	lo      any
	hasLo   bool
	loOpen  bool
	bracket bool
}

func planID(filter bson.D) idPlan {
	var p idPlan
	for _, e := range filter {
		switch e.Key {
		case "_id":
			if id, ok := idEquality(bson.D{e}); ok {
				return idPlan{points: []any{id}, hasPoints: true}
			}
			ops, ok := e.Value.(bson.D)
			if !ok {
				continue
			}
			for _, op := range ops {
				switch op.Key {
				case "$in":
					if pts, ok := inPoints(op.Value); ok {
						return idPlan{points: pts, hasPoints: true}
					}
				case "$gt", "$gte":
					if boundable(op.Value) && !p.hasLo {
						p = idPlan{lo: op.Value, hasLo: true, loOpen: op.Key == "$gt",
							bracket: mql.TypeBracket(op.Value) != mql.BracketMinKey}
					}
				}
			}
		case "$expr":
			if lo, open, ok := exprLowerBound(e.Value); ok && !p.hasLo {
				p = idPlan{lo: lo, hasLo: true, loOpen: open}
			}
		}
	}
	return p
}

// inPoints returns the values of an $in list when each is matched by
// equality alone (no regex, no arrays, which also match elements).
func inPoints(v any) ([]any, bool) {
	list, ok := v.(bson.A)
	if !ok {
		return nil, false
	}
	for _, x := range list {
		switch x.(type) {
		case bson.Regex, bson.A:
			return nil, false
		}
	}
	return list, true
}

// boundable reports whether a comparison value can start a walk: not null
// (which also matches missing fields) nor an array or a regex.
func boundable(v any) bool {
	switch v.(type) {
	case nil, bson.Null, bson.Undefined, bson.A, bson.Regex:
		return false
	}
	return true
}

// exprLowerBound recognises {$gt|$gte: ["$_id", c]} where c is a constant:
// {$literal: v}, or a scalar that is not a field path or expression.
func exprLowerBound(v any) (lo any, open, ok bool) {
	d, isDoc := v.(bson.D)
	if !isDoc || len(d) != 1 || (d[0].Key != "$gt" && d[0].Key != "$gte") {
		return nil, false, false
	}
	args, isArr := d[0].Value.(bson.A)
	if !isArr || len(args) != 2 || args[0] != "$_id" {
		return nil, false, false
	}
	c := args[1]
	switch x := c.(type) {
	case bson.D:
		if len(x) != 1 || x[0].Key != "$literal" {
			return nil, false, false
		}
		c = x[0].Value
	case bson.A:
		return nil, false, false
	case string:
		if len(x) > 0 && x[0] == '$' {
			return nil, false, false
		}
	}
	if !boundable(c) {
		return nil, false, false
	}
	return c, d[0].Key == "$gt", true
}

// walk calls fn with the records the plan allows, in _id order, stopping
// when fn returns false. ok is false when the plan allows every record.
func (p idPlan) walk(v view, fn func(*docRec) bool) (ok bool) {
	switch {
	case p.hasPoints:
		recs := make([]*docRec, 0, len(p.points))
		for _, id := range p.points {
			if rec, found := v.byID.Get(&docRec{id: id}); found {
				recs = append(recs, rec)
			}
		}
		// 1 and 1.0 find the same record.
		slices.SortFunc(recs, func(a, b *docRec) int { return mql.Compare(a.id, b.id) })
		recs = slices.Compact(recs)
		for _, rec := range recs {
			if !fn(rec) {
				break
			}
		}
		return true
	case p.hasLo:
		br := mql.TypeBracket(p.lo)
		v.byID.Ascend(&docRec{id: p.lo}, func(rec *docRec) bool {
			if p.bracket && mql.TypeBracket(rec.id) != br {
				return false
			}
			if p.loOpen && mql.Compare(rec.id, p.lo) == 0 {
				return true
			}
			return fn(rec)
		})
		return true
	}
	return false
}

// planned returns the records the plan allows in natural order (as a scan
// would meet them), or ok=false when the plan allows every record.
func (p idPlan) planned(v view) (recs []*docRec, ok bool) {
	ok = p.walk(v, func(rec *docRec) bool {
		recs = append(recs, rec)
		return true
	})
	if !ok {
		return nil, false
	}
	slices.SortFunc(recs, func(a, b *docRec) int { return cmpInt64(a.rid, b.rid) })
	return recs, true
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ascendingByID reports whether a sort spec is {_id: 1}: the _id tree's
// own order.
func ascendingByID(spec bson.D) bool {
	if len(spec) != 1 || spec[0].Key != "_id" {
		return false
	}
	switch n := spec[0].Value.(type) {
	case int32:
		return n == 1
	case int64:
		return n == 1
	case float64:
		return n == 1
	}
	return false
}

// findByIDOrder answers a find sorted by {_id: 1}: an ascending walk of the
// _id tree (from the plan's lower bound, or over its points) that stops once
// skip+limit documents matched, instead of decoding and sorting every match.
func findByIDOrder(v view, filter bson.D, m *mql.Matcher, skip, limit int64) ([]match, error) {
	var out []match
	var err error
	want := skip + limit
	visit := func(rec *docRec) bool {
		var doc bson.D
		if doc, err = decodeDoc(rec.raw); err != nil {
			return false
		}
		if len(filter) > 0 && !m.Match(doc) {
			return true
		}
		out = append(out, match{rec, doc})
		return limit <= 0 || int64(len(out)) < want
	}
	if v.byID == nil {
		return nil, nil
	}
	if !planID(filter).walk(v, visit) {
		v.byID.Scan(visit)
	}
	if err != nil {
		return nil, err
	}
	return window(out, skip, limit), nil
}
