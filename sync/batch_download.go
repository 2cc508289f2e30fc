package sync

import (
	"context"
	"fmt"

	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// handleDownloads handles a batch of remote changes, in runs of distinct
// documents (see handleUploads).
func (s *Syncer) handleDownloads(ctx context.Context, cs *collState, evs []*listen.ChangeEvent[bson.Raw]) error {
	err := forRuns(evs, func(ev *listen.ChangeEvent[bson.Raw]) bool { return s.ownEcho(&s.ownRemote, cs.name, ev) },
		func(run []*listen.ChangeEvent[bson.Raw]) error {
			if len(run) == 1 {
				ev := run[0]
				return s.download(ctx, cs, ev.DocumentKey.Lookup("_id"), nil, false, ev.WallTime, ev.ClusterTime)
			}
			return s.downloadMany(ctx, cs, run)
		})
	if err != nil {
		s.reportError(err)
	}
	return err
}

// downloadOne is one document of a batched download.
type downloadOne struct {
	ev      *listen.ChangeEvent[bson.Raw]
	id, key bson.RawValue
	f       downloadFacts
	bexists bool // a base entry exists
}

// downloadMany downloads a run of changes of distinct documents: the
// batchable ones in one local transaction, the others one by one
// afterwards.
func (s *Syncer) downloadMany(ctx context.Context, cs *collState, run []*listen.ChangeEvent[bson.Raw]) error {
	alone, err := s.downloadManyLocked(ctx, cs, run)
	if err != nil {
		return err
	}
	for _, ev := range alone {
		if err := s.download(ctx, cs, ev.DocumentKey.Lookup("_id"), nil, false, ev.WallTime, ev.ClusterTime); err != nil {
			return err
		}
	}
	return nil
}

// downloadManyLocked is downloadMany's batch, under the documents' locks:
// the remote documents, the bases and the remote versions in one read
// each, then one local transaction that reads the local documents and
// writes documents and bases in bulk. It returns the changes left to the
// one-document path.
func (s *Syncer) downloadManyLocked(ctx context.Context, cs *collState, run []*listen.ChangeEvent[bson.Raw]) ([]*listen.ChangeEvent[bson.Raw], error) {
	ids, keys, idList := batchIDs(cs.name, run)
	unlock := s.lockMany(cs.name, ids)
	defer unlock()
	rdocs, err := readDocs(ctx, s.cfg.Remote.Collection(cs.name), idList)
	s.remoteResult(err)
	if err != nil {
		return nil, fmt.Errorf("sync: read remote %s: %w", cs.name, err)
	}
	bases, err := loadMetas(ctx, s.localDocs, keys)
	if err != nil {
		return nil, fmt.Errorf("sync: read bases of %s: %w", cs.name, err)
	}
	var todo []downloadOne
	var tkeys, tids bson.A
	for i, ev := range run {
		k := idKey(ids[i])
		rdoc := rdocs[k]
		if rdoc != nil {
			owned, err := s.owns(rdoc)
			if err != nil {
				return nil, err // fail closed
			}
			if !owned {
				rdoc = nil // someone else's: for this replica it does not exist
			}
		}
		d := downloadOne{ev: ev, id: ids[i], key: keys[i].(bson.RawValue)}
		d.f = downloadFacts{Replica: s.replica, Remote: rdoc, RemoteHash: contentHash(rdoc)}
		if d.f.Base, d.bexists = bases[k]; !d.bexists {
			d.f.Base = docMeta{Hash: absentHash}
		}
		if downloadIsEcho(d.f.RemoteHash, d.f.Base) {
			continue
		}
		d.f.PT = eventHLC(ev.WallTime, ev.ClusterTime)
		if ev.ClusterTime.IsZero() {
			d.f.PT = s.clock.Now()
		}
		todo = append(todo, d)
		tkeys, tids = append(tkeys, keys[i]), append(tids, ids[i])
	}
	if len(todo) == 0 {
		return nil, nil
	}
	vers, err := loadMetas(ctx, s.remoteVers, tkeys)
	s.remoteResult(err)
	if err != nil {
		return nil, fmt.Errorf("sync: read remote versions of %s: %w", cs.name, err)
	}
	for i := range todo {
		todo[i].f.RemoteVer, todo[i].f.RemoteVerOK = vers[idKey(todo[i].id)]
	}
	return s.downloadManyTxn(ctx, cs, todo, tids)
}

// downloadManyTxn is the local transaction of a batched download.
func (s *Syncer) downloadManyTxn(ctx context.Context, cs *collState, todo []downloadOne, tids bson.A) ([]*listen.ChangeEvent[bson.Raw], error) {
	var (
		applied []SyncEvent
		later   []*listen.ChangeEvent[bson.Raw]
		txnSess *mongo.Session
	)
	local := s.cfg.Local.Collection(cs.name)
	err := s.localTxn(ctx, func(tctx context.Context) error {
		txnSess = mongo.SessionFromContext(tctx)
		later = later[:0]
		// Read in the transaction's snapshot: an application write made
		// since makes it retry (and then counts as a pending local edit)
		// instead of being overwritten.
		locals, err := readDocs(tctx, local, tids)
		if err != nil {
			return fmt.Errorf("sync: read local %s: %w", cs.name, err)
		}
		var w batchWrites
		for _, d := range todo {
			f := d.f
			var lexists bool
			f.Local, lexists = locals[idKey(d.id)]
			f.LocalHash = contentHash(f.Local)
			plan := planDownload(f, s.rules(nil))
			if !plan.batchable() {
				later = append(later, d.ev)
				continue
			}
			for _, o := range plan.Observe {
				s.clock.Observe(o)
			}
			switch plan.Action {
			case downloadApply:
				w.apply(d.id, f.Remote, lexists, SyncEvent{Collection: cs.name, ID: d.id, Direction: Download, Deleted: f.Remote == nil, Version: plan.Theirs.Version})
				w.base(baseWrite(d.key, plan.Theirs, d.bexists))
			case downloadSettle:
				w.base(baseWrite(d.key, plan.Theirs, d.bexists))
			}
		}
		applied, err = s.writeBatch(tctx, cs, &w)
		return err
	})
	if err != nil {
		return nil, err
	}
	written := make([]bson.RawValue, 0, len(applied))
	for _, ev := range applied {
		if ev.Collection != "" {
			written = append(written, ev.ID)
		}
	}
	// The upload stream skips these writes' echoes.
	s.ownLocal.add(txnSess.OperationTime(), cs.name, written...)
	cs.downloaded.Add(uint64(len(written)))
	evs := make([]SyncEvent, 0, len(written))
	for _, ev := range applied {
		if ev.Collection != "" {
			evs = append(evs, ev)
		}
	}
	s.notify(evs...)
	return later, nil
}

// batchable reports whether p is one a batch carries out: the remote
// document applied, or the base settled, or nothing, with no landed upload,
// conflict to log or deferral.
func (p downloadPlan) batchable() bool {
	return (p.Action == downloadApply || p.Action == downloadSettle || p.Action == downloadNothing) &&
		!p.Landed && len(p.Log) == 0 && !p.MarkRemoteAhead
}
