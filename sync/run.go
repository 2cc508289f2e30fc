package sync

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/mongotide/mongotide/internal/ctxwait"
	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// runCollection bootstraps one collection (retrying until the remote is
// reachable), then runs both directions until ctx ends.
func (s *Syncer) runCollection(ctx context.Context, cs *collState) {
	if !s.retry(ctx, func() error { return s.bootstrap(ctx, cs) }) {
		return
	}
	cs.bootstrapped.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.supervise(ctx, &cs.upSub, LocalSide, func() (*listen.Subscription, error) {
			return s.listen(ctx, cs, LocalSide, s.cfg.Local.Collection(cs.name), uploadKey(cs.name), &cs.lastUp, func(hctx context.Context, evs []*listen.ChangeEvent[bson.Raw]) error {
				return s.handleUploads(hctx, cs, evs)
			})
		})
	}()
	s.supervise(ctx, &cs.downSub, RemoteSide, func() (*listen.Subscription, error) {
		return s.listen(ctx, cs, RemoteSide, s.cfg.Remote.Collection(cs.name), downloadKey(cs.name), &cs.lastDown, func(hctx context.Context, evs []*listen.ChangeEvent[bson.Raw]) error {
			return s.handleDownloads(hctx, cs, evs)
		})
	})
	<-done
}

// listen subscribes h to coll's document changes with a checkpoint kept on
// the local side. A failing handler is retried with Config.Backoff until it
// succeeds or the syncer stops: the checkpoint never passes an unapplied
// change, and no later write is needed to unblock it.
//
// Changes come in batches (see stream_workers.go), handled one batch at a
// time; handled holds the cluster time through which every change was
// handled (WaitSynced and Status read it).
//
// side names the server coll is on: only the remote's stream errors say
// anything about whether the remote is reachable.
func (s *Syncer) listen(ctx context.Context, cs *collState, side Side, coll *mongo.Collection, key string, handled *atomic.Pointer[bson.Timestamp], h listen.BatchHandler[bson.Raw]) (*listen.Subscription, error) {
	return listen.ListenBatch[bson.Raw](ctx, coll,
		func(hctx context.Context, evs []*listen.ChangeEvent[bson.Raw]) error {
			// A listener's handler context outlives the ctx given to Listen
			// (it bounds the start only); the syncer's stop must still cut
			// a handler's remote round trips short, as during an outage.
			hctx, cancel := context.WithCancel(hctx)
			defer cancel()
			defer context.AfterFunc(ctx, cancel)()
			return h(hctx, evs)
		},
		listen.WithOperationTypes(listen.Insert, listen.Update, listen.Replace, listen.Delete),
		listen.WithResumeStore(s.store, key),
		listen.WithHandlerAttempts(math.MaxInt32), listen.WithHandlerBackoff(s.cfg.Backoff), listen.WithHandlerFailurePolicy(listen.HandlerFailureStop),
		listen.WithReconnectBackoff(s.cfg.Backoff),
		listen.WithCheckpointEvery(100), listen.WithCheckpointInterval(200*time.Millisecond),
		listen.WithMaxAwaitTime(200*time.Millisecond),
		listen.WithBatch(streamBatchMax, max(s.cfg.ChangeLinger, 0)),
		listen.WithOnHandled(func(ts bson.Timestamp) { handled.Store(&ts) }),
		listen.WithOnError(func(err error) {
			if side == RemoteSide {
				s.remoteResult(err)
			}
			s.reportError(err)
		}),
		listen.WithLogger(s.cfg.Logger),
		// Changes lost with the history are found again by comparing
		// documents with their bases, before the events that follow the
		// gap; until that reconciliation succeeded the checkpoint stays
		// before the gap, so a stop or a crash in the middle of it meets
		// the gap again on the next start. (Given up at a stop, it used to
		// leave the checkpoint past the gap: a conflict pending in the
		// gap was never logged.)
		listen.WithHistoryLostPolicy(listen.HistoryLostRestartFromNow),
		listen.WithGapHandler(func(context.Context, listen.Gap) error {
			var err error
			if s.cfg.Gateway != nil {
				err = s.gwUploadUnsettled(ctx, cs)
			} else {
				_, err = s.reconcile(ctx, cs)
			}
			if err != nil && ctx.Err() == nil {
				s.reportError(err)
			}
			return err
		}),
	)
}

// supervise keeps a subscription running until ctx ends, reopening it with
// backoff when it cannot start or ends with an error. A remote stream that
// opens or fails to open also tells whether the remote is reachable (with no
// local write pending, nothing else would notice an outage).
func (s *Syncer) supervise(ctx context.Context, slot interface {
	Store(*listen.Subscription)
}, side Side, open func() (*listen.Subscription, error)) {
	bo := s.cfg.Backoff()
	for ctx.Err() == nil {
		sub, err := open()
		if side == RemoteSide && ctx.Err() == nil {
			s.remoteResult(err)
		}
		if err == nil {
			bo.Reset()
			slot.Store(sub)
			select {
			case <-ctx.Done():
				// Unsubscribe saves the final checkpoint.
				if err := sub.Unsubscribe(); err != nil && !errors.Is(err, context.Canceled) {
					s.reportError(err)
				}
				return
			case <-sub.Done():
				err = sub.Err()
			}
		}
		if ctx.Err() != nil {
			return
		}
		s.reportError(fmt.Errorf("sync: change stream: %w", err))
		if !sleep(ctx, bo.NextBackOff()) {
			return
		}
	}
}

// retry runs f until it succeeds (true) or ctx ends (false), waiting with
// Config.Backoff between attempts.
func (s *Syncer) retry(ctx context.Context, f func() error) bool {
	bo := s.cfg.Backoff()
	for {
		err := f()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		s.reportError(err)
		if !sleep(ctx, bo.NextBackOff()) {
			return false
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d == backoff.Stop {
		d = 5 * time.Second
	}
	return ctxwait.Sleep(ctx, d) == nil
}

func rawDoc(d *bson.Raw) bson.Raw {
	if d == nil {
		return nil
	}
	return *d
}
