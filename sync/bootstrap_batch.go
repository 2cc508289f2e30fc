package sync

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// copyBatch is download for a batch of remote documents (the bootstrap):
// the same decisions, with one read each for bases and local documents (the
// remote versions come with the prefetched batch) and one bulk write each
// for documents and bases, instead of five round trips per document.
//
// Documents and bases that do not exist locally yet (all of them in a first
// bootstrap) are inserted rather than upserted: an insert is cheaper for the
// server, and one that fails on a duplicate _id means the application wrote
// that document locally meanwhile, a pending local edit whose upload decides
// (its base is then left alone, as below for a local edit seen at read time).
func (s *Syncer) copyBatch(ctx context.Context, cs *collState, b remoteBatch) error {
	docs, versions := b.docs, b.versions
	if len(docs) == 0 {
		return nil
	}
	ids := make([]bson.RawValue, len(docs))
	keys := make(bson.A, len(docs))
	idList := make(bson.A, len(docs))
	for i, d := range docs {
		ids[i] = d.Lookup("_id")
		keys[i] = bsonValue(metaKey(cs.name, ids[i]))
		idList[i] = ids[i]
	}
	unlock := s.lockMany(cs.name, ids)
	defer unlock()

	// One local transaction per batch: the local documents are read in its
	// snapshot, so an application write made since makes it retry (and
	// then counts as a pending local edit) instead of being overwritten,
	// and documents and their bases commit together. Applied alone, a
	// document whose base was not saved looked like a local edit when the
	// remote changed again, and could overwrite the newer remote edit.
	var (
		applied   []SyncEvent
		conflicts []Conflict
		txnSess   *mongo.Session
	)
	err := s.localTxn(ctx, func(tctx context.Context) error {
		txnSess = mongo.SessionFromContext(tctx)
		var err error
		applied, conflicts, err = s.copyBatchTxn(tctx, cs, docs, versions, ids, keys, idList)
		return err
	})
	if err != nil {
		return err
	}
	written := make([]bson.RawValue, len(applied))
	for i, ev := range applied {
		written[i] = ev.ID
	}
	// The upload stream, which starts from a point captured before the
	// copy, skips these documents' insert events (see ownWrites).
	s.ownLocal.add(txnSess.OperationTime(), cs.name, written...)
	cs.downloaded.Add(uint64(len(applied)))
	if s.cfg.OnConflict != nil {
		for _, c := range conflicts {
			s.callback(func() { s.cfg.OnConflict(c) })
		}
	}
	s.notify(applied...)
	return nil
}

// copyBatchTxn is copyBatch inside its transaction; it returns the
// documents applied.
func (s *Syncer) copyBatchTxn(ctx context.Context, cs *collState, docs []bson.Raw, versions map[string]docMeta, ids []bson.RawValue, keys, idList bson.A) ([]SyncEvent, []Conflict, error) {
	bases, locals, err := s.readBatchLocal(ctx, cs, keys, idList)
	if err != nil {
		return nil, nil, err
	}
	var w batchWrites
	for i, rdoc := range docs {
		id := ids[i]
		owned, err := s.owns(rdoc)
		if err != nil {
			return nil, nil, err // fail closed
		}
		if !owned {
			rdoc = nil
		}
		f := downloadFacts{Replica: s.replica, Remote: rdoc, RemoteHash: contentHash(rdoc)}
		var bexists bool
		if f.Base, bexists = bases[idKey(id)]; !bexists {
			f.Base = docMeta{Hash: absentHash}
		}
		if downloadIsEcho(f.RemoteHash, f.Base) {
			continue
		}
		f.RemoteVer, f.RemoteVerOK = versions[idKey(id)]
		var lexists bool
		f.Local, lexists = locals[idKey(id)]
		f.LocalHash, f.PT = contentHash(f.Local), s.clock.Now()
		if err := s.batchDoc(ctx, cs, &w, f, id, keys[i].(bson.RawValue), bexists, lexists); err != nil {
			return nil, nil, err
		}
	}
	applied, err := s.writeBatch(ctx, cs, &w)
	if err != nil {
		return nil, nil, err
	}
	return applied, w.conflicts, nil
}

// writeBatch runs a batch's local writes (documents, then bases) and
// returns the documents applied: a write a local insert beat is dropped
// with its base (that local edit is pending, and its upload decides).
func (s *Syncer) writeBatch(ctx context.Context, cs *collState, w *batchWrites) ([]SyncEvent, error) {
	local := s.cfg.Local.Collection(cs.name)
	docWrites, metaWrites, inserts, applied, writeOf, insertOf := w.docWrites, w.metaWrites, w.inserts, w.applied, w.writeOf, w.insertOf
	// Documents before bases: a crash in between leaves documents equal to
	// the remote, which the next attempt recognises (only the base moves).
	var lost []int // indexes in applied of the writes a local insert beat
	if len(inserts) > 0 {
		raced, err := insertRaw(ctx, local, inserts)
		if err != nil {
			return nil, fmt.Errorf("sync: apply remote %s: %w", cs.name, err)
		}
		for _, j := range raced {
			lost = append(lost, insertOf[j])
		}
	}
	if len(docWrites) > 0 {
		_, err := local.BulkWrite(ctx, docWrites, options.BulkWrite().SetOrdered(false))
		raced, err := insertsRaced(err)
		if err != nil {
			return nil, fmt.Errorf("sync: apply remote %s: %w", cs.name, err)
		}
		for _, j := range raced {
			lost = append(lost, writeOf[j])
		}
	}
	for _, i := range lost {
		metaWrites[i] = nil
		applied[i] = SyncEvent{}
	}
	metaWrites = slices.DeleteFunc(metaWrites, func(w mongo.WriteModel) bool { return w == nil })
	applied = slices.DeleteFunc(applied, func(ev SyncEvent) bool { return ev.Collection == "" })
	if err := writeBases(ctx, s.localDocs, metaWrites); err != nil {
		return nil, fmt.Errorf("sync: save bases of %s: %w", cs.name, err)
	}
	return applied, nil
}

// batchDoc plans one document of a bootstrap batch (its facts f) and adds
// its writes to w; conflicts the plan settles are logged in the batch's
// transaction.
func (s *Syncer) batchDoc(ctx context.Context, cs *collState, w *batchWrites, f downloadFacts, id, key bson.RawValue, bexists, lexists bool) error {
	// The same plan as a download's: a batch is many downloads in one
	// transaction (a pending conflict settled by the outcome the local
	// side already holds was dropped unlogged here when only the
	// version was compared).
	plan := planDownload(f, s.rules(nil))
	for _, o := range plan.Observe {
		s.clock.Observe(o)
	}
	logs := plan.Log
	if plan.LandedLog != nil {
		logs = append(logs, *plan.LandedLog)
	}
	for _, c := range logs {
		added, err := s.recordConflict(ctx, c)
		if err != nil {
			return err
		}
		if added {
			w.conflicts = append(w.conflicts, c)
		}
	}
	switch plan.Action {
	case downloadApply:
		w.apply(id, f.Remote, lexists, SyncEvent{Collection: cs.name, ID: id, Direction: Download, Deleted: f.Remote == nil, Version: plan.Theirs.Version})
		w.base(baseWrite(key, plan.Theirs, bexists))
	case downloadSettle:
		w.base(baseWrite(key, plan.Theirs, bexists))
	default: // nothing, or a local edit is pending (its upload decides)
		if plan.Landed {
			w.base(baseWrite(key, plan.Base, bexists))
		}
	}
	return nil
}

// readBatchLocal reads a batch's base entries and local documents (by
// idKey).
func (s *Syncer) readBatchLocal(ctx context.Context, cs *collState, keys, idList bson.A) (map[string]docMeta, map[string]bson.Raw, error) {
	bases, err := loadMetas(ctx, s.localDocs, keys)
	if err != nil {
		return nil, nil, fmt.Errorf("sync: read bases of %s: %w", cs.name, err)
	}
	local := s.cfg.Local.Collection(cs.name)
	locals := map[string]bson.Raw{}
	cur, err := local.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: idList}}}})
	if err != nil {
		return nil, nil, fmt.Errorf("sync: read local %s: %w", cs.name, err)
	}
	for cur.Next(ctx) {
		locals[idKey(cur.Current.Lookup("_id"))] = append(bson.Raw(nil), cur.Current...)
	}
	if err := cur.Err(); err != nil {
		_ = cur.Close(ctx)
		return nil, nil, fmt.Errorf("sync: read local %s: %w", cs.name, err)
	}
	_ = cur.Close(ctx)

	return bases, locals, nil
}

// batchWrites collects a bootstrap batch's local writes. applied and
// metaWrites stay aligned (a base written without a document write gets a
// placeholder event), so a document write a local insert beat can drop its
// base too; writeOf[j] and insertOf[j] are the index in applied of
// docWrites[j] and inserts[j].
type batchWrites struct {
	docWrites, metaWrites []mongo.WriteModel
	inserts               []bson.Raw
	applied               []SyncEvent
	writeOf, insertOf     []int
	// conflicts are the entries the batch added to the conflict log,
	// reported to OnConflict once the transaction committed.
	conflicts []Conflict
}

// apply adds the write that makes the local side hold rdoc (nil: deleted;
// exists: a local document is there now).
func (w *batchWrites) apply(id bson.RawValue, rdoc bson.Raw, exists bool, ev SyncEvent) {
	switch {
	case rdoc == nil:
		w.docWrites = append(w.docWrites, mongo.NewDeleteOneModel().SetFilter(idFilter(id)))
		w.writeOf = append(w.writeOf, len(w.applied))
	case !exists:
		w.inserts = append(w.inserts, rdoc)
		w.insertOf = append(w.insertOf, len(w.applied))
	default:
		w.docWrites = append(w.docWrites, mongo.NewReplaceOneModel().SetFilter(idFilter(id)).SetReplacement(rdoc).SetUpsert(true))
		w.writeOf = append(w.writeOf, len(w.applied))
	}
	w.applied = append(w.applied, ev)
}

// base adds a base entry write (after apply, or alone).
func (w *batchWrites) base(m mongo.WriteModel) {
	if len(w.applied) == len(w.metaWrites) {
		w.applied = append(w.applied, SyncEvent{})
	}
	w.metaWrites = append(w.metaWrites, m)
}

// baseWrite is the write that makes the base entry key hold m: an insert
// of metaUpdate's fields when no entry exists, else metaUpdate as an
// upsert. (Only $set carries over to the insert: $unset of a field a new
// entry does not have is a no-op.)
func baseWrite(key bson.RawValue, m docMeta, exists bool) mongo.WriteModel {
	up := metaUpdate(m, true)
	if !exists {
		var set bson.D
		for _, e := range up {
			if e.Key == "$set" {
				set, _ = e.Value.(bson.D)
			}
		}
		return mongo.NewInsertOneModel().SetDocument(append(bson.D{{Key: "_id", Value: key}}, set...))
	}
	return mongo.NewUpdateOneModel().SetFilter(idFilter(key)).SetUpdate(up).SetUpsert(true)
}

// writeBases runs base entry writes: the inserts as raw insert commands
// (see insertRaw), the rest as one unordered bulk write. A duplicate _id is
// an error here: entries are only inserted where none was found under the
// batch's locks, so another writer got in, and the batch is retried.
func writeBases(ctx context.Context, mc *mongo.Collection, writes []mongo.WriteModel) error {
	var raws []bson.Raw
	var rest []mongo.WriteModel
	for _, w := range writes {
		ins, ok := w.(*mongo.InsertOneModel)
		if !ok {
			rest = append(rest, w)
			continue
		}
		raw, err := bson.Marshal(ins.Document)
		if err != nil {
			return err
		}
		raws = append(raws, raw)
	}
	if len(raws) > 0 {
		raced, err := insertRaw(ctx, mc, raws)
		if err != nil {
			return err
		}
		if len(raced) > 0 {
			return fmt.Errorf("%d base entries were created meanwhile by another writer", len(raced))
		}
	}
	if len(rest) > 0 {
		if _, err := mc.BulkWrite(ctx, rest, options.BulkWrite().SetOrdered(false)); err != nil {
			return err
		}
	}
	return nil
}

// insertsRaced returns the indexes of the writes of a bulk write that
// failed on a duplicate _id (a local insert won the race), or the error when
// anything else failed (a duplicate on another unique index is a real
// failure, retried and reported).
func insertsRaced(err error) ([]int, error) {
	if err == nil {
		return nil, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return nil, err
	}
	idx := make([]int, 0, len(bwe.WriteErrors))
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 || !dupOnID(we.WriteError) {
			return nil, err
		}
		idx = append(idx, we.Index)
	}
	return idx, nil
}

// idKey identifies an _id by its BSON type and bytes.
func idKey(id bson.RawValue) string { return string(rune(id.Type)) + string(id.Value) }

// loadMetas reads the meta entries with the given keys, by _id.
func loadMetas(ctx context.Context, mc *mongo.Collection, keys bson.A) (map[string]docMeta, error) {
	cur, err := mc.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: keys}}}})
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	out := map[string]docMeta{}
	for cur.Next(ctx) {
		var m docMeta
		if err := cur.Decode(&m); err != nil {
			return nil, err
		}
		out[idKey(cur.Current.Lookup("_id", "id"))] = m
	}
	return out, cur.Err()
}

// lockMany takes the locks of every id, in stripe order so that two batch
// lockers cannot deadlock (single-document lockers hold one stripe only).
func (s *Syncer) lockMany(coll string, ids []bson.RawValue) func() {
	var stripes []int
	for _, id := range ids {
		h := fnv.New32a()
		h.Write([]byte(coll))
		h.Write(id.Value)
		stripes = append(stripes, int(h.Sum32()%uint32(len(s.locks))))
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	for _, i := range stripes {
		s.locks[i].Lock()
	}
	return func() {
		for _, i := range stripes {
			s.locks[i].Unlock()
		}
	}
}

// dupOnID reports whether a duplicate key error is on the _id index: by its
// keyPattern, or by the index name in the message of servers that send none.
func dupOnID(we mongo.WriteError) bool {
	if kp, err := we.Raw.LookupErr("keyPattern"); err == nil {
		doc, ok := kp.DocumentOK()
		if !ok {
			return false
		}
		elems, err := doc.Elements()
		return err == nil && len(elems) == 1 && elems[0].Key() == "_id"
	}
	return strings.Contains(we.Message, "index: _id_ ")
}
