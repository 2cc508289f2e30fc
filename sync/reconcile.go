package sync

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// ReconcileResult counts what Reconcile found out of step.
type ReconcileResult struct {
	// Uploaded and Downloaded count documents that differed from their
	// base and went through the upload or download path.
	Uploaded, Downloaded int
}

// Reconcile compares every document of every synced collection on both
// sides with its base (what both sides last agreed on) and sends each
// difference through the normal upload or download path, conflicts
// included. It is what recovers changes a change stream can no longer
// deliver (the oplog window was exceeded while a side was away) and
// documents that existed locally before the first sync. Safe to run at any
// time, concurrently with the running directions; it needs the remote.
func (s *Syncer) Reconcile(ctx context.Context) (ReconcileResult, error) {
	var res ReconcileResult
	if s.cfg.Gateway != nil {
		return res, ErrGatewayRemote
	}
	if err := s.ensureReplica(ctx); err != nil {
		return res, err
	}
	for _, name := range s.cfg.Collections {
		r, err := s.reconcile(ctx, s.collState(name))
		res.Uploaded += r.Uploaded
		res.Downloaded += r.Downloaded
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// collState returns the running state of coll, or a detached one when the
// syncer is stopped.
func (s *Syncer) collState(name string) *collState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.colls[name]; cs != nil {
		return cs
	}
	return &collState{name: name}
}

func (s *Syncer) ensureReplica(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.replica != "" {
		return nil
	}
	r, err := s.replicaID(ctx)
	if err != nil {
		return fmt.Errorf("sync: replica id: %w", err)
	}
	s.replica = r
	return nil
}

func (s *Syncer) reconcile(ctx context.Context, cs *collState) (ReconcileResult, error) {
	up, err := s.reconcileLocal(ctx, cs)
	if err != nil {
		return ReconcileResult{Uploaded: up}, err
	}
	down, err := s.reconcileRemote(ctx, cs)
	return ReconcileResult{Uploaded: up, Downloaded: down}, err
}

// reconcileLocal uploads every local document that differs from its base,
// and every delete the local change stream may no longer hold.
func (s *Syncer) reconcileLocal(ctx context.Context, cs *collState) (int, error) {
	return s.scanLocal(ctx, cs, false)
}

// scanLocal counts (dry) or uploads the local differences from the bases.
func (s *Syncer) scanLocal(ctx context.Context, cs *collState, dry bool) (int, error) {
	var res ReconcileResult
	bases, err := s.loadBases(ctx, cs.name)
	if err != nil {
		return 0, err
	}
	// Local side: documents that differ from their base, then bases whose
	// document is gone locally (a delete the stream no longer has).
	seen := map[string]bool{}
	err = s.scan(ctx, s.cfg.Local.Collection(cs.name), func(doc bson.Raw) error {
		id := doc.Lookup("_id")
		k := string(id.Value) + string(rune(id.Type))
		seen[k] = true
		if contentHash(doc) == bases[k].Hash {
			return nil
		}
		res.Uploaded++
		if dry {
			return nil
		}
		if err := s.upLimit.wait(ctx); err != nil {
			return err
		}
		return s.upload(ctx, cs, id, "", nil, s.cfg.Clock(), bson.Timestamp{})
	})
	if err != nil {
		return res.Uploaded, err
	}
	for k, b := range bases {
		if seen[k] || b.Hash == absentHash {
			continue
		}
		res.Uploaded++
		if dry {
			continue
		}
		if err := s.upLimit.wait(ctx); err != nil {
			return res.Uploaded, err
		}
		if err := s.upload(ctx, cs, b.id, "", nil, s.cfg.Clock(), bson.Timestamp{}); err != nil {
			return res.Uploaded, err
		}
	}
	return res.Uploaded, nil
}

// reconcileRemote downloads every remote document (and delete) that
// differs from its base.
func (s *Syncer) reconcileRemote(ctx context.Context, cs *collState) (int, error) {
	var res ReconcileResult
	bases, err := s.loadBases(ctx, cs.name)
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	err = s.scan(ctx, s.cfg.Remote.Collection(cs.name), func(doc bson.Raw) error {
		id := doc.Lookup("_id")
		k := string(id.Value) + string(rune(id.Type))
		seen[k] = true
		if contentHash(doc) == bases[k].Hash {
			return nil
		}
		res.Downloaded++
		return s.download(ctx, cs, id, doc, true, time.Time{}, bson.Timestamp{})
	})
	if err != nil {
		return res.Downloaded, err
	}
	for k, b := range bases {
		if seen[k] || b.Hash == absentHash {
			continue
		}
		res.Downloaded++
		if err := s.download(ctx, cs, b.id, nil, true, time.Time{}, bson.Timestamp{}); err != nil {
			return res.Downloaded, err
		}
	}
	return res.Downloaded, nil
}

type baseEntry struct {
	docMeta
	id bson.RawValue
}

// loadBases reads the bases of coll keyed by _id type and bytes.
func (s *Syncer) loadBases(ctx context.Context, coll string) (map[string]baseEntry, error) {
	// Only versions and hashes: not FieldMerge's base documents.
	cur, err := s.localDocs.Find(ctx, bson.D{{Key: "_id.c", Value: coll}},
		options.Find().SetProjection(bson.D{{Key: "b", Value: 0}, {Key: "pc", Value: 0}}))
	if err != nil {
		return nil, fmt.Errorf("sync: read bases of %q: %w", coll, err)
	}
	defer cur.Close(ctx)
	out := map[string]baseEntry{}
	for cur.Next(ctx) {
		var m docMeta
		if err := cur.Decode(&m); err != nil {
			return nil, fmt.Errorf("sync: decode base of %q: %w", coll, err)
		}
		id := cur.Current.Lookup("_id", "id")
		id = bson.RawValue{Type: id.Type, Value: append([]byte(nil), id.Value...)}
		out[string(id.Value)+string(rune(id.Type))] = baseEntry{docMeta: m, id: id}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("sync: read bases of %q: %w", coll, err)
	}
	return out, nil
}

// scan calls f for each document of coll in _id order.
func (s *Syncer) scan(ctx context.Context, coll *mongo.Collection, f func(bson.Raw) error) error {
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(int32(s.cfg.BatchSize)))
	if coll.Database() == s.cfg.Remote {
		s.remoteResult(err)
	}
	if err != nil {
		return fmt.Errorf("sync: scan %s: %w", coll.Name(), err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		if err := f(append(bson.Raw(nil), cur.Current...)); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("sync: scan %s: %w", coll.Name(), err)
	}
	return nil
}
