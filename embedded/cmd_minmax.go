package embedded

import (
	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// find's min and max bound a scan of the hinted index: min is an inclusive
// lower bound, max an exclusive upper bound, each a document over the
// index's fields in key order. There is no index scan here, so the bounds
// become a filter comparing the index key lexicographically in BSON order
// (the $expr comparisons, which like an index do not bracket by type).

// minMaxFilter returns the filter min and max add, or nil when neither is
// set. A hint naming an existing index is required (51173), and the bounds
// must name its fields in order (51176).
func (s *Server) minMaxFilter(ns engine.Namespace, hint any, minDoc, maxDoc bson.D) (bson.D, error) {
	if len(minDoc) == 0 && len(maxDoc) == 0 {
		return nil, nil
	}
	key := s.hintKey(ns, hint)
	if key == nil {
		return nil, cmdError(51173, "Location51173", "When using min()/max() a hint of which index to use must be provided")
	}
	var clauses bson.A
	for _, b := range []struct {
		doc   bson.D
		lower bool
	}{{minDoc, true}, {maxDoc, false}} {
		if len(b.doc) == 0 {
			continue
		}
		if len(b.doc) != len(key) {
			return nil, cmdError(51176, "Location51176", "min() and max() must match the index key pattern of the hint")
		}
		for i, e := range b.doc {
			if e.Key != key[i].Key {
				return nil, cmdError(51176, "Location51176", "min() and max() must match the index key pattern of the hint")
			}
		}
		clauses = append(clauses, boundExpr(key, b.doc, b.lower))
	}
	return bson.D{{Key: "$expr", Value: bson.D{{Key: "$and", Value: clauses}}}}, nil
}

// hintKey is the key pattern of the hinted index, or nil.
func (s *Server) hintKey(ns engine.Namespace, hint any) bson.D {
	specs, err := s.engine.ListIndexes(ns)
	if err != nil {
		return nil
	}
	for _, ix := range specs {
		switch h := hint.(type) {
		case string:
			if h != "" && ix.Name == h {
				return ix.Key
			}
		case bson.D:
			if len(h) > 0 && sameKey(ix.Key, h) {
				return ix.Key
			}
		}
	}
	return nil
}

// boundExpr is the index key (in key's directions) >= bound (lower) or <
// bound (upper), lexicographically: the first differing field decides.
func boundExpr(key, bound bson.D, lower bool) bson.D {
	var or bson.A
	for i := range bound {
		var and bson.A
		for j := 0; j < i; j++ {
			and = append(and, bson.D{{Key: "$eq", Value: bson.A{fieldRef(key[j].Key), literal(bound[j].Value)}}})
		}
		op := "$lt"
		if lower == keyAscending(key[i].Value) {
			op = "$gt"
		}
		and = append(and, bson.D{{Key: op, Value: bson.A{fieldRef(key[i].Key), literal(bound[i].Value)}}})
		or = append(or, bson.D{{Key: "$and", Value: and}})
	}
	if lower {
		// The lower bound is inclusive: the whole key equal to it.
		var eq bson.A
		for i := range bound {
			eq = append(eq, bson.D{{Key: "$eq", Value: bson.A{fieldRef(key[i].Key), literal(bound[i].Value)}}})
		}
		or = append(or, bson.D{{Key: "$and", Value: eq}})
	}
	return bson.D{{Key: "$or", Value: or}}
}

func fieldRef(path string) string { return "$" + path }

func literal(v any) bson.D { return bson.D{{Key: "$literal", Value: v}} }

func keyAscending(v any) bool {
	switch x := v.(type) {
	case int32:
		return x > 0
	case int64:
		return x > 0
	case float64:
		return x > 0
	}
	return true
}
