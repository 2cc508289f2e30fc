package engine

import "go.mongodb.org/mongo-driver/v2/bson"

// bypassDocumentValidation: a write may skip the collection's validator
// (MongoDB requires the bypassDocumentValidation privilege; the embedded
// server has no users). Updates and findAndModify say so in their
// arguments; inserts, whose Ops signature has none, use ValidationOps.

// ValidationOps is implemented by *Engine and *Txn.
type ValidationOps interface {
	// InsertNoValidation is Insert without the validator check.
	InsertNoValidation(ns Namespace, doc bson.D) (any, error)
}

var (
	_ ValidationOps = (*Engine)(nil)
	_ ValidationOps = (*Txn)(nil)
)

// InsertNoValidation implements ValidationOps.
func (e *Engine) InsertNoValidation(ns Namespace, doc bson.D) (id any, err error) {
	err = e.writeOp(func(st *opState) error {
		st.bypassValidation = true
		id, err = st.insert(ns, doc)
		return err
	})
	return id, err
}

// InsertNoValidation implements ValidationOps.
func (t *Txn) InsertNoValidation(ns Namespace, doc bson.D) (id any, err error) {
	err = t.op(func(st *opState) error {
		st.bypassValidation = true
		id, err = st.insert(ns, doc)
		return err
	})
	return id, err
}
