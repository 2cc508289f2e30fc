package engine

import "go.mongodb.org/mongo-driver/v2/bson"

// failStop stops the engine after a failed fsync of acknowledged data:
// every later operation fails (the server names the cause via Failure).
// Callers do not hold e.mu.
func (e *Engine) failStop(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failStopLocked(err)
}

// failStopLocked is failStop for callers holding e.mu exclusively.
func (e *Engine) failStopLocked(err error) {
	if !e.closed {
		e.opts.Logger.Error("engine: stopping: a journal fsync failed", "err", err)
	}
	e.closed = true
	if e.notify != nil {
		close(e.notify)
		e.notify = nil
	}
}

// maybeCompact starts a snapshot once the journal is large enough.
// Callers hold e.mu exclusively.
func (e *Engine) maybeCompact() {
	s := e.store
	s.bgMu.Lock()
	compacting := s.compacting
	s.bgMu.Unlock()
	if compacting || s.size < e.opts.CompactBytes {
		return
	}
	if err := e.startCompaction(); err != nil {
		e.opts.Logger.Error("engine: starting a snapshot failed; the journal still holds every commit", "err", err)
	}
}

// WaitDurable returns once every commit made before the call is fsynced
// to the journal (at once for a memory-only engine). Concurrent callers
// share one fsync (group commit). It fails when the engine stopped after
// a failed fsync.
func (e *Engine) WaitDurable() error {
	if e.store == nil {
		return nil
	}
	return e.store.syncTo(e.store.position())
}

// SyncAlways reports whether every write waits for WaitDurable
// (Options.Sync == SyncAlways).
func (e *Engine) SyncAlways() bool { return e.store != nil && e.opts.Sync == SyncAlways }

// DurableTime returns the timestamp of the last commit known to be on
// disk: the cluster time for a memory-only engine.
func (e *Engine) DurableTime() bson.Timestamp {
	if e.store == nil {
		return e.clusterTime()
	}
	return e.store.durableTime()
}

// Failure returns the error that stopped the engine (a failed fsync), or
// nil.
func (e *Engine) Failure() error {
	if e.store == nil {
		return nil
	}
	return e.store.fatalErr()
}

// Repaired returns what Options.Repair dropped at Open.
func (e *Engine) Repaired() RepairReport { return e.repair }
