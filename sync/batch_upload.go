package sync

import (
	"context"
	"errors"
	"fmt"

	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Batches of changes (listen.ListenBatch) are handled with a handful of
// round trips per batch instead of per change: at a few hundred changes a
// second and up, the round trips of one-change-at-a-time handling were most
// of the process's CPU (about eight per change in each direction).
//
// Only the common case is batched: a plan that writes one side from the
// other with nothing pending, logged or merged (batchable). Every other
// document of a batch goes through the one-document path (upload,
// download), which reads everything again under its own lock: the
// decisions stay in one place, and the batch path adds none of its own.

// errBatchAlone is what the batch's conflict rules return instead of
// calling Config.Resolve: a document that needs a decision goes through
// the one-document path, so Resolve runs once, there.
var errBatchAlone = errors.New("sync: decided alone")

// handleUploads handles a batch of local changes: runs of changes of
// distinct documents, in order (a document changed twice in a batch starts
// a new run, so its changes stay in order).
func (s *Syncer) handleUploads(ctx context.Context, cs *collState, evs []*listen.ChangeEvent[bson.Raw]) error {
	err := forRuns(evs, func(ev *listen.ChangeEvent[bson.Raw]) bool { return s.ownEcho(&s.ownLocal, cs.name, ev) },
		func(run []*listen.ChangeEvent[bson.Raw]) error {
			if len(run) == 1 || s.upLimit != nil {
				// The rate limit counts uploads one by one.
				for _, ev := range run {
					if err := s.upLimit.wait(ctx); err != nil {
						return err // stopping: the change stays unhandled
					}
					if err := s.upload(ctx, cs, ev.DocumentKey.Lookup("_id"), ev.OperationType, rawDoc(ev.FullDocument), ev.WallTime, ev.ClusterTime); err != nil {
						return err
					}
				}
				return nil
			}
			return s.uploadMany(ctx, cs, run)
		})
	if err != nil {
		cs.retrying.Store(1)
		if !errors.Is(err, context.Canceled) || ctx.Err() == nil {
			s.reportError(err)
		}
		return err
	}
	cs.retrying.Store(0)
	return nil
}

// forRuns calls f for each run of evs, skipping those skip reports: the
// longest stretches of changes of distinct documents, in order.
func forRuns(evs []*listen.ChangeEvent[bson.Raw], skip func(*listen.ChangeEvent[bson.Raw]) bool, f func([]*listen.ChangeEvent[bson.Raw]) error) error {
	var run []*listen.ChangeEvent[bson.Raw]
	seen := map[string]bool{}
	for _, ev := range evs {
		if skip(ev) {
			continue
		}
		k := idKey(ev.DocumentKey.Lookup("_id"))
		if seen[k] {
			if err := f(run); err != nil {
				return err
			}
			run, seen = nil, map[string]bool{}
		}
		run = append(run, ev)
		seen[k] = true
	}
	if len(run) == 0 {
		return nil
	}
	return f(run)
}

// uploadOne is one document of a batched upload.
type uploadOne struct {
	ev   *listen.ChangeEvent[bson.Raw]
	f    uploadFacts
	plan uploadPlan
}

// uploadMany uploads a run of changes of distinct documents: the batchable
// ones in one remote transaction, the others one by one afterwards.
func (s *Syncer) uploadMany(ctx context.Context, cs *collState, run []*listen.ChangeEvent[bson.Raw]) error {
	alone, err := s.uploadManyLocked(ctx, cs, run)
	if err != nil {
		return err
	}
	for _, ev := range alone {
		if err := s.upload(ctx, cs, ev.DocumentKey.Lookup("_id"), ev.OperationType, rawDoc(ev.FullDocument), ev.WallTime, ev.ClusterTime); err != nil {
			return err
		}
	}
	return nil
}

// uploadManyLocked is uploadMany's batch, under the documents' locks; it
// returns the changes left to the one-document path.
func (s *Syncer) uploadManyLocked(ctx context.Context, cs *collState, run []*listen.ChangeEvent[bson.Raw]) (alone []*listen.ChangeEvent[bson.Raw], err error) {
	ids, keys, idList := batchIDs(cs.name, run)
	unlock := s.lockMany(cs.name, ids)
	defer unlock()
	bases, locals, err := s.readBatchLocal(ctx, cs, keys, idList)
	if err != nil {
		return nil, err
	}
	var todo []uploadOne
	for i, ev := range run {
		f := uploadFacts{Coll: cs.name, ID: ids[i], Replica: s.replica, Local: locals[idKey(ids[i])]}
		f.LocalHash = contentHash(f.Local)
		var ok bool
		if f.Base, ok = bases[idKey(ids[i])]; !ok {
			f.Base = docMeta{Hash: absentHash}
		}
		switch {
		case skipUpload(ev.OperationType, rawDoc(ev.FullDocument), f.Local, f.LocalHash, f.Base):
			continue
		case f.Base.Pending != nil || f.Base.RemoteAhead:
			alone = append(alone, ev)
			continue
		}
		if f.Local != nil {
			owned, err := s.owns(f.Local)
			if err != nil {
				return nil, err // fail closed: retried, never synced unchecked
			}
			if !owned {
				s.reportError(fmt.Errorf("%w: local %s %s refused upload", ErrNotOwned, cs.name, ids[i]))
				continue
			}
		}
		f.Mine = docMeta{Version: Version{HLC: s.clock.stamp(eventHLC(ev.WallTime, ev.ClusterTime), f.Base.Version), Replica: s.replica}, Hash: f.LocalHash, Deleted: f.Local == nil}
		todo = append(todo, uploadOne{ev: ev, f: f})
	}
	if len(todo) == 0 {
		return alone, nil
	}
	done, later, err := s.uploadManyRemote(ctx, cs, todo)
	s.cfg.Logger.Debug("sync: batch upload", "coll", cs.name, "docs", len(done), "alone", len(later), "err", err)
	if err != nil {
		return nil, fmt.Errorf("sync: upload to %s: %w", cs.name, err)
	}
	alone = append(alone, later...)
	if len(done) == 0 {
		// Every document needs the one-document path. (A bulk write of
		// nothing is refused: the batch failed on it forever.)
		return alone, nil
	}
	// The local side: the new bases, in one bulk write. (Nothing else:
	// a batchable plan writes nothing locally and logs nothing.)
	writes := make([]mongo.WriteModel, len(done))
	for i, u := range done {
		agreed := u.plan.Agreed
		agreed.Doc = s.baseDoc(u.plan.AgreedDoc)
		u.plan.Agreed = agreed
		done[i] = u
		writes[i] = mongo.NewUpdateOneModel().SetFilter(idFilter(bsonValue(metaKey(cs.name, u.f.ID)))).SetUpdate(metaUpdate(agreed, true)).SetUpsert(true)
	}
	if _, err := s.localDocs.BulkWrite(ctx, writes, options.BulkWrite().SetOrdered(false)); err != nil {
		s.cfg.Logger.Debug("sync: upload not finished", "coll", cs.name, "docs", len(done), "err", err)
		return nil, fmt.Errorf("sync: save bases of %s: %w", cs.name, err)
	}
	evs := make([]SyncEvent, 0, len(done))
	for _, u := range done {
		evs = uploadEvents(evs, cs, u.f.ID, u.plan.Outcome, u.f.Local, u.plan.LocalDoc, u.plan.Agreed.Version, nil)
	}
	s.notify(evs...)
	return alone, nil
}

// uploadManyRemote is the remote transaction of a batched upload: the
// remote side of every document is read (two reads), planned, and the
// batchable plans written (two bulk writes). done are the documents
// written or found equal; later those left to the one-document path.
func (s *Syncer) uploadManyRemote(ctx context.Context, cs *collState, todo []uploadOne) (done []uploadOne, later []*listen.ChangeEvent[bson.Raw], err error) {
	ids := make([]bson.RawValue, len(todo))
	keys, idList := make(bson.A, len(todo)), make(bson.A, len(todo))
	for i, u := range todo {
		ids[i], idList[i], keys[i] = u.f.ID, u.f.ID, bsonValue(metaKey(cs.name, u.f.ID))
	}
	rules := s.rules(func(Conflict) (bson.Raw, error) { return nil, errBatchAlone })
	var (
		written []bson.RawValue
		txnSess *mongo.Session
	)
	remote := s.cfg.Remote.Collection(cs.name)
	err = s.remoteTxn(ctx, func(tctx context.Context) error {
		txnSess = mongo.SessionFromContext(tctx)
		done, later, written = done[:0], later[:0], written[:0]
		rdocs, err := readDocs(tctx, remote, idList)
		if err != nil {
			return err
		}
		rvers, err := loadMetas(tctx, s.remoteVers, keys)
		if err != nil {
			return err
		}
		var verW, docW []mongo.WriteModel
		for i, u := range todo {
			f := u.f
			k := idKey(f.ID)
			f.Remote = rdocs[k]
			if f.Remote != nil {
				owned, err := s.owns(f.Remote)
				if err != nil {
					return err
				}
				f.RemoteRefused = !owned
			}
			f.RemoteHash = contentHash(f.Remote)
			f.RemoteVer, f.RemoteVerOK = rvers[k]
			plan, err := planUpload(f, rules)
			if err != nil || !plan.batchable(f) {
				later = append(later, u.ev)
				continue
			}
			for _, o := range plan.Observe {
				s.clock.Observe(o)
			}
			if plan.WriteRemote {
				verW = append(verW, mongo.NewUpdateOneModel().SetFilter(idFilter(keys[i].(bson.RawValue))).SetUpdate(metaUpdate(plan.Mine, false)).SetUpsert(true))
				docW = append(docW, docWrite(f.ID, plan.UploadDoc))
				written = append(written, f.ID)
			}
			done = append(done, uploadOne{ev: u.ev, f: f, plan: plan})
		}
		if len(verW) == 0 {
			return nil
		}
		if _, err := s.remoteVers.BulkWrite(tctx, verW); err != nil {
			return err
		}
		_, err = remote.BulkWrite(tctx, docW)
		return err
	})
	s.remoteResult(err)
	if err != nil {
		return nil, nil, err
	}
	if txnSess != nil {
		// The download stream skips these writes' echoes.
		s.ownRemote.add(txnSess.OperationTime(), cs.name, written...)
	}
	return done, later, nil
}

// batchable reports whether p (for facts f) is one a batch carries out: the
// local edit goes up (or both sides already agree), judged against the
// stored base, with nothing pending, merged, logged or written locally.
func (p uploadPlan) batchable(f uploadFacts) bool {
	return (p.Outcome == outcomeUploaded || p.Outcome == outcomeSame) &&
		!p.WriteLocal && p.Pending != pendingMark && len(p.LogFirst) == 0 &&
		p.Logged == nil && p.Landed == nil && p.MergeErr == nil &&
		p.Base.Version == f.Base.Version && f.Base.Pending == nil && !f.Base.RemoteAhead
}

// docWrite is writeDoc as a bulk write model.
func docWrite(id bson.RawValue, doc bson.Raw) mongo.WriteModel {
	if doc == nil {
		return mongo.NewDeleteOneModel().SetFilter(idFilter(id))
	}
	return mongo.NewReplaceOneModel().SetFilter(idFilter(id)).SetReplacement(doc).SetUpsert(true)
}

// batchIDs returns the _ids of run's documents, their meta keys and the
// _ids as a bson.A for $in.
func batchIDs(coll string, run []*listen.ChangeEvent[bson.Raw]) ([]bson.RawValue, bson.A, bson.A) {
	ids := make([]bson.RawValue, len(run))
	keys, idList := make(bson.A, len(run)), make(bson.A, len(run))
	for i, ev := range run {
		ids[i] = ev.DocumentKey.Lookup("_id")
		idList[i], keys[i] = ids[i], bsonValue(metaKey(coll, ids[i]))
	}
	return ids, keys, idList
}

// readDocs reads the documents with the given _ids from coll (by idKey).
func readDocs(ctx context.Context, coll *mongo.Collection, idList bson.A) (map[string]bson.Raw, error) {
	cur, err := coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: idList}}}})
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	out := make(map[string]bson.Raw, len(idList))
	for cur.Next(ctx) {
		out[idKey(cur.Current.Lookup("_id"))] = append(bson.Raw(nil), cur.Current...)
	}
	return out, cur.Err()
}
