package sync

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Both directions are state based: an event only names a document; the
// handler reads the document on both sides and compares content hashes with
// the base (what both sides last agreed on). A side whose hash equals the
// base has not changed, so an echo of our own write is recognised whenever
// it arrives, and redelivered events find nothing left to do.
//
// Files: upload.go (a local change to the remote: reads the facts, carries
// out the plan), plan_upload.go (the pure upload planner), rules.go (the
// conflict policies as a value), download.go (a remote change to the local
// side), remote_txn.go (the remote transaction and its retries), outcome.go
// (how a handling ended); this file holds what both directions share.

// notify reports evs to OnSync, in order. A batch's events go in one
// callback: marking the goroutine as running user code (see callback)
// costs a stack trace, too much to pay once per document.
func (s *Syncer) notify(evs ...SyncEvent) {
	if s.cfg.OnSync == nil || len(evs) == 0 {
		return
	}
	s.callback(func() {
		for _, ev := range evs {
			s.cfg.OnSync(ev)
		}
	})
}

// resolver binds resolve to ctx for conflictRules.
func (s *Syncer) resolver(ctx context.Context) func(Conflict) (bson.Raw, error) {
	return func(c Conflict) (bson.Raw, error) { return s.resolve(ctx, c) }
}

// resolve runs Config.Resolve and checks that its result is the same
// document.
func (s *Syncer) resolve(ctx context.Context, c Conflict) (bson.Raw, error) {
	return checkedResolve(ctx, s.cfg.Resolve, c)
}

// checkedResolve runs resolve (Config.Resolve, WriterConfig.Resolve) and
// checks that its result is valid BSON with the same _id.
func checkedResolve(ctx context.Context, resolve func(context.Context, Conflict) (bson.Raw, error), c Conflict) (bson.Raw, error) {
	merged, err := resolve(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("sync: Resolve %s %s: %w", c.Collection, c.DocumentID, err)
	}
	if merged == nil {
		return nil, nil
	}
	if err := merged.Validate(); err != nil {
		return nil, fmt.Errorf("sync: Resolve %s %s returned invalid BSON: %w", c.Collection, c.DocumentID, err)
	}
	if got := merged.Lookup("_id"); !got.Equal(c.DocumentID) {
		return nil, fmt.Errorf("sync: Resolve %s %s returned a document with _id %s", c.Collection, c.DocumentID, got)
	}
	return append(bson.Raw(nil), merged...), nil
}
