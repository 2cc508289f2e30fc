package listen

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// BatchHandler handles a batch of changes, in stream order. It returns nil
// only when every change of the batch was handled: then the checkpoint may
// move past the whole batch. On an error the whole batch is retried under
// the retry policy (the same events, in the same order), so a handler must
// be idempotent per batch, as Handler is per event. Events are the
// handler's own (copies); the slice is not reused.
type BatchHandler[T any] func(ctx context.Context, events []*ChangeEvent[T]) error

// ListenBatch is Listen for handlers that do better with many changes at
// once: one bulk read or write for a batch instead of one per change (sync
// reads and writes a batch of documents in a handful of round trips).
//
// A batch holds the events that are ready when the previous call returns,
// up to Config.BatchMax (WithBatch), waiting up to Config.BatchLinger for
// more when it is not full. Under load batches grow; an idle stream's event
// goes out alone and at once (with no linger). Everything else is Listen's:
// checkpoints only after a batch succeeded, retries, policies (the
// HandlerError of a batch names its first event), gaps (the gap handler
// runs between the batches before and after it), and a resnapshot, whose
// documents come in batches of one. Concurrency must be 1.
func ListenBatch[T any](ctx context.Context, coll *mongo.Collection, h BatchHandler[T], opts ...Option) (*Subscription, error) {
	if coll == nil {
		return nil, errors.New("listen: nil collection")
	}
	if h == nil {
		return nil, errors.New("listen: nil handler")
	}
	cfg := Config{batching: true}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d := batchDelivery(coll, h)
	if cfg.Lease != nil {
		return listenLeased(ctx, coll, cfg, d)
	}
	return listenWith(ctx, coll, cfg, d)
}

// batchDelivery decodes items for h: a batch of events, or one item
// (a resnapshot's document) as a batch of one.
func batchDelivery[T any](coll *mongo.Collection, h BatchHandler[T]) delivery {
	cp := newDocCopier[T]()
	return delivery{
		one: func(ctx context.Context, it *item) error {
			// Only a resnapshot's documents come alone: rare enough to
			// build the single-item decoder each time.
			return deliverer(coll, func(ctx context.Context, _ string, ev *ChangeEvent[T]) error {
				return h(ctx, []*ChangeEvent[T]{ev})
			})(ctx, it)
		},
		batch: func(ctx context.Context, its []*item) error {
			evs := make([]*ChangeEvent[T], len(its))
			for i, it := range its {
				ev, err := decodeEvent(it.ev, cp)
				if err != nil {
					return err
				}
				evs[i] = ev
			}
			return h(ctx, evs)
		},
	}
}

// batchToken is the resume token a batch's HandlerError names: its first
// event's.
func batchToken(its []*item) (bson.Raw, bson.Raw) {
	if len(its) == 0 || its[0].ev == nil {
		return nil, nil
	}
	return its[0].ev.token, its[0].ev.raw
}
