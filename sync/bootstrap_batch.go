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
	sess, err := s.cfg.Local.Client().StartSession()
	if err != nil {
		return err
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	var applied []SyncEvent
	_, err = sess.WithTransaction(ctx, func(tctx context.Context) (any, error) {
		var err error
		applied, err = s.copyBatchTxn(tctx, cs, docs, versions, ids, keys, idList)
		return nil, err
	})
	if err != nil {
		abandonTxn(ctx, sess, s.localDocs) // a failed commit may leave it open
		return err
	}
	written := make([]bson.RawValue, len(applied))
	for i, ev := range applied {
		written[i] = ev.ID
	}
	// The upload stream, which starts from a point captured before the
	// copy, skips these documents' insert events (see ownWrites).
	s.ownLocal.add(sess.OperationTime(), cs.name, written...)
	cs.downloaded.Add(uint64(len(applied)))
	for _, ev := range applied {
		s.notify(ev)
	}
	return nil
}

// copyBatchTxn is copyBatch inside its transaction; it returns the
// documents applied.
func (s *Syncer) copyBatchTxn(ctx context.Context, cs *collState, docs []bson.Raw, versions map[string]docMeta, ids []bson.RawValue, keys, idList bson.A) ([]SyncEvent, error) {
	bases, err := loadMetas(ctx, s.localDocs, keys)
	if err != nil {
		return nil, fmt.Errorf("sync: read bases of %s: %w", cs.name, err)
	}
	local := s.cfg.Local.Collection(cs.name)
	locals := map[string]bson.Raw{}
	cur, err := local.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: idList}}}})
	if err != nil {
		return nil, fmt.Errorf("sync: read local %s: %w", cs.name, err)
	}
	for cur.Next(ctx) {
		locals[idKey(cur.Current.Lookup("_id"))] = append(bson.Raw(nil), cur.Current...)
	}
	if err := cur.Err(); err != nil {
		_ = cur.Close(ctx)
		return nil, fmt.Errorf("sync: read local %s: %w", cs.name, err)
	}
	_ = cur.Close(ctx)

	var docWrites, metaWrites []mongo.WriteModel
	var inserts []bson.Raw
	var applied []SyncEvent
	// writeOf[j] and insertOf[j] are the index in applied (and metaWrites)
	// of docWrites[j] and inserts[j].
	var writeOf, insertOf []int
	for i, rdoc := range docs {
		id := ids[i]
		owned, err := s.owns(rdoc)
		if err != nil {
			return nil, err // fail closed
		}
		if !owned {
			rdoc = nil
		}
		rhash := contentHash(rdoc)
		base, ok := bases[idKey(id)]
		if !ok {
			base = docMeta{Hash: absentHash}
		}
		if rhash == base.Hash {
			continue
		}
		theirs, rok := versions[idKey(id)]
		if !rok || theirs.Hash != rhash {
			theirs = docMeta{Version: Version{HLC: s.clock.stamp(s.clock.Now(), base.Version), Replica: RemoteReplica}, Hash: rhash, Deleted: rdoc == nil}
		}
		s.clock.Observe(theirs.HLC)
		ldoc, lexists := locals[idKey(id)]
		switch lhash := contentHash(ldoc); lhash {
		case rhash:
		case base.Hash:
			switch {
			case rdoc == nil:
				docWrites = append(docWrites, mongo.NewDeleteOneModel().SetFilter(idFilter(id)))
				writeOf = append(writeOf, len(applied))
			case !lexists:
				inserts = append(inserts, rdoc)
				insertOf = append(insertOf, len(applied))
			default:
				docWrites = append(docWrites, mongo.NewReplaceOneModel().SetFilter(idFilter(id)).SetReplacement(rdoc).SetUpsert(true))
				writeOf = append(writeOf, len(applied))
			}
			applied = append(applied, SyncEvent{Collection: cs.name, ID: id, Direction: Download, Deleted: rdoc == nil, Version: theirs.Version})
		default:
			continue // a local edit is pending; its upload decides
		}
		// From here on, applied and metaWrites grow together except for
		// the "already equal" case, which adds a base only: keep them
		// aligned with a placeholder event.
		if len(applied) == len(metaWrites) {
			applied = append(applied, SyncEvent{})
		}
		if err := s.settlePending(ctx, base, theirs.Version, nil); err != nil {
			return nil, err
		}
		theirs.Doc = s.baseDoc(rdoc)
		_, bexists := bases[idKey(id)]
		metaWrites = append(metaWrites, baseWrite(keys[i].(bson.RawValue), theirs, bexists))
	}
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
