package listen

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Listen subscribes h to changes on coll.
//
// Without a stored token, every write that commits after Listen returns is
// delivered: the server stream is open (its start pinned by the server's
// postBatchResumeToken) before Listen returns. With a token in the resume
// store, the stream starts after it.
//
// Listen itself fails for bad options, an unreadable stored token, a server
// that cannot run change streams (ErrNotReplicaSet), a bad pipeline, or
// error 286 under HistoryLostFail. Later failures end the subscription (see
// Subscription.Err) or are survived and reported to the error handler.
func Listen[T any](ctx context.Context, coll *mongo.Collection, h Handler[T], opts ...Option) (*Subscription, error) {
	if coll == nil {
		return nil, errors.New("listen: nil collection")
	}
	if h == nil {
		return nil, errors.New("listen: nil handler")
	}
	var cfg Config
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Lease != nil {
		return listenLeased(ctx, coll, cfg, delivery{one: deliverer(coll, h)})
	}
	return listenWith(ctx, coll, cfg, delivery{one: deliverer(coll, h)})
}

// listenWith is Listen after the options: cfg is valid and has defaults.
func listenWith(ctx context.Context, coll *mongo.Collection, cfg Config, d delivery) (*Subscription, error) {
	filter, err := newEventFilter(&cfg)
	if err != nil {
		return nil, err
	}
	key, err := makeKey(coll, &cfg)
	if err != nil {
		return nil, fmt.Errorf("listen: WithPipeline: %w", err)
	}
	hub := cfg.Hub
	if hub == nil {
		hub = NewHub()
	}
	var start bson.Raw
	if cfg.Store != nil {
		start, err = cfg.Store.Load(ctx, cfg.StoreKey)
		if err != nil {
			return nil, fmt.Errorf("listen: load checkpoint: %w", err)
		}
	}
	ns := coll.Database().Name() + "." + coll.Name()
	l := newCore(ctx, coll, cfg, filter, d, hub)
	err = hub.join(ctx, key, coll, &cfg, start, l)
	if err != nil && start != nil && Classify(err) == HistoryLost && cfg.HistoryLost != HistoryLostFail {
		// The stored token is older than the oplog: start from now and
		// let the listener's policy report (and maybe fill) the gap first.
		l.ch <- &item{kind: itemHistoryLost, err: err, gap: Gap{FromToken: start, Err: err}}
		err = hub.join(ctx, key, coll, &cfg, nil, l)
	}
	if err != nil {
		switch {
		case isNotReplicaSet(err):
			return nil, fmt.Errorf("%w: %s: %v", ErrNotReplicaSet, ns, err)
		case Classify(err) == HistoryLost:
			return nil, fmt.Errorf("%w: resuming %s from the stored token: %w", ErrHistoryLost, ns, err)
		default:
			return nil, fmt.Errorf("listen: open change stream on %s: %w", ns, err)
		}
	}
	if at := l.stream.at(); start == nil && cfg.Store != nil && at != nil {
		// A fresh start is a position too: without it, a subscription
		// stopped before its first event or idle progress saved nothing,
		// and the next run started from its own now, missing the writes
		// made in between.
		l.pending, l.dirty = at, true
	}
	go l.run()
	return &Subscription{c: l}, nil
}

func deliverer[T any](coll *mongo.Collection, h Handler[T]) deliverFunc {
	ns := Namespace{DB: coll.Database().Name(), Coll: coll.Name()}
	cp := newDocCopier[T]()
	return func(ctx context.Context, it *item) error {
		switch it.kind {
		case itemSnapshot:
			raw := clone(it.raw)
			doc := new(T)
			if err := bson.Unmarshal(raw, doc); err != nil {
				return &DecodeError{Raw: raw, Err: err}
			}
			id, _ := raw.LookupErr("_id")
			key, err := bson.Marshal(bson.D{{Key: "_id", Value: id}})
			if err != nil {
				return &DecodeError{Raw: raw, Err: err}
			}
			ev := &ChangeEvent[T]{OperationType: Snapshot, NS: ns, DocumentKey: key, FullDocument: doc, Raw: raw}
			return h(ctx, idString(id), ev)
		default:
			// Each listener gets its own copy: handlers own their events.
			ev, err := decodeEvent(it.ev, cp)
			if err != nil {
				return err
			}
			return h(ctx, it.ev.docID(), ev)
		}
	}
}
