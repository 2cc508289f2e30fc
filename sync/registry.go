package sync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// remoteReplicasColl is the replica registry on the remote: one document
// per replica that ever synced with it.
const remoteReplicasColl = metaPrefix + "_replicas"

// Replica is a replica's entry in the remote's registry (Syncer.Replicas).
type Replica struct {
	// ID is the replica id (Config.ReplicaID or the generated one) and
	// Name Config.ReplicaName.
	ID   string `bson:"_id"`
	Name string `bson:"name"`
	// FirstSeen and LastSeen are the remote server's times of the
	// replica's first and latest heartbeat.
	FirstSeen time.Time `bson:"firstSeen"`
	LastSeen  time.Time `bson:"lastSeen"`
	// Version is the mongotide version the replica runs.
	Version string `bson:"version"`
	// SyncedPast maps each collection to the remote cluster time through
	// which the replica has handled the remote's changes (its download
	// position): every remote change at or before it is on the replica.
	SyncedPast map[string]bson.Timestamp `bson:"syncedPast"`
}

// MinSyncedPast is the earliest of the replica's collection positions
// (zero when it has none yet).
func (r Replica) MinSyncedPast() bson.Timestamp {
	var min bson.Timestamp
	first := true
	for _, ts := range r.SyncedPast {
		if first || ts.Before(min) {
			min, first = ts, false
		}
	}
	return min
}

// heartbeat records this replica in the registry: its name, version and
// download positions, with the remote's own clock for the times (replicas'
// clocks may disagree). It runs at start-up once the remote answers, then
// every Config.HeartbeatInterval.
func (s *Syncer) heartbeat(ctx context.Context) error {
	set := bson.D{
		{Key: "name", Value: s.cfg.ReplicaName},
		{Key: "version", Value: moduleVersion()},
	}
	// The remote's time now: a collection whose download stream holds no
	// unhandled change up to it is synced past it, even when its last
	// change is much older (an idle collection must not hold compaction
	// back).
	now, err := operationTime(ctx, s.cfg.Remote)
	if err != nil {
		return fmt.Errorf("sync: replica registry heartbeat: %w", err)
	}
	for name, cs := range s.collStates() {
		last := cs.lastDown.Load()
		if !cs.bootstrapped.Load() {
			continue
		}
		past := now
		if ok, err := s.streamHandled(ctx, s.cfg.Remote.Collection(name), downloadKey(name), last, now); err != nil || !ok {
			if last == nil {
				continue
			}
			past = *last
		}
		set = append(set, bson.E{Key: "syncedPast." + name, Value: past})
	}
	update := bson.D{
		{Key: "$set", Value: set},
		{Key: "$currentDate", Value: bson.D{{Key: "lastSeen", Value: true}}},
		{Key: "$setOnInsert", Value: bson.D{{Key: "firstSeen", Value: time.Now().UTC()}}},
	}
	_, err = s.cfg.Remote.Collection(remoteReplicasColl).UpdateOne(ctx, bson.D{{Key: "_id", Value: s.replica}}, update, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("sync: replica registry heartbeat: %w", err)
	}
	return nil
}

// runHeartbeats keeps the registry entry fresh until ctx ends; failures
// (the remote offline) are retried at the next beat.
func (s *Syncer) runHeartbeats(ctx context.Context) {
	t := time.NewTicker(s.cfg.HeartbeatInterval)
	defer t.Stop()
	beat := func() {
		if err := s.heartbeat(ctx); err != nil && ctx.Err() == nil && !isOffline(err) {
			s.reportError(err)
		}
	}
	beat()
	for {
		select {
		case <-ctx.Done():
			// A last beat with the final positions, briefly, unless the
			// remote is known to be away (Stop must stay prompt).
			if s.online.Load() == 1 {
				fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 500*time.Millisecond)
				_ = s.heartbeat(fctx)
				cancel()
			}
			return
		case <-t.C:
			beat()
		}
	}
}

// collStates returns the running collections' states.
func (s *Syncer) collStates() map[string]*collState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*collState, len(s.colls))
	for k, v := range s.colls {
		out[k] = v
	}
	return out
}

// Replicas lists the replicas registered on the remote (this one
// included once it has reached the remote), most recently seen first. It
// needs the remote; the Syncer need not be running.
func (s *Syncer) Replicas(ctx context.Context) ([]Replica, error) {
	if s.cfg.Gateway != nil {
		return nil, ErrGatewayRemote
	}
	return listReplicas(ctx, s.cfg.Remote)
}

// listReplicas reads remote's replica registry, most recently seen first.
func listReplicas(ctx context.Context, remote *mongo.Database) ([]Replica, error) {
	cur, err := remote.Collection(remoteReplicasColl).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "lastSeen", Value: -1}}))
	if err != nil {
		return nil, fmt.Errorf("sync: list replicas: %w", err)
	}
	var out []Replica
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("sync: list replicas: %w", err)
	}
	return out, nil
}

// ForgetReplica removes a replica from the registry (a device retired for
// good), so that it no longer holds back what waits for every replica.
// A replica that syncs again registers again.
func (s *Syncer) ForgetReplica(ctx context.Context, id string) error {
	if s.cfg.Gateway != nil {
		return ErrGatewayRemote
	}
	res, err := s.cfg.Remote.Collection(remoteReplicasColl).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return fmt.Errorf("sync: forget replica %q: %w", id, err)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("sync: forget replica %q: %w", id, ErrUnknownReplica)
	}
	return nil
}

// ErrUnknownReplica is returned by ForgetReplica for an id the registry
// does not hold.
var ErrUnknownReplica = errors.New("sync: no such replica in the registry")

// moduleVersion is the mongotide module version of this binary.
func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/mongotide/mongotide" {
			return d.Version
		}
	}
	if bi.Main.Path == "github.com/mongotide/mongotide" {
		return bi.Main.Version
	}
	return "unknown"
}

// defaultReplicaName names a replica after its host.
func defaultReplicaName() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// LocalReplicaID returns this replica's id: Config.ReplicaID, or the one
// kept in the local database (generated on first use).
func (s *Syncer) LocalReplicaID(ctx context.Context) (string, error) { return s.replicaID(ctx) }
