package engine

import (
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Collations. An operation's collation spec (FindArgs.Collation, ...) is
// the command's collation option as given: nil when the command gave none,
// so that the collection's default applies, and {locale: "simple"} to ask
// for binary comparison on a collection that has a default. The B-tree
// shortcuts (_id points and ranges, unique-index lookups, _id order) compare
// bytes, so a collated filter or sort scans and matches with the collation.

// CollationOps are the operations whose Ops signatures have no arguments
// struct to carry a collation. *Engine and *Txn implement them.
type CollationOps interface {
	// DeleteCollation is Delete with a collation spec (nil: the
	// collection's default).
	DeleteCollation(ns Namespace, filter bson.D, limit int, collation bson.D) (int64, error)
	// DistinctCollation is Distinct with a collation spec (nil: the
	// collection's default): values equal under it are one value.
	DistinctCollation(ns Namespace, key string, filter bson.D, collation bson.D) ([]any, error)
}

var (
	_ CollationOps = (*Engine)(nil)
	_ CollationOps = (*Txn)(nil)
)

// opCollation resolves an operation's collation: its spec when given, else
// def (the collection's default). nil is the simple collation.
func opCollation(spec bson.D, def *mql.Collation) (*mql.Collation, error) {
	if spec == nil {
		return def, nil
	}
	return mql.ParseCollation(spec)
}

// optionsCollation compiles a collection's default collation.
func optionsCollation(opts CollectionOptions) (*mql.Collation, error) {
	if len(opts.Collation) == 0 {
		return nil, nil
	}
	return mql.ParseCollation(opts.Collation)
}

// collatedMatcher compiles filter under the operation's collation.
func collatedMatcher(filter bson.D, spec bson.D, def *mql.Collation) (*mql.Matcher, *mql.Collation, error) {
	coll, err := opCollation(spec, def)
	if err != nil {
		return nil, nil, err
	}
	m, err := mql.NewMatcherCollation(filter, coll)
	return m, coll, err
}

func newSortCollation(spec bson.D, coll *mql.Collation) (*mql.Sort, error) {
	if len(spec) == 0 {
		return nil, nil
	}
	return mql.NewSortCollation(spec, coll)
}

// DeleteCollation implements CollationOps.
func (e *Engine) DeleteCollation(ns Namespace, filter bson.D, limit int, collation bson.D) (n int64, err error) {
	err = e.writeOp(func(st *opState) error {
		n, err = st.deleteCollation(ns, filter, limit, collation)
		return err
	})
	return n, err
}

// DeleteCollation implements CollationOps.
func (t *Txn) DeleteCollation(ns Namespace, filter bson.D, limit int, collation bson.D) (n int64, err error) {
	err = t.op(func(st *opState) error {
		n, err = st.deleteCollation(ns, filter, limit, collation)
		return err
	})
	return n, err
}

// DistinctCollation implements CollationOps.
func (e *Engine) DistinctCollation(ns Namespace, key string, filter bson.D, collation bson.D) ([]any, error) {
	tree, err := e.readTree(ns)
	if err != nil {
		return nil, err
	}
	return distinctTreeCollation(tree, key, filter, collation)
}

// DistinctCollation implements CollationOps.
func (t *Txn) DistinctCollation(ns Namespace, key string, filter bson.D, collation bson.D) (out []any, err error) {
	err = t.op(func(st *opState) error {
		v := view{}
		if c := st.coll(ns); c != nil {
			v = c.view()
		}
		out, err = distinctTreeCollation(v, key, filter, collation)
		return err
	})
	return out, err
}

// defaultCollation is ns's default collation (nil: simple or no collection).
func (st *opState) defaultCollation(ns Namespace) *mql.Collation {
	if c := st.coll(ns); c != nil {
		return c.collation
	}
	return nil
}

func (st *opState) deleteCollation(ns Namespace, filter bson.D, limit int, collation bson.D) (int64, error) {
	m, _, err := collatedMatcher(filter, collation, st.defaultCollation(ns))
	if err != nil {
		return 0, err
	}
	return st.deleteMatching(ns, filter, m, limit)
}
