package listen

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Subscription is a running listener. It runs until Unsubscribe/Stop, until
// the context given to Listen is cancelled, or until an error it cannot
// survive; in every case Done is closed and Err says why.
type Subscription struct {
	c  *core
	ls *leased // instead of c, for a leased listener (WithLease)
}

// Stats is a snapshot of a subscription's counters.
type Stats struct {
	// Delivered counts handler calls that returned nil.
	Delivered uint64
	// Errors counts errors passed to the error handler.
	Errors uint64
	// Reconnects counts reopenings of the server stream since this
	// listener joined it.
	Reconnects uint64
	// Checkpoints counts successful saves to the resume store.
	Checkpoints uint64
	// Buffered is how many events wait in the listener's buffer (the
	// progress markers a quiet stream also queues are not counted).
	Buffered int
	// Unfinished is how many events were taken from the buffer and are
	// not handled yet: running, retrying, or queued for a worker.
	Unfinished int
	// LastClusterTime is the cluster time of the last handled event.
	LastClusterTime bson.Timestamp
	// HandledThrough is the cluster time of the last event of the
	// contiguous handled prefix: every event before it was handled too.
	// With Concurrency > 1, LastClusterTime can run ahead of it.
	HandledThrough bson.Timestamp
	// Lag is how long after its commit (server wallTime) the last handled
	// event was handled. It is measured when the listener has emptied its
	// buffer, or after every 64 events it handles back to back.
	Lag time.Duration
	// TokenAge is how long ago the stored checkpoint was last written (or
	// the subscription started, before the first write).
	TokenAge time.Duration
	// LeaseHeld, LeaseToken and LeaseAcquisitions describe a leased
	// listener (WithLease): whether it holds the lease and delivers now
	// (its change stream is open; the other counters are then its current
	// run's), the fencing token of its last
	// grant, and how many times it acquired the lease.
	LeaseHeld         bool
	LeaseToken        uint64
	LeaseAcquisitions uint64
}

// Done is closed when the subscription has stopped and its final checkpoint
// was attempted.
func (s *Subscription) Done() <-chan struct{} {
	if s.ls != nil {
		return s.ls.done
	}
	return s.c.done
}

// Err is why the subscription stopped: nil after Stop/Unsubscribe
// (context.Canceled when Stop's ctx ended before the handlers returned),
// otherwise an error wrapping one of ErrHistoryLost, ErrInvalidated,
// ErrHandler, ErrSlowListener, ErrReconnectGaveUp, or the server's fatal
// error. It is nil while running.
func (s *Subscription) Err() error {
	if s.ls != nil {
		return s.ls.errValue()
	}
	select {
	case <-s.c.done:
		return s.c.err
	default:
		return nil
	}
}

// Stop stops the subscription gracefully: no new events are handed out, the
// running handler(s) finish (handler retries are cut short), the handled
// prefix is checkpointed, and the stream is left. It returns the final
// checkpoint's error, if any. Safe to call more than once and after the
// subscription ended.
//
// Called from the subscription's own code (a handler, OnError, OnHandled,
// OnGap), Stop only requests the stop and returns nil: the stop completes
// when that code returns, and the current event counts as handled if the
// handler returns nil. Which ctx is passed makes no difference to that.
//
// If ctx ends first, Stop cancels the context the handlers received and
// returns ctx.Err(); the subscription still stops in the background (watch
// Done).
func (s *Subscription) Stop(ctx context.Context) error {
	if s.ls != nil {
		return s.ls.stop(ctx)
	}
	c := s.c
	c.requestStop()
	if c.ownsSelf() {
		return nil
	}
	select {
	case <-c.done:
		return c.finalErr
	case <-ctx.Done():
		c.cancelLife()
		return ctx.Err()
	}
}

// Unsubscribe is Stop(context.Background()): the name the model API
// promises. It waits as long as the running handler takes.
func (s *Subscription) Unsubscribe() error { return s.Stop(context.Background()) }

// Stats returns current counters.
func (s *Subscription) Stats() Stats {
	if s.ls != nil {
		return s.ls.stats()
	}
	c := s.c
	c.statsMu.Lock()
	st := c.stats
	savedAt := c.savedAt
	c.statsMu.Unlock()
	st.Buffered = max(0, len(c.ch)-int(c.markers.Load()))
	st.Unfinished = int(c.unfinished.Load())
	if c.stream != nil {
		st.Reconnects = c.stream.reconnects.Load() - c.reconnectBase
	}
	st.TokenAge = time.Since(savedAt)
	return st
}

// ownsSelf reports whether the calling goroutine runs the subscription's
// own code (a handler, a callback).
func (c *core) ownsSelf() bool {
	return c.own.HasSelf() || (c.stream != nil && c.stream.own.HasSelf())
}
