package sync

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// ErrRunning is returned by ResetLocal on a running Syncer.
var ErrRunning = errors.New("sync: syncer is running")

// ErrPendingChanges is returned by ResetLocal when local changes have not
// been uploaded yet (and force is false).
var ErrPendingChanges = errors.New("sync: local changes are not uploaded yet")

// Pending counts, per collection, the local changes not yet on the remote:
// documents (and deletes) that differ from what both sides last agreed on.
// It reads only the local database, so it works offline and from another
// process, and scans each collection. Local documents refused by the owner
// filter stay counted.
func (s *Syncer) Pending(ctx context.Context) (map[string]int, error) {
	if s.cfg.Gateway != nil {
		return nil, ErrGatewayRemote
	}
	out := map[string]int{}
	for _, name := range s.cfg.Collections {
		n, err := s.scanLocal(ctx, &collState{name: name}, true)
		if err != nil {
			return nil, err
		}
		out[name] = n
	}
	return out, nil
}

// Bootstrapped reports, per collection, whether the initial copy finished
// (read from the local database).
func (s *Syncer) Bootstrapped(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	for _, name := range s.cfg.Collections {
		var st bootstrapState
		err := s.localState.FindOne(ctx, idFilter(stringValue(bootstrapKey(name)))).Decode(&st)
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return nil, fmt.Errorf("sync: read bootstrap state of %q: %w", name, err)
		}
		out[name] = st.Done
	}
	return out, nil
}

// ResetLocalOptions are the options of ResetLocal.
type ResetLocalOptions struct {
	// DiscardPending resets even while local changes are not uploaded yet;
	// they are lost. Without it ResetLocal refuses (ErrPendingChanges).
	DiscardPending bool
}

// ResetLocal drops the synced collections from the local database with all
// sync metadata except the replica id (checkpoints, versions, bootstrap
// progress, conflict log), so that the next Start bootstraps from the
// remote again. It refuses on a running Syncer (ErrRunning), and while local
// changes are pending unless opts.DiscardPending is set.
func (s *Syncer) ResetLocal(ctx context.Context, opts ResetLocalOptions) error {
	if s.cfg.Gateway != nil {
		return ErrGatewayRemote
	}
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if running {
		return ErrRunning
	}
	if !opts.DiscardPending {
		pending, err := s.Pending(ctx)
		if err != nil {
			return err
		}
		for coll, n := range pending {
			if n > 0 {
				return fmt.Errorf("%w: %d in %q (DiscardPending to discard them)", ErrPendingChanges, n, coll)
			}
		}
	}
	for _, name := range s.cfg.Collections {
		if err := s.cfg.Local.Collection(name).Drop(ctx); err != nil {
			return fmt.Errorf("sync: drop local %q: %w", name, err)
		}
		if _, err := s.localDocs.DeleteMany(ctx, bson.D{{Key: "_id.c", Value: name}}); err != nil {
			return fmt.Errorf("sync: reset versions of %q: %w", name, err)
		}
		if _, err := s.cfg.Local.Collection(localConflictsColl).DeleteMany(ctx, bson.D{{Key: "coll", Value: name}}); err != nil {
			return fmt.Errorf("sync: reset conflicts of %q: %w", name, err)
		}
		if _, err := s.localState.DeleteOne(ctx, idFilter(stringValue(bootstrapKey(name)))); err != nil {
			return fmt.Errorf("sync: reset bootstrap of %q: %w", name, err)
		}
		if _, err := s.cfg.Local.Collection(localCheckpointsColl).DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{uploadKey(name), downloadKey(name)}}}}}); err != nil {
			return fmt.Errorf("sync: reset checkpoints of %q: %w", name, err)
		}
	}
	return nil
}
