package embedded

import (
	"github.com/mongotide/mongotide/embedded/internal/engine"
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// checkHint validates an index hint. The engine picks no query plans, so a
// hint never changes which documents match; but MongoDB fails a query whose
// hint names no existing index, and so do we. A hint on a missing
// collection is accepted, as MongoDB answers such queries with an empty
// result without planning them.
func (s *Server) checkHint(cmd string, ns engine.Namespace, v any) error {
	switch h := v.(type) {
	case nil:
		return nil
	case string:
		if h == "" {
			return nil
		}
		return s.hintExists(ns, func(ix engine.IndexSpec) bool { return ix.Name == h })
	case bson.D:
		if len(h) == 0 {
			return nil
		}
		if len(h) == 1 && h[0].Key == "$natural" {
			return nil
		}
		return s.hintExists(ns, func(ix engine.IndexSpec) bool { return sameKey(ix.Key, h) })
	}
	return wrongType(cmd, "hint", v, "object or string")
}

func (s *Server) hintExists(ns engine.Namespace, match func(engine.IndexSpec) bool) error {
	specs, err := s.engine.ListIndexes(ns)
	if err != nil {
		// A missing collection: nothing to plan, nothing to reject.
		return nil
	}
	for _, ix := range specs {
		if match(ix) {
			return nil
		}
	}
	return cmdError(codeBadValue, "BadValue", "hint provided does not correspond to an existing index")
}

// sameKey compares index key patterns field by field, numerically for
// directions (1 and 1.0 name the same index).
func sameKey(a, b bson.D) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !mql.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}
