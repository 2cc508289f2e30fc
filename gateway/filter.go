package gateway

import (
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// allowedOps are the query operators a client may use. Everything else
// ($where, $expr, $function, $regex, $text, $jsonSchema, ...) is refused:
// what a client can ask of the database is a short, reviewable list.
var allowedOps = map[string]bool{
	"$eq": true, "$ne": true, "$gt": true, "$gte": true, "$lt": true, "$lte": true,
	"$in": true, "$nin": true, "$exists": true,
}

const maxFilterDepth = 16

var errBadQuery = errors.New("invalid query")

func badQuery(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadQuery, fmt.Sprintf(format, args...))
}

// checkFilter accepts only allow-listed operators on plain field paths.
func checkFilter(f bson.D, depth int) error {
	if depth > maxFilterDepth {
		return badQuery("filter nested deeper than %d", maxFilterDepth)
	}
	for _, e := range f {
		switch e.Key {
		case "$and", "$or":
			arr, ok := e.Value.(bson.A)
			if !ok || len(arr) == 0 {
				return badQuery("%s takes a non-empty array of filters", e.Key)
			}
			for _, sub := range arr {
				d, ok := sub.(bson.D)
				if !ok {
					return badQuery("%s takes a non-empty array of filters", e.Key)
				}
				if err := checkFilter(d, depth+1); err != nil {
					return err
				}
			}
			continue
		}
		if err := checkPath(e.Key); err != nil {
			return err
		}
		if d, ok := e.Value.(bson.D); ok && len(d) > 0 && strings.HasPrefix(d[0].Key, "$") {
			for _, op := range d {
				if !allowedOps[op.Key] {
					return badQuery("operator %q is not allowed (allowed: $eq $ne $gt $gte $lt $lte $in $nin $exists $and $or)", op.Key)
				}
				if op.Key == "$in" || op.Key == "$nin" {
					if _, ok := op.Value.(bson.A); !ok {
						return badQuery("%s takes an array", op.Key)
					}
				}
				if err := checkLiteral(op.Value, depth+1); err != nil {
					return err
				}
			}
			continue
		}
		if err := checkLiteral(e.Value, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// checkLiteral refuses values that are evaluated rather than compared:
// regular expressions (an operator in disguise, and a cost the client
// chooses) and JavaScript.
func checkLiteral(v any, depth int) error {
	if depth > maxFilterDepth {
		return badQuery("value nested deeper than %d", maxFilterDepth)
	}
	switch v := v.(type) {
	case bson.Regex, bson.JavaScript, bson.CodeWithScope, bson.DBPointer:
		return badQuery("values of type %T are not allowed", v)
	case bson.D:
		for _, e := range v {
			if err := checkLiteral(e.Value, depth+1); err != nil {
				return err
			}
		}
	case bson.A:
		for _, x := range v {
			if err := checkLiteral(x, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkPath accepts dotted field paths whose parts are non-empty and do not
// start with "$".
func checkPath(p string) error {
	if p == "" || strings.ContainsRune(p, 0) {
		return badQuery("invalid field path %q", p)
	}
	for _, part := range strings.Split(p, ".") {
		if part == "" || strings.HasPrefix(part, "$") {
			return badQuery("invalid field path %q", p)
		}
	}
	return nil
}

// checkSort accepts {path: 1 | -1, ...}.
func checkSort(s bson.D) error {
	for _, e := range s {
		if err := checkPath(e.Key); err != nil {
			return err
		}
		if n, ok := number(e.Value); !ok || (n != 1 && n != -1) {
			return badQuery("sort on %q must be 1 or -1", e.Key)
		}
	}
	return nil
}

// checkProjection accepts {path: 0 | 1 | true | false, ...}: no projection
// operators, so a projection can only hide fields.
func checkProjection(p bson.D) error {
	for _, e := range p {
		if err := checkPath(e.Key); err != nil {
			return err
		}
		if _, ok := e.Value.(bool); ok {
			continue
		}
		if n, ok := number(e.Value); !ok || (n != 0 && n != 1) {
			return badQuery("projection of %q must be 0, 1, true or false", e.Key)
		}
	}
	return nil
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// ownerFilter is the caller's scope in collection f, ANDed into every read.
func (f *feed) ownerFilter(owner string) bson.D {
	if f.rule.Shared {
		return bson.D{}
	}
	return bson.D{{Key: f.rule.OwnerField, Value: bson.D{{Key: "$eq", Value: owner}}}}
}

// scopedFilter ANDs the caller's scope into filter; the scope is its own
// clause, so nothing in filter can widen it.
func (f *feed) scopedFilter(owner string, filter bson.D) bson.D {
	scope := f.ownerFilter(owner)
	switch {
	case len(filter) == 0:
		return scope
	case len(scope) == 0:
		return filter
	}
	return bson.D{{Key: "$and", Value: bson.A{filter, scope}}}
}

// idScopedFilter is the caller's scope ANDed with a condition on _id that
// the gateway built itself (a snapshot page's lower bound, a document's
// id), as top-level fields: {_id: cond, <owner field>: {$eq: owner}}. It
// means the same as scopedFilter's $and, but a server that plans from
// top-level fields only (the embedded server does) then walks the _id
// index instead of scanning the collection for every page. When the owner
// field is _id itself it falls back to the $and.
func (f *feed) idScopedFilter(owner string, cond bson.D) bson.D {
	scope := f.ownerFilter(owner)
	if len(scope) == 1 && scope[0].Key == "_id" {
		return f.scopedFilter(owner, bson.D{{Key: "_id", Value: cond}})
	}
	return append(bson.D{{Key: "_id", Value: cond}}, scope...)
}
