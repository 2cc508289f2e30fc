package sync

import (
	"context"
	"fmt"
	"time"

	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// WaitSynced is a barrier: it returns nil once every change committed on
// either side before the call has been handled (applied to the other side,
// found to be an echo, or resolved as a conflict), or ctx's error. It needs
// a running Syncer and a reachable remote; while the remote is down it keeps
// waiting.
//
// It reads the current operation time of each side, then waits until each
// direction's change stream holds no unhandled document change up to that
// time.
func (s *Syncer) WaitSynced(ctx context.Context) error {
	s.mu.Lock()
	running, colls := s.running, s.colls
	s.mu.Unlock()
	if !running {
		return ErrStopped
	}
	if s.cfg.Gateway != nil {
		return s.gwWaitSynced(ctx, colls)
	}
	var localT, remoteT bson.Timestamp
	for {
		var err error
		if localT.IsZero() {
			localT, err = operationTime(ctx, s.cfg.Local)
		}
		if err == nil && remoteT.IsZero() {
			remoteT, err = operationTime(ctx, s.cfg.Remote)
		}
		if err == nil {
			break
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return fmt.Errorf("sync: wait synced: %w (last error: %w)", ctx.Err(), err)
		}
	}
	for _, name := range s.cfg.Collections {
		cs := colls[name]
		for {
			done, err := s.caughtUp(ctx, cs, localT, remoteT)
			if done {
				break
			}
			if !sleep(ctx, 20*time.Millisecond) {
				if err != nil {
					return fmt.Errorf("sync: wait synced on %q: %w (last error: %w)", name, ctx.Err(), err)
				}
				return fmt.Errorf("sync: wait synced on %q: %w", name, ctx.Err())
			}
		}
	}
	return nil
}

func (s *Syncer) caughtUp(ctx context.Context, cs *collState, localT, remoteT bson.Timestamp) (bool, error) {
	if !cs.bootstrapped.Load() {
		return false, nil
	}
	ok, err := s.streamHandled(ctx, s.cfg.Local.Collection(cs.name), uploadKey(cs.name), cs.lastUp.Load(), localT)
	if !ok || err != nil {
		return false, err
	}
	return s.streamHandled(ctx, s.cfg.Remote.Collection(cs.name), downloadKey(cs.name), cs.lastDown.Load(), remoteT)
}

// streamHandled reports whether coll's change stream holds no document
// change after the last handled one (last; else after the stored
// checkpoint) and at or before target.
func (s *Syncer) streamHandled(ctx context.Context, coll *mongo.Collection, key string, last *bson.Timestamp, target bson.Timestamp) (bool, error) {
	opts := options.ChangeStream().SetMaxAwaitTime(10 * time.Millisecond)
	if last != nil {
		if !last.Before(target) {
			return true, nil
		}
		opts.SetStartAtOperationTime(&bson.Timestamp{T: last.T, I: last.I + 1})
	} else {
		tok, err := s.store.Load(ctx, key)
		if err != nil || tok == nil {
			return false, err
		}
		opts.SetStartAfter(tok)
	}
	ops := bson.A{string(listen.Insert), string(listen.Update), string(listen.Replace), string(listen.Delete)}
	pipeline := mongo.Pipeline{{{Key: "$match", Value: bson.D{{Key: "operationType", Value: bson.D{{Key: "$in", Value: ops}}}}}}}
	stream, err := coll.Watch(ctx, pipeline, opts)
	if err != nil {
		return false, err
	}
	defer stream.Close(context.WithoutCancel(ctx))
	if stream.TryNext(ctx) {
		t, i, ok := stream.Current.Lookup("clusterTime").TimestampOK()
		if !ok {
			return false, fmt.Errorf("sync: change event without clusterTime on %s", coll.Name())
		}
		return (bson.Timestamp{T: t, I: i}).After(target), nil
	}
	return stream.Err() == nil, stream.Err()
}

// operationTime returns the latest operation time db's server reports.
func operationTime(ctx context.Context, db *mongo.Database) (bson.Timestamp, error) {
	raw, err := db.RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Raw()
	if err != nil {
		return bson.Timestamp{}, err
	}
	t, i, ok := raw.Lookup("operationTime").TimestampOK()
	if !ok {
		return bson.Timestamp{}, fmt.Errorf("sync: %s sent no operationTime", db.Name())
	}
	return bson.Timestamp{T: t, I: i}, nil
}
