package sync

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// CompactResult reports one Compact.
type CompactResult struct {
	Collections []CollectionCompaction
}

// CollectionCompaction is what Compact did for one collection.
type CollectionCompaction struct {
	Name string
	// Before is the remote cluster time before which tombstones were
	// collected: the latest of every registered replica's synced-past
	// position and the retention cut.
	Before bson.Timestamp
	// Removed counts the tombstones collected.
	Removed int64
}

// compactMargin (seconds) separates a tombstone's write time from the
// positions compaction compares it with (see Compact).
const compactMargin = 120

// compactedKey names the remote versions entry that records how far a
// collection was compacted.
func compactedKey(coll string) string { return "compacted:" + coll }

// Compact collects, on the remote, the version entries of deleted
// documents (tombstones) that no replica can still need: those written
// before every registered replica's synced-past position (see Replicas),
// or before the retention window (Config.Retention). Version entries of
// live documents stay: they are the data's own versions. It needs the
// remote, is safe while any replica syncs (an entry a replica has not synced
// past is kept), and refreshes this replica's own registry entry first
// when the Syncer runs. A running Syncer also compacts every
// Config.CompactInterval.
func (s *Syncer) Compact(ctx context.Context) (CompactResult, error) {
	var res CompactResult
	if s.cfg.Gateway != nil {
		return res, ErrGatewayRemote
	}
	if err := s.ensureReplica(ctx); err != nil {
		return res, err
	}
	if s.isRunning() {
		if err := s.heartbeat(ctx); err != nil {
			return res, err
		}
	}
	return compactTombstones(ctx, s.cfg.Remote, s.cfg.Collections, s.cfg.Retention)
}

// compactTombstones is Compact's work on the remote, shared with
// RemoteWriter.Compact: for each collection, the tombstones written before
// the latest of every registered replica's synced-past position and the
// retention cut (minus compactMargin) are removed, and the cut is recorded.
func compactTombstones(ctx context.Context, remote *mongo.Database, colls []string, retentionWindow time.Duration) (CompactResult, error) {
	var res CompactResult
	vers := remote.Collection(remoteVersionsColl)
	now, err := operationTime(ctx, remote)
	if err != nil {
		return res, fmt.Errorf("sync: compact: remote time: %w", err)
	}
	retention := bson.Timestamp{T: now.T - uint32(min(retentionWindow/time.Second, time.Duration(now.T)))}
	replicas, err := listReplicas(ctx, remote)
	if err != nil {
		return res, err
	}
	for _, name := range colls {
		cut := retention
		if len(replicas) > 0 {
			horizon := replicas[0].SyncedPast[name]
			for _, r := range replicas[1:] {
				if ts := r.SyncedPast[name]; ts.Before(horizon) {
					horizon = ts
				}
			}
			if cut.Before(horizon) {
				cut = horizon
			}
		}
		// An entry's t is the time its transaction wrote it; the delete
		// commits later (at most transactionLifetimeLimitSeconds, 60 s by
		// default, later): a replica synced past t may not have seen the
		// commit yet. Two minutes of margin cover it.
		cut = bson.Timestamp{T: cut.T - min(cut.T, compactMargin)}
		dr, err := vers.DeleteMany(ctx, bson.D{
			{Key: "_id.c", Value: name}, {Key: "d", Value: true},
			{Key: "t", Value: bson.D{{Key: "$lt", Value: cut}}},
		})
		if err != nil {
			return res, fmt.Errorf("sync: compact %s: %w", name, err)
		}
		if _, err := vers.UpdateOne(ctx, bson.D{{Key: "_id", Value: compactedKey(name)}},
			bson.D{{Key: "$max", Value: bson.D{{Key: "before", Value: cut}}}}, options.UpdateOne().SetUpsert(true)); err != nil {
			return res, fmt.Errorf("sync: compact %s: record: %w", name, err)
		}
		res.Collections = append(res.Collections, CollectionCompaction{Name: name, Before: cut, Removed: dr.DeletedCount})
	}
	return res, nil
}

func (s *Syncer) isRunning() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

// runCompaction compacts every Config.CompactInterval until ctx ends.
func (s *Syncer) runCompaction(ctx context.Context) {
	if s.cfg.CompactInterval < 0 {
		return
	}
	t := time.NewTicker(s.cfg.CompactInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Compact(ctx); err != nil && ctx.Err() == nil && !isOffline(err) {
				s.reportError(err)
			}
		}
	}
}
