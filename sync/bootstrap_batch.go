package sync

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// copyBatch is download for a batch of remote documents (the bootstrap):
// the same decisions, with one read per side for bases, remote versions and
// local documents and one bulk write each for documents and bases, instead
// of five round trips per document.
func (s *Syncer) copyBatch(ctx context.Context, cs *collState, docs []bson.Raw) error {
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

	bases, err := loadMetas(ctx, s.localDocs, keys)
	if err != nil {
		return fmt.Errorf("sync: read bases of %s: %w", cs.name, err)
	}
	versions, err := loadMetas(ctx, s.remoteVers, keys)
	s.remoteResult(err)
	if err != nil {
		return fmt.Errorf("sync: read remote versions of %s: %w", cs.name, err)
	}
	local := s.cfg.Local.Collection(cs.name)
	locals := map[string]bson.Raw{}
	cur, err := local.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: idList}}}})
	if err != nil {
		return fmt.Errorf("sync: read local %s: %w", cs.name, err)
	}
	for cur.Next(ctx) {
		locals[idKey(cur.Current.Lookup("_id"))] = append(bson.Raw(nil), cur.Current...)
	}
	if err := cur.Err(); err != nil {
		_ = cur.Close(ctx)
		return fmt.Errorf("sync: read local %s: %w", cs.name, err)
	}
	_ = cur.Close(ctx)

	var docWrites, metaWrites []mongo.WriteModel
	var applied []SyncEvent
	for i, rdoc := range docs {
		id := ids[i]
		owned, err := s.owns(rdoc)
		if err != nil {
			return err // fail closed
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
		switch lhash := contentHash(locals[idKey(id)]); lhash {
		case rhash:
		case base.Hash:
			if rdoc == nil {
				docWrites = append(docWrites, mongo.NewDeleteOneModel().SetFilter(idFilter(id)))
			} else {
				docWrites = append(docWrites, mongo.NewReplaceOneModel().SetFilter(idFilter(id)).SetReplacement(rdoc).SetUpsert(true))
			}
			applied = append(applied, SyncEvent{Collection: cs.name, ID: id, Direction: Download, Deleted: rdoc == nil, Version: theirs.Version})
		default:
			continue // a local edit is pending; its upload decides
		}
		if err := s.settlePending(ctx, base, theirs.Version, nil); err != nil {
			return err
		}
		theirs.Doc = s.baseDoc(rdoc)
		metaWrites = append(metaWrites, mongo.NewUpdateOneModel().
			SetFilter(idFilter(keys[i].(bson.RawValue))).
			SetUpdate(metaUpdate(theirs, true)).SetUpsert(true))
	}
	// Documents before bases: a crash in between leaves documents equal to
	// the remote, which the next attempt recognises (only the base moves).
	if len(docWrites) > 0 {
		if _, err := local.BulkWrite(ctx, docWrites, options.BulkWrite().SetOrdered(false)); err != nil {
			return fmt.Errorf("sync: apply remote %s: %w", cs.name, err)
		}
	}
	if len(metaWrites) > 0 {
		if _, err := s.localDocs.BulkWrite(ctx, metaWrites, options.BulkWrite().SetOrdered(false)); err != nil {
			return fmt.Errorf("sync: save bases of %s: %w", cs.name, err)
		}
	}
	cs.downloaded.Add(uint64(len(applied)))
	for _, ev := range applied {
		s.notify(ev)
	}
	return nil
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
