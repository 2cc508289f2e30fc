package engine

import (
	"crypto/rand"
	"sort"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func newUUID() bson.Binary {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return bson.Binary{Subtype: 4, Data: b}
}

// validateNS rejects names MongoDB rejects (code 73 InvalidNamespace).
func validateNS(ns Namespace) error {
	if ns.DB == "" || strings.ContainsAny(ns.DB, "/\\. \"$\x00") || len(ns.DB) > 63 {
		return errorf(CodeInvalidNamespace, "InvalidNamespace", "Invalid database name: '%s'", ns.DB)
	}
	if ns.Coll == "" || strings.ContainsAny(ns.Coll, "$\x00") || strings.HasPrefix(ns.Coll, ".") || strings.HasSuffix(ns.Coll, ".") {
		return errorf(CodeInvalidNamespace, "InvalidNamespace", "Invalid collection name: '%s'", ns.Coll)
	}
	return nil
}

func nsNotFound(ns Namespace) *Error {
	return errorf(CodeNamespaceNotFound, "NamespaceNotFound", "ns does not exist: %s", ns)
}

// createEntry is the OpCreate entry of c; Object carries what replay needs.
func createEntry(c *collection) Entry {
	obj, _ := bson.Marshal(bson.D{{Key: "uuid", Value: c.uuid}, {Key: "options", Value: c.opts.Doc()}})
	return Entry{Op: OpCreate, NS: c.ns, Object: obj}
}

// catalogOp runs a catalog change under the engine lock. When it fails
// before any of its commits was journaled, the catalog is put back as it
// was (a change the journal did not take must not stay applied).
func (e *Engine) catalogOp(fn func() error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	colls := make(map[Namespace]*collection, len(e.colls))
	headers := make(map[*collection]collection, len(e.colls))
	for ns, c := range e.colls {
		colls[ns], headers[c] = c, *c
	}
	commits := e.commits
	err := fn()
	if err != nil && e.commits == commits {
		e.colls = colls
		for c, h := range headers {
			*c = h
		}
	}
	return err
}

func (e *Engine) createCollection(ns Namespace, opts CollectionOptions) error {
	return e.catalogOp(func() error {
		if err := validateNS(ns); err != nil {
			return err
		}
		if e.colls[ns] != nil {
			return errorf(CodeNamespaceExists, "NamespaceExists", "Collection %s already exists.", ns)
		}
		c, err := newCollection(ns, newUUID(), opts)
		if err != nil {
			return err
		}
		e.colls[ns] = c
		_, err = e.commit([]Entry{createEntry(c)})
		return err
	})
}

func (e *Engine) dropCollection(ns Namespace) (existed bool, err error) {
	err = e.catalogOp(func() error {
		if e.colls[ns] == nil {
			return nil
		}
		existed = true
		c := e.colls[ns]
		delete(e.colls, ns)
		ts, err := e.commit([]Entry{{Op: OpDrop, NS: ns, Object: uuidObject(c)}})
		if err == nil {
			e.noteCatalogChange(ts, ns, c)
		}
		return err
	})
	return existed, err
}

func (e *Engine) dropDatabase(db string) error {
	return e.catalogOp(func() error {
		var names []string
		for ns := range e.colls {
			if ns.DB == db {
				names = append(names, ns.Coll)
			}
		}
		if len(names) == 0 {
			return nil
		}
		sort.Strings(names)
		for _, n := range names {
			ns := Namespace{DB: db, Coll: n}
			c := e.colls[ns]
			delete(e.colls, ns)
			ts, err := e.commit([]Entry{{Op: OpDrop, NS: ns, Object: uuidObject(c)}})
			if err != nil {
				e.colls[ns] = c // not journaled: the earlier drops stand, this one does not
				return err
			}
			e.noteCatalogChange(ts, ns, c)
		}
		_, err := e.commit([]Entry{{Op: OpDropDatabase, NS: Namespace{DB: db}}})
		return err
	})
}

func (e *Engine) renameCollection(from, to Namespace, dropTarget bool) error {
	return e.catalogOp(func() error {
		if err := validateNS(to); err != nil {
			return err
		}
		c := e.colls[from]
		if c == nil {
			return errorf(CodeNamespaceNotFound, "NamespaceNotFound", "Source collection %s does not exist", from)
		}
		if from == to {
			return errorf(CodeIllegalOperation, "IllegalOperation", "Can't rename a collection to itself")
		}
		en := Entry{Op: OpRename, NS: from, To: to}
		target := e.colls[to]
		if target != nil {
			if !dropTarget {
				return errorf(CodeNamespaceExists, "NamespaceExists", "target namespace exists")
			}
			// As on MongoDB, the dropped target gets no drop entry of its
			// own: the rename entry (To = target) is what its watchers see.
			en.Object, _ = bson.Marshal(bson.D{{Key: "uuid", Value: c.uuid}, {Key: "dropTarget", Value: true}, {Key: "dropTargetUUID", Value: target.uuid}})
			delete(e.colls, to)
		} else {
			en.Object = uuidObject(c)
		}
		delete(e.colls, from)
		c.ns = to
		e.colls[to] = c
		ts, err := e.commit([]Entry{en})
		if err == nil {
			e.noteCatalogChange(ts, from, nil)
			e.noteCatalogChange(ts, to, target)
		}
		return err
	})
}

func (e *Engine) listDatabases() []DatabaseInfo {
	e.mu.RLock()
	defer e.mu.RUnlock()
	byName := map[string]*DatabaseInfo{}
	for ns, c := range e.colls {
		d := byName[ns.DB]
		if d == nil {
			d = &DatabaseInfo{Name: ns.DB}
			byName[ns.DB] = d
		}
		d.Collections++
		d.Objects += int64(c.docs.Len())
		d.SizeOnDisk += c.size
	}
	out := make([]DatabaseInfo, 0, len(byName))
	for _, d := range byName {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (c *collection) info() CollectionInfo {
	return CollectionInfo{
		Name: c.ns.Coll, UUID: c.uuid, Options: c.opts,
		Count: int64(c.docs.Len()), Size: c.size, NIndexes: 1 + len(c.indexes),
	}
}

func (e *Engine) listCollections(db string) []CollectionInfo {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []CollectionInfo
	for ns, c := range e.colls {
		if ns.DB == db {
			out = append(out, c.info())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (e *Engine) collectionInfo(ns Namespace) (CollectionInfo, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if c := e.colls[ns]; c != nil {
		return c.info(), true
	}
	return CollectionInfo{}, false
}

func (e *Engine) collMod(ns Namespace, args CollModArgs) error {
	return e.catalogOp(func() error {
		c := e.colls[ns]
		if c == nil {
			return nsNotFound(ns)
		}
		opts, old := c.opts, c.opts
		if args.ChangeStreamPreAndPostImages != nil {
			opts.ChangeStreamPreAndPostImages = *args.ChangeStreamPreAndPostImages
		}
		if args.Validator != nil {
			opts.Validator = *args.Validator
		}
		if args.ValidationLevel != nil {
			opts.ValidationLevel = *args.ValidationLevel
		}
		if args.ValidationAction != nil {
			opts.ValidationAction = *args.ValidationAction
		}
		if err := c.setOptions(opts); err != nil {
			return err
		}
		// old and uuid are for change streams (modify events).
		obj, _ := bson.Marshal(bson.D{{Key: "options", Value: opts.Doc()}, {Key: "uuid", Value: c.uuid}, {Key: "old", Value: old.Doc()}})
		_, err := e.commit([]Entry{{Op: OpCollMod, NS: ns, Object: obj}})
		return err
	})
}

// idIndexSpec returns a fresh _id_ spec (callers may modify what they get).
func idIndexSpec() IndexSpec {
	return IndexSpec{Name: "_id_", Key: bson.D{{Key: "_id", Value: int32(1)}}}
}

func sameKey(a, b bson.D) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key {
			return false
		}
		x, _ := toFloat(a[i].Value)
		y, _ := toFloat(b[i].Value)
		if x != y {
			return false
		}
	}
	return true
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func sameOptions(a, b IndexSpec) bool {
	ra, _ := bson.Marshal(bson.D{{Key: "p", Value: a.PartialFilterExpression}})
	rb, _ := bson.Marshal(bson.D{{Key: "p", Value: b.PartialFilterExpression}})
	ea, eb := int32(-1), int32(-1)
	if a.ExpireAfterSeconds != nil {
		ea = *a.ExpireAfterSeconds
	}
	if b.ExpireAfterSeconds != nil {
		eb = *b.ExpireAfterSeconds
	}
	return a.Unique == b.Unique && a.Sparse == b.Sparse && string(ra) == string(rb) && ea == eb
}

func (e *Engine) createIndexes(ns Namespace, specs []IndexSpec) (res CreateIndexesResult, err error) {
	err = e.catalogOp(func() error {
		if len(specs) == 0 {
			return errorf(CodeBadValue, "BadValue", "Must specify at least one index to create")
		}
		var entries []Entry
		c := e.colls[ns]
		if c == nil {
			if err := validateNS(ns); err != nil {
				return err
			}
			var err error
			if c, err = newCollection(ns, newUUID(), CollectionOptions{}); err != nil {
				return err
			}
			res.CreatedCollectionAutomatically = true
			entries = append(entries, createEntry(c))
		}
		res.NumIndexesBefore = 1 + len(c.indexes)
		built, err := c.planIndexes(specs)
		if err != nil {
			return err
		}
		if len(built) == 0 {
			res.NumIndexesAfter = res.NumIndexesBefore
			res.Note = "all indexes already exist"
			if len(entries) > 0 { // the collection was created implicitly
				e.colls[ns] = c
				_, err := e.commit(entries)
				return err
			}
			return nil
		}
		entries = append(entries, createIndexesEntry(c, built))
		c.indexes = append(c.indexes, built...)
		e.colls[ns] = c
		res.NumIndexesAfter = 1 + len(c.indexes)
		_, err = e.commit(entries)
		return err
	})
	return res, err
}

// createIndexesEntry is the OpCreateIndexes entry of built.
func createIndexesEntry(c *collection, built []*index) Entry {
	var docs bson.A
	for _, ix := range built {
		docs = append(docs, ix.spec.Doc())
	}
	obj, _ := bson.Marshal(bson.D{{Key: "indexes", Value: docs}, {Key: "uuid", Value: c.uuid}})
	return Entry{Op: OpCreateIndexes, NS: c.ns, Object: obj}
}

// planIndexes checks specs against c's indexes and returns the new ones,
// built over c's documents (none when all already exist). c is unchanged.
func (c *collection) planIndexes(specs []IndexSpec) ([]*index, error) {
	var built []*index
specLoop:
	for _, s := range specs {
		if s.Name == "" {
			s.Name = DefaultIndexName(s.Key)
		}
		existing := append([]IndexSpec{idIndexSpec()}, c.specs()...)
		for _, b := range built {
			existing = append(existing, b.spec)
		}
		for _, x := range existing {
			switch {
			case x.Name == s.Name && sameKey(x.Key, s.Key) && (x.Name == "_id_" || sameOptions(x, s)):
				continue specLoop // already exists
			case x.Name == s.Name && sameKey(x.Key, s.Key):
				return nil, errorf(CodeIndexOptionsConflict, "IndexOptionsConflict", "An existing index has the same name as the requested index but different options. Requested index: %v, existing index: %v", s.Doc(), x.Doc())
			case x.Name == s.Name:
				return nil, errorf(CodeIndexKeySpecsConflict, "IndexKeySpecsConflict", "An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: %v, existing index: %v", s.Doc(), x.Doc())
			case sameKey(x.Key, s.Key) && (x.Name == "_id_" || sameOptions(x, s)):
				return nil, errorf(CodeIndexOptionsConflict, "IndexOptionsConflict", "Index already exists with a different name: %s", x.Name)
			}
		}
		ix, err := newIndex(s)
		if err != nil {
			return nil, err
		}
		built = append(built, ix)
	}
	for _, ix := range built {
		if err := c.buildIndex(ix); err != nil {
			return nil, err
		}
	}
	return built, nil
}

func (c *collection) specs() []IndexSpec {
	out := make([]IndexSpec, len(c.indexes))
	for i, ix := range c.indexes {
		out[i] = ix.spec
		out[i].Key = append(bson.D(nil), ix.spec.Key...) // callers may edit keys
	}
	return out
}

func (e *Engine) listIndexes(ns Namespace) ([]IndexSpec, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c := e.colls[ns]
	if c == nil {
		return nil, nsNotFound(ns)
	}
	return append([]IndexSpec{idIndexSpec()}, c.specs()...), nil
}

func (e *Engine) dropIndexes(ns Namespace, names []string) (was int, err error) {
	err = e.catalogOp(func() error {
		c := e.colls[ns]
		if c == nil {
			return nsNotFound(ns)
		}
		was = 1 + len(c.indexes)
		drop := map[string]bool{}
		for _, n := range names {
			switch {
			case n == "*":
				for _, ix := range c.indexes {
					drop[ix.spec.Name] = true
				}
			case n == "_id_":
				return errorf(CodeInvalidOptions, "InvalidOptions", "cannot drop _id index")
			default:
				found := false
				for _, ix := range c.indexes {
					if ix.spec.Name == n {
						found = true
					}
				}
				if !found {
					return errorf(CodeIndexNotFound, "IndexNotFound", "index not found with name [%s]", n)
				}
				drop[n] = true
			}
		}
		if len(drop) == 0 {
			return nil
		}
		keep := c.indexes[:0:0]
		var dropped, specs bson.A
		for _, ix := range c.indexes {
			if drop[ix.spec.Name] {
				dropped = append(dropped, ix.spec.Name)
				specs = append(specs, ix.spec.Doc())
			} else {
				keep = append(keep, ix)
			}
		}
		c.indexes = keep
		// uuid and indexes are for change streams (dropIndexes events).
		obj, _ := bson.Marshal(bson.D{{Key: "names", Value: dropped}, {Key: "uuid", Value: c.uuid}, {Key: "indexes", Value: specs}})
		_, err := e.commit([]Entry{{Op: OpDropIndexes, NS: ns, Object: obj}})
		return err
	})
	return was, err
}

func (e *Engine) dropIndexByKey(ns Namespace, key bson.D) (int, error) {
	e.mu.RLock()
	c := e.colls[ns]
	name := ""
	if c != nil {
		if sameKey(key, idIndexSpec().Key) {
			name = "_id_"
		}
		for _, ix := range c.indexes {
			if sameKey(ix.spec.Key, key) {
				name = ix.spec.Name
			}
		}
	}
	e.mu.RUnlock()
	if c == nil {
		return 0, nsNotFound(ns)
	}
	if name == "" {
		return 0, errorf(CodeIndexNotFound, "IndexNotFound", "can't find index with key: %v", key)
	}
	return e.dropIndexes(ns, []string{name})
}
