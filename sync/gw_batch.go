package sync

import (
	"context"

	"github.com/mongotide/mongotide/gateway/client"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A snapshot page or a pulled page of distinct documents is carried out in
// a handful of local round trips instead of several per document: the
// local documents and bases are read with $in, the planner decides each,
// and one local transaction re-reads the documents to apply (so an
// application write made meanwhile is not overwritten) and writes them
// with their bases in two bulk writes. What the batch cannot decide alone
// (a check that needs the gateway's current document, a document the
// application changed meanwhile) goes the one-document way after it.

// gwItem is one document of a batch: its _id and the gateway's side.
type gwItem struct {
	id     bson.RawValue
	remote gwRemote
}

// gwDocItems turns a snapshot page into items.
func gwDocItems(docs []client.Document) []gwItem {
	out := make([]gwItem, len(docs))
	for i, d := range docs {
		out[i] = gwItem{id: d.ID(), remote: gwRemote{Doc: d.Doc, Version: d.Version}}
	}
	return out
}

// gwChangeRuns splits pulled changes into runs of distinct documents, in
// order (a document changed twice starts a new run, so its changes stay in
// order).
func gwChangeRuns(changes []client.Change) [][]gwItem {
	var runs [][]gwItem
	var cur []gwItem
	seen := map[string]bool{}
	for _, ch := range changes {
		k := idKey(ch.ID)
		if seen[k] {
			runs, cur, seen = append(runs, cur), nil, map[string]bool{}
		}
		seen[k] = true
		cur = append(cur, gwItem{id: ch.ID, remote: gwRemote{Doc: ch.Doc, Version: ch.Version, Time: ch.Time}})
	}
	if len(cur) > 0 {
		runs = append(runs, cur)
	}
	return runs
}

// gwPlanned is an item with what the batch decided.
type gwPlanned struct {
	gwItem
	local bson.Raw // the local document as read (the expectation)
	next  gwBase   // the base to save
	write bool     // write remote.Doc locally
	save  bool     // save next (apply, or a base that changed or is marked)
}

// gwApplyBatch carries out items (distinct documents) and returns the
// SyncEvents of the local writes.
func (s *Syncer) gwApplyBatch(ctx context.Context, cs *collState, items []gwItem, epoch int64) ([]SyncEvent, error) {
	switch len(items) {
	case 0:
		return nil, nil
	case 1:
		ev, err := s.gwDownload(ctx, cs, items[0].id, items[0].remote, epoch)
		if ev == nil || err != nil {
			return nil, err
		}
		return []SyncEvent{*ev}, nil
	}
	evs, later, err := s.gwApplyLocked(ctx, cs, items, epoch)
	if err != nil {
		return evs, err
	}
	for _, it := range later {
		ev, err := s.gwDownload(ctx, cs, it.id, it.remote, epoch)
		if err != nil {
			return evs, err
		}
		if ev != nil {
			evs = append(evs, *ev)
		}
	}
	return evs, nil
}

// gwApplyLocked is the batched part, under the documents' locks; later
// are the items left to the one-document way (which takes the locks
// itself).
func (s *Syncer) gwApplyLocked(ctx context.Context, cs *collState, items []gwItem, epoch int64) (evs []SyncEvent, later []gwItem, err error) {
	ids := make(bson.A, len(items))
	rids := make([]bson.RawValue, len(items))
	keys := make(bson.A, len(items))
	for i, it := range items {
		ids[i], rids[i], keys[i] = it.id, it.id, bsonValue(metaKey(cs.name, it.id))
	}
	defer s.lockMany(cs.name, rids)()
	locals, err := s.readLocals(ctx, cs.name, ids)
	if err != nil {
		return nil, nil, err
	}
	bases, err := s.gwLoadBases(ctx, keys)
	if err != nil {
		return nil, nil, err
	}
	var plans []gwPlanned
	for _, it := range items {
		p, ok := gwPlanItem(it, locals[idKey(it.id)], bases, cs.name, epoch)
		if !ok {
			later = append(later, it)
			continue
		}
		if p.save {
			plans = append(plans, p)
		}
	}
	if len(plans) == 0 {
		return nil, later, nil
	}
	stale, err := s.gwWriteBatch(ctx, cs.name, plans, epoch)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range plans {
		switch {
		case stale[idKey(p.id)]:
			later = append(later, p.gwItem)
		case p.write:
			cs.downloaded.Add(1)
			evs = append(evs, SyncEvent{Collection: cs.name, ID: p.id, Direction: Download, Deleted: p.remote.Doc == nil})
		}
	}
	return evs, later, nil
}

// gwPlanItem decides one item of a batch; false leaves it to the
// one-document way (a check needs the gateway's current document).
func gwPlanItem(it gwItem, local bson.Raw, bases map[string]gwBase, coll string, epoch int64) (gwPlanned, bool) {
	b, ok := bases[idKey(it.id)]
	if !ok {
		b = newGwBase()
	}
	p := gwPlanned{gwItem: it, local: local}
	switch planGatewayDownload(b, contentHash(local), it.remote) {
	case gwDownCheck:
		return p, false
	case gwDownSkip:
		p.next, p.save = b, epoch != 0
	case gwDownEcho:
		p.next, p.save = b.echoed(), true
	case gwDownLocalAhead:
		b.RemoteAhead = true
		p.next, p.save = b, true
	case gwDownApply:
		p.next = gwBase{Hash: contentHash(it.remote.Doc), Version: it.remote.Version, Doc: it.remote.Doc}
		p.write, p.save = contentHash(local) != contentHash(it.remote.Doc), true
	}
	return p, true
}

// readLocals reads the local documents with _id in ids, by idKey.
func (s *Syncer) readLocals(ctx context.Context, coll string, ids bson.A) (map[string]bson.Raw, error) {
	cur, err := s.cfg.Local.Collection(coll).Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	out := map[string]bson.Raw{}
	for cur.Next(ctx) {
		out[idKey(cur.Current.Lookup("_id"))] = append(bson.Raw(nil), cur.Current...)
	}
	return out, cur.Err()
}

// gwLoadBases reads the bases with the given keys, by the idKey of their
// document's _id.
func (s *Syncer) gwLoadBases(ctx context.Context, keys bson.A) (map[string]gwBase, error) {
	cur, err := s.gwDocs().Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: keys}}}})
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	out := map[string]gwBase{}
	for cur.Next(ctx) {
		var b gwBase
		if err := cur.Decode(&b); err != nil {
			return nil, err
		}
		if b.Hash == "" {
			b.Hash = absentHash
		}
		out[idKey(cur.Current.Lookup("_id", "id"))] = b
	}
	return out, cur.Err()
}

// gwWriteBatch writes plans in one local transaction: the documents to
// apply whose local content is still what was read, and the bases. It
// returns the documents found changed meanwhile (nothing of theirs is
// written).
func (s *Syncer) gwWriteBatch(ctx context.Context, coll string, plans []gwPlanned, epoch int64) (map[string]bool, error) {
	local := s.cfg.Local.Collection(coll)
	var stale map[string]bool
	err := s.localTxn(ctx, func(tctx context.Context) error {
		stale = map[string]bool{}
		var ids bson.A
		for _, p := range plans {
			if p.write {
				ids = append(ids, p.id)
			}
		}
		now := map[string]bson.Raw{}
		if len(ids) > 0 {
			var err error
			if now, err = s.readLocals(tctx, coll, ids); err != nil {
				return err
			}
		}
		var docs, metas []mongo.WriteModel
		for _, p := range plans {
			k := idKey(p.id)
			if p.write && contentHash(now[k]) != contentHash(p.local) {
				stale[k] = true
				continue
			}
			if p.write {
				if p.remote.Doc == nil {
					docs = append(docs, mongo.NewDeleteOneModel().SetFilter(idFilter(p.id)))
				} else {
					docs = append(docs, mongo.NewReplaceOneModel().SetFilter(idFilter(p.id)).SetReplacement(p.remote.Doc).SetUpsert(true))
				}
			}
			metas = append(metas, mongo.NewUpdateOneModel().SetFilter(idFilter(bsonValue(metaKey(coll, p.id)))).
				SetUpdate(s.gwBaseUpdate(p.next, epoch)).SetUpsert(true))
		}
		if len(docs) > 0 {
			if _, err := local.BulkWrite(tctx, docs, options.BulkWrite().SetOrdered(false)); err != nil {
				return err
			}
		}
		if len(metas) > 0 {
			if _, err := s.gwDocs().BulkWrite(tctx, metas, options.BulkWrite().SetOrdered(false)); err != nil {
				return err
			}
		}
		return nil
	})
	return stale, err
}
