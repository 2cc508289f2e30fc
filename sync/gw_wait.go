package sync

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// gwWaitSynced is WaitSynced under a gateway remote: the local side as for
// a database remote (no unhandled local change up to now), and the remote
// side by asking the gateway, from the pull's cursor, for the changes of
// its database's own history (Client.ChangesFresh: every change committed
// before the request, not only what the gateway's shared stream has
// brought in so far) until none is left.
func (s *Syncer) gwWaitSynced(ctx context.Context, colls map[string]*collState) error {
	var localT bson.Timestamp
	for {
		var err error
		if localT, err = operationTime(ctx, s.cfg.Local); err == nil {
			break
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return fmt.Errorf("sync: wait synced: %w (last error: %w)", ctx.Err(), err)
		}
	}
	// Remote: a fresh read from the pull's cursor (which moves only once
	// a page is handled) answers every change committed before it.
	for _, name := range s.cfg.Collections {
		cs := colls[name]
		for {
			done, err := s.gwCaughtUp(ctx, cs, localT)
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

func (s *Syncer) gwCaughtUp(ctx context.Context, cs *collState, localT bson.Timestamp) (bool, error) {
	if !cs.bootstrapped.Load() {
		return false, nil
	}
	ok, err := s.streamHandled(ctx, s.cfg.Local.Collection(cs.name), uploadKey(cs.name), cs.lastUp.Load(), localT)
	if !ok || err != nil {
		return false, err
	}
	cur := cs.gwCursor.Load()
	if cur == nil {
		return false, nil
	}
	page, err := s.cfg.Gateway.ChangesFresh(ctx, []string{cs.name}, *cur, 1)
	if err != nil {
		return false, err
	}
	return len(page.Changes) == 0, nil
}
