package embedded

import (
	"github.com/mongotide/mongotide/embedded/internal/engine"
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Collations. A command's collation option is checked here (MongoDB's
// codes: 40414 without a locale, 40415 for an unknown field, 2 BadValue for
// an unknown locale, ...) and handed to the engine as given; the engine
// falls back to the collection's default collation when there is none.
// Views are resolved here: an operation on a view runs with the view's
// collation and may not ask for another (167 OptionNotSupportedOnView).

// simpleCollation is the explicit binary collation: it keeps a backing
// collection's default from applying to a view without a collation.
func simpleCollation() bson.D { return bson.D{{Key: "locale", Value: "simple"}} }

// collationArg validates a command's collation option and returns it for
// the engine: nil when absent or empty.
func collationArg(cmd string, v any) (bson.D, error) {
	if v == nil {
		return nil, nil
	}
	d, err := argDoc(cmd, "collation", v)
	if err != nil || len(d) == 0 {
		return nil, err
	}
	if _, err := mql.ParseCollation(d); err != nil {
		return nil, err
	}
	return d, nil
}

// normalizedCollation is the collation document a collection, view or index
// stores and reports: every option filled in, as listCollections and
// listIndexes show it; nil for the simple collation.
func normalizedCollation(cmd string, v any) (bson.D, error) {
	d, err := collationArg(cmd, v)
	if err != nil || d == nil {
		return nil, err
	}
	c, err := mql.ParseCollation(d)
	if err != nil || c == nil {
		return nil, err
	}
	return c.Doc(), nil
}

// viewCollation returns the collation an operation on the view ns runs
// with: the view's own (simple when it has none). An operation that names
// a different collation fails, as on MongoDB.
func (s *Server) viewCollation(ns engine.Namespace, given bson.D) (bson.D, error) {
	v, err := s.viewOf(ns)
	if err != nil || v == nil {
		return given, err
	}
	own := v.collation
	if given != nil {
		g, err := mql.ParseCollation(given)
		if err != nil {
			return nil, err
		}
		var o *mql.Collation
		if len(own) > 0 {
			if o, err = mql.ParseCollation(own); err != nil {
				return nil, err
			}
		}
		if !mql.SameCollation(g, o) {
			return nil, cmdError(codeOptionNotSupportedOnView, "OptionNotSupportedOnView",
				"Cannot override a view's default collation")
		}
	}
	if len(own) == 0 {
		return simpleCollation(), nil
	}
	return own, nil
}

// collectionCollation is ns's default collation document (nil: simple or
// no such collection), which new indexes inherit.
func (s *Server) collectionCollation(ns engine.Namespace) bson.D {
	if info, ok := s.engine.Collection(ns); ok {
		return info.Options.Collation
	}
	return nil
}

// deleteWith and distinctWith run the statements whose Ops signatures carry
// no collation through engine.CollationOps; ops without it (snapshot reads)
// fall back to the collection's default.
func deleteWith(ops engine.Ops, ns engine.Namespace, filter bson.D, limit int, collation bson.D) (int64, error) {
	if co, ok := ops.(engine.CollationOps); ok && collation != nil {
		return co.DeleteCollation(ns, filter, limit, collation)
	}
	return ops.Delete(ns, filter, limit)
}

func distinctWith(ops engine.Ops, ns engine.Namespace, key string, filter bson.D, collation bson.D) ([]any, error) {
	if co, ok := ops.(engine.CollationOps); ok && collation != nil {
		return co.DistinctCollation(ns, key, filter, collation)
	}
	return ops.Distinct(ns, key, filter)
}

// readCollation is the collation of a read of ns that resolveView found to
// be a view or not: the view's on a view, else the command's.
func (s *Server) readCollation(ns engine.Namespace, isView bool, given bson.D) (bson.D, error) {
	if !isView {
		return given, nil
	}
	return s.viewCollation(ns, given)
}
