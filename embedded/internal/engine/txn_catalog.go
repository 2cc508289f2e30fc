package engine

import "go.mongodb.org/mongo-driver/v2/bson"

// CodeOperationNotSupportedInTransaction is OperationNotSupportedInTransaction (263).
const CodeOperationNotSupportedInTransaction int32 = 263

// Catalog operations inside a transaction (allowed since MongoDB 4.4): a
// collection created by the transaction exists only in its snapshot until
// Commit, and indexes may be created only on such a collection or on one
// that does not exist yet (it is created with them), as on MongoDB.

// CreateCollection creates ns inside the transaction.
func (t *Txn) CreateCollection(ns Namespace, opts CollectionOptions) error {
	return t.op(func(st *opState) error {
		if err := validateNS(ns); err != nil {
			return err
		}
		if opts.Capped {
			return errorf(CodeOperationNotSupportedInTransaction, "OperationNotSupportedInTransaction",
				"Cannot create a capped collection in a multi-document transaction.")
		}
		if st.colls[ns] != nil {
			return errorf(CodeNamespaceExists, "NamespaceExists", "Collection %s already exists.", ns)
		}
		c, err := newCollection(ns, newUUID(), opts)
		if err != nil {
			return err
		}
		st.colls[ns] = c
		t.created[ns] = true
		t.addEntry(createEntry(c))
		return nil
	})
}

// CreateIndexes creates indexes inside the transaction.
func (t *Txn) CreateIndexes(ns Namespace, specs []IndexSpec) (res CreateIndexesResult, err error) {
	err = t.op(func(st *opState) error {
		if len(specs) == 0 {
			return errorf(CodeBadValue, "BadValue", "Must specify at least one index to create")
		}
		c := st.colls[ns]
		switch {
		case c == nil:
			if c, err = st.ensureColl(ns); err != nil {
				return err
			}
			res.CreatedCollectionAutomatically = true
		case !t.created[ns]:
			return errorf(CodeOperationNotSupportedInTransaction, "OperationNotSupportedInTransaction",
				"Cannot create new indexes on existing collection %s in a multi-document transaction.", ns)
		}
		res.NumIndexesBefore = 1 + len(c.indexes)
		built, err := c.planIndexes(specs)
		if err != nil {
			return err
		}
		if len(built) == 0 {
			res.NumIndexesAfter, res.Note = res.NumIndexesBefore, "all indexes already exist"
			return nil
		}
		c.indexes = append(c.indexes, built...)
		t.addEntry(createIndexesEntry(c, built))
		res.NumIndexesAfter = 1 + len(c.indexes)
		return nil
	})
	return res, err
}

// replayCreateIndexes adds the indexes of an OpCreateIndexes entry to c
// (a transaction's commit applying its own catalog entries).
func replayCreateIndexes(c *collection, en *Entry) error {
	var obj struct {
		Indexes []bson.D `bson:"indexes"`
	}
	if err := bson.Unmarshal(en.Object, &obj); err != nil {
		return err
	}
	for _, d := range obj.Indexes {
		if err := c.addIndexDoc(d); err != nil {
			return err
		}
	}
	return nil
}
