package engine

import (
	"bytes"
	"sort"

	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// maxDocSize is the largest document the engine stores (MongoDB's 16 MiB
// BSON limit).
const maxDocSize = 16 * 1024 * 1024

// opState runs data operations against one set of collections: the
// committed ones (auto-commit, caller holds Engine.mu exclusively) or a
// transaction's private copies.
type opState struct {
	e     *Engine
	txn   *Txn
	colls map[Namespace]*collection
	// bypassValidation skips the validator (bypassDocumentValidation).
	bypassValidation bool
}

func (st *opState) coll(ns Namespace) *collection { return st.colls[ns] }

// ensureColl returns ns, creating it (an OpCreate entry) when missing.
func (st *opState) ensureColl(ns Namespace) (*collection, error) {
	if c := st.colls[ns]; c != nil {
		return c, nil
	}
	if err := validateNS(ns); err != nil {
		return nil, err
	}
	c, err := newCollection(ns, newUUID(), CollectionOptions{})
	if err != nil {
		return nil, err
	}
	entry := createEntry(c)
	if st.txn != nil {
		st.txn.created[ns] = true
		st.colls[ns] = c
		st.txn.addEntry(entry)
		return c, nil
	}
	st.colls[ns] = c
	if _, err := st.e.commit([]Entry{entry}); err != nil {
		delete(st.colls, ns)
		return nil, err
	}
	return c, nil
}

// apply performs one document write: rec replaces old (insert when old is
// nil, delete when rec is nil).
func (st *opState) apply(c *collection, old *docRec, oldDoc bson.D, rec *docRec, doc bson.D, entry Entry) error {
	if st.txn != nil {
		return st.txn.write(c, old, oldDoc, rec, doc, entry)
	}
	var saved *collection
	if c.opts.Capped && st.e.store != nil {
		saved = c.copy() // an insert may evict documents: undo restores them
	}
	var err error
	if rec == nil {
		err = c.remove(old, oldDoc)
	} else {
		err = c.put(old, oldDoc, rec, doc)
	}
	if err != nil {
		return err
	}
	if old != nil {
		st.e.noteWrite(c, old.id, old)
	} else {
		st.e.noteWrite(c, rec.id, nil)
	}
	ts, err := st.e.commit([]Entry{entry})
	if err != nil {
		// The journal did not take it: the write must not stay applied.
		if saved != nil {
			*c = *saved
		} else {
			c.undoPut(old, oldDoc, rec, doc)
		}
		return err
	}
	if rec != nil {
		rec.ver = ts
	}
	return nil
}

func (st *opState) applyContext() mql.ApplyContext {
	if st.txn != nil {
		// Transactions run without e.mu while other commits write e.last.
		return mql.ApplyContext{Now: st.e.now(), ClusterTime: st.e.clusterTime()}
	}
	// Autocommit ops hold e.mu exclusively.
	return mql.ApplyContext{Now: st.e.now(), ClusterTime: st.e.last}
}

// prepareInsert puts _id first (adding an ObjectID when missing) and checks
// that it is a valid _id.
func prepareInsert(doc bson.D) (bson.D, any, error) {
	pos := -1
	for i, e := range doc {
		if e.Key == "_id" {
			pos = i
			break
		}
	}
	var id any
	switch {
	case pos == 0:
		id = doc[0].Value
	case pos < 0:
		id = bson.NewObjectID()
		out := make(bson.D, 0, len(doc)+1)
		out = append(out, bson.E{Key: "_id", Value: id})
		doc = append(out, doc...)
	default:
		id = doc[pos].Value
		out := make(bson.D, 0, len(doc))
		out = append(out, doc[pos])
		out = append(out, doc[:pos]...)
		doc = append(out, doc[pos+1:]...)
	}
	switch v := id.(type) {
	case bson.A:
		return nil, nil, errorf(53, "InvalidIdField", "The '_id' value cannot be of type array")
	case bson.Regex:
		return nil, nil, errorf(53, "InvalidIdField", "can't use a regex for _id")
	case bson.Undefined:
		return nil, nil, errorf(53, "InvalidIdField", "can't use a undefined for _id")
	case bson.D:
		for _, e := range v {
			if len(e.Key) > 0 && e.Key[0] == '$' {
				return nil, nil, errorf(CodeDollarPrefixed, "DollarPrefixedFieldName", "_id fields may not contain '$'-prefixed fields: %s is not valid for storage.", e.Key)
			}
		}
	}
	return doc, id, nil
}

// CodeDollarPrefixed is DollarPrefixedFieldName (52).
const CodeDollarPrefixed int32 = 52

func encodeForStorage(doc bson.D) (bson.Raw, error) {
	raw, err := encodeDoc(doc)
	if err != nil {
		return nil, err
	}
	if len(raw) > maxDocSize {
		return nil, errorf(CodeBSONObjectTooLarge, "BSONObjectTooLarge", "object to insert too large. size in bytes: %d, max size: %d", len(raw), maxDocSize)
	}
	return raw, nil
}

func validationError() *Error {
	return errorf(CodeDocumentValidationFailure, "DocumentValidationFailure", "Document failed validation")
}

func (st *opState) insert(ns Namespace, doc bson.D) (any, error) {
	doc, id, err := prepareInsert(doc)
	if err != nil {
		return nil, err
	}
	raw, err := encodeForStorage(doc)
	if err != nil {
		return nil, err
	}
	c, err := st.ensureColl(ns)
	if err != nil {
		return nil, err
	}
	if c.validator != nil && !st.bypassValidation && c.validates(nil) && !c.validator.Match(doc) {
		return nil, c.validationError(doc)
	}
	if err := c.checkCappedInsert(raw); err != nil {
		return nil, err
	}
	if err := c.checkTimeseriesInsert(doc); err != nil {
		return nil, err
	}
	if _, ok := c.get(id); ok {
		return nil, dupIDError(ns, id)
	}
	rec := &docRec{id: id, raw: raw}
	entry := Entry{Op: OpInsert, NS: ns, DocumentKey: idKeyRaw(raw), Document: raw, ImagesEnabled: c.opts.ChangeStreamPreAndPostImages}
	if err := st.apply(c, nil, nil, rec, doc, entry); err != nil {
		return nil, err
	}
	return id, nil
}

// match is a matched document and its decoded form.
type match struct {
	rec *docRec
	doc bson.D
}

// idEquality recognises {_id: <value>} and {_id: {$eq: <value>}} filters,
// which are answered by one B-tree lookup.
func idEquality(filter bson.D) (any, bool) {
	if len(filter) != 1 || filter[0].Key != "_id" {
		return nil, false
	}
	v := filter[0].Value
	switch x := v.(type) {
	case bson.D:
		if len(x) > 0 && len(x[0].Key) > 0 && x[0].Key[0] == '$' {
			if len(x) == 1 && x[0].Key == "$eq" {
				if _, isDoc := x[0].Value.(bson.D); !isDoc {
					if _, isArr := x[0].Value.(bson.A); !isArr {
						return x[0].Value, true
					}
				}
			}
			return nil, false
		}
	case bson.A, bson.Regex:
		return nil, false
	}
	return v, true
}

// scan calls fn for each document of tree matching filter (m compiled from
// it), in natural order, until fn returns false.
// needDoc false lets an empty filter skip decoding (match.doc is then nil).
func scan(v view, filter bson.D, m *mql.Matcher, needDoc bool, fn func(match) bool) error {
	if v.byID == nil {
		return nil
	}
	if len(filter) > 0 && m.Collation() != nil {
		// The trees compare strings by bytes: a collated filter scans.
		filter = bson.D{{Key: "$and", Value: bson.A{filter}}}
	}
	if id, ok := idEquality(filter); ok {
		rec, found := v.byID.Get(&docRec{id: id})
		if !found {
			return nil
		}
		doc, err := decodeDoc(rec.raw)
		if err != nil {
			return err
		}
		if m.Match(doc) { // the B-tree equates 1 and 1.0; the matcher decides
			fn(match{rec, doc})
		}
		return nil
	}
	recs, ok := v.indexLookup(filter)
	if !ok {
		recs, ok = planID(filter).planned(v)
	}
	if ok {
		for _, rec := range recs {
			doc, err := decodeDoc(rec.raw)
			if err != nil {
				return err
			}
			if m.Match(doc) && !fn(match{rec, doc}) {
				return nil
			}
		}
		return nil
	}
	var err error
	v.natural.Scan(func(rec *docRec) bool {
		if len(filter) == 0 && !needDoc {
			return fn(match{rec: rec})
		}
		var doc bson.D
		if doc, err = decodeDoc(rec.raw); err != nil {
			return false
		}
		if len(filter) > 0 && !m.Match(doc) {
			return true
		}
		return fn(match{rec, doc})
	})
	return err
}

// candidates returns the documents a write statement acts on: at most
// limit (0 = all), the first ones by sort when sort is given.
func candidates(v view, filter bson.D, m *mql.Matcher, srt *mql.Sort, limit int) ([]match, error) {
	if srt != nil && limit > 0 {
		return topK(v, filter, m, srt, limit)
	}
	var out []match
	err := scan(v, filter, m, true, func(mt match) bool {
		out = append(out, mt)
		return srt != nil || limit == 0 || len(out) < limit
	})
	if err != nil {
		return nil, err
	}
	if srt != nil {
		sort.SliceStable(out, func(i, j int) bool { return srt.Compare(out[i].doc, out[j].doc) < 0 })
		if limit > 0 && len(out) > limit {
			out = out[:limit]
		}
	}
	return out, nil
}

func newSort(spec bson.D) (*mql.Sort, error) {
	if len(spec) == 0 {
		return nil, nil
	}
	return mql.NewSort(spec)
}

func (st *opState) update(ns Namespace, args UpdateArgs) (UpdateResult, error) {
	st.bypassValidation = args.BypassDocumentValidation
	var res UpdateResult
	upd, err := mql.NewUpdate(args.Update, mql.UpdateOptions{ArrayFilters: args.ArrayFilters, KeepEmptyTimestamps: args.KeepEmptyTimestamps})
	if err != nil {
		return res, err
	}
	if args.Multi && upd.IsReplacement() {
		return res, errorf(CodeFailedToParse, "FailedToParse", "multi update is not supported for replacement-style update")
	}
	m, coll, err := collatedMatcher(args.Filter, args.Collation, st.defaultCollation(ns))
	if err != nil {
		return res, err
	}
	srt, err := newSortCollation(args.Sort, coll)
	if err != nil {
		return res, err
	}
	if c := st.coll(ns); c != nil {
		limit := 1
		if args.Multi {
			limit = 0
		}
		cands, err := candidates(c.view(), args.Filter, m, srt, limit)
		if err != nil {
			return res, err
		}
		for _, cd := range cands {
			res.Matched++
			_, changed, err := st.updateDoc(c, cd, upd, m)
			if err != nil {
				return res, err
			}
			if changed {
				res.Modified++
			}
		}
	}
	if res.Matched == 0 && args.Upsert {
		id, _, err := st.upsert(ns, args.Filter, upd)
		if err != nil {
			return res, err
		}
		res.UpsertedID = id
	}
	return res, nil
}

// updateDoc applies upd to one matched document and returns the stored
// result (the old document when nothing changed).
func (st *opState) updateDoc(c *collection, cd match, upd *mql.Update, m *mql.Matcher) (bson.Raw, bool, error) {
	ctx := st.applyContext()
	if m != nil && upd.UsesPositional() {
		if ok, idx, has := m.MatchArrayIndex(cd.doc); ok && has {
			ctx.PositionalIndex, ctx.HasPositional = idx, true
		}
	}
	newDoc, desc, err := upd.Apply(cd.doc, ctx)
	if err != nil {
		return nil, false, err
	}
	if len(newDoc) == 0 || newDoc[0].Key != "_id" {
		newDoc, _, err = prepareInsert(newDoc)
		if err != nil {
			return nil, false, err
		}
	}
	raw, err := encodeForStorage(newDoc)
	if err != nil {
		return nil, false, err
	}
	if bytes.Equal(raw, cd.rec.raw) {
		return cd.rec.raw, false, nil
	}
	if c.validator != nil && !st.bypassValidation && c.validates(cd.doc) && !c.validator.Match(newDoc) {
		return nil, false, c.validationError(newDoc)
	}
	rec := &docRec{id: cd.rec.id, raw: raw}
	entry := Entry{Op: OpUpdate, NS: c.ns, DocumentKey: idKeyRaw(raw), Document: raw, ImagesEnabled: c.opts.ChangeStreamPreAndPostImages}
	if upd.IsReplacement() {
		entry.Op = OpReplace
	} else {
		if desc == nil {
			desc = &mql.UpdateDescription{}
		}
		entry.UpdateDescription = desc
	}
	if entry.ImagesEnabled {
		entry.PreImage = cd.rec.raw
	}
	if err := st.apply(c, cd.rec, cd.doc, rec, newDoc, entry); err != nil {
		return nil, false, err
	}
	return raw, true, nil
}

// upsert inserts the document an update with upsert builds when nothing
// matched, and returns its _id and stored form.
func (st *opState) upsert(ns Namespace, filter bson.D, upd *mql.Update) (any, bson.Raw, error) {
	ctx := st.applyContext()
	ctx.Insert = true
	seed, err := mql.UpsertSeed(filter)
	if err != nil {
		return nil, nil, err
	}
	base := seed
	if upd.IsReplacement() {
		// a replacement keeps only the _id of the query
		base = bson.D{}
		for _, e := range seed {
			if e.Key == "_id" {
				base = bson.D{e}
			}
		}
	}
	doc, _, err := upd.Apply(base, ctx)
	if err != nil {
		return nil, nil, err
	}
	id, err := st.insert(ns, doc)
	if err != nil {
		return nil, nil, err
	}
	rec, _ := st.coll(ns).get(id)
	return id, rec.raw, nil
}

func (st *opState) delete(ns Namespace, filter bson.D, limit int) (int64, error) {
	return st.deleteCollation(ns, filter, limit, nil)
}

func (st *opState) deleteMatching(ns Namespace, filter bson.D, m *mql.Matcher, limit int) (int64, error) {
	c := st.coll(ns)
	if c == nil {
		return 0, nil
	}
	cands, err := candidates(c.view(), filter, m, nil, limit)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, cd := range cands {
		if err := st.deleteDoc(c, cd); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (st *opState) deleteDoc(c *collection, cd match) error {
	entry := Entry{Op: OpDelete, NS: c.ns, DocumentKey: idKeyRaw(cd.rec.raw), ImagesEnabled: c.opts.ChangeStreamPreAndPostImages}
	if entry.ImagesEnabled {
		entry.PreImage = cd.rec.raw
	}
	return st.apply(c, cd.rec, cd.doc, nil, nil, entry)
}

func (st *opState) findAndModify(ns Namespace, args FindAndModifyArgs) (FindAndModifyResult, error) {
	st.bypassValidation = args.BypassDocumentValidation
	var res FindAndModifyResult
	var upd *mql.Update
	var err error
	if args.Remove {
		if args.Update != nil {
			return res, errorf(CodeFailedToParse, "FailedToParse", "Cannot specify both an update and remove=true")
		}
		if args.Upsert {
			return res, errorf(CodeFailedToParse, "FailedToParse", "Cannot specify both upsert=true and remove=true")
		}
		if args.New {
			return res, errorf(CodeFailedToParse, "FailedToParse", "Cannot specify both new=true and remove=true; 'remove' always returns the deleted document")
		}
	} else {
		if args.Update == nil {
			return res, errorf(CodeFailedToParse, "FailedToParse", "Either an update or remove=true must be specified")
		}
		if upd, err = mql.NewUpdate(args.Update, mql.UpdateOptions{ArrayFilters: args.ArrayFilters, KeepEmptyTimestamps: args.KeepEmptyTimestamps}); err != nil {
			return res, err
		}
	}
	var proj *mql.Projection
	if len(args.Fields) > 0 {
		if proj, err = mql.NewProjection(args.Fields); err != nil {
			return res, err
		}
	}
	m, coll, err := collatedMatcher(args.Query, args.Collation, st.defaultCollation(ns))
	if err != nil {
		return res, err
	}
	srt, err := newSortCollation(args.Sort, coll)
	if err != nil {
		return res, err
	}
	var cands []match
	if c := st.coll(ns); c != nil {
		if cands, err = candidates(c.view(), args.Query, m, srt, 1); err != nil {
			return res, err
		}
	}
	var value bson.Raw
	switch {
	case len(cands) == 0 && args.Upsert:
		id, raw, err := st.upsert(ns, args.Query, upd)
		if err != nil {
			return res, err
		}
		res.N, res.Upserted = 1, id
		if args.New {
			value = raw
		}
	case len(cands) == 0:
		return res, nil
	case args.Remove:
		if err := st.deleteDoc(st.coll(ns), cands[0]); err != nil {
			return res, err
		}
		res.N, value = 1, cands[0].rec.raw
	default:
		raw, _, err := st.updateDoc(st.coll(ns), cands[0], upd, m)
		if err != nil {
			return res, err
		}
		res.N, res.UpdatedExisting = 1, true
		if args.New {
			value = raw
		} else {
			value = cands[0].rec.raw
		}
	}
	if value != nil && proj != nil {
		if value, err = project(proj, value, nil); err != nil {
			return res, err
		}
	}
	res.Value = value
	return res, nil
}

// project applies a projection to a stored document (doc is its decoded
// form, or nil).
func project(p *mql.Projection, raw bson.Raw, doc bson.D) (bson.Raw, error) {
	if doc == nil {
		var err error
		if doc, err = decodeDoc(raw); err != nil {
			return nil, err
		}
	}
	out, err := p.Apply(doc)
	if err != nil {
		return nil, err
	}
	return encodeDoc(out)
}
