package relay

import (
	"context"
	"fmt"

	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/model"
	"github.com/redis/go-redis/v9"
)

// ModelSource gives a model.Model the model's listening methods, fed by a
// relay's consumer group instead of the model's own change stream: a fleet
// of processes that each ran m.ListenForUpdates(...) can run
// relay.ForModel(m, rdb, "group").ListenForUpdates(...) with the same
// handlers, and share one change stream through Redis.
//
// The relay is the one publishing m's collection (its default name,
// "<db>.<coll>", unless WithStream says otherwise). The events carry what
// the publisher asked for: for ListenForUpdates to get the updated document,
// publish with listen.WithFullDocument(options.UpdateLookup) in
// PublisherConfig.ListenOptions.
type ModelSource[T any] struct {
	m     *model.Model[T]
	rdb   redis.UniversalClient
	group string
	opts  []ConsumeOption
}

// ForModel returns m's listening methods through the relay of m's
// collection, as consumers of group.
func ForModel[T any](m *model.Model[T], rdb redis.UniversalClient, group string, opts ...ConsumeOption) *ModelSource[T] {
	return &ModelSource[T]{m: m, rdb: rdb, group: group, opts: opts}
}

func (s *ModelSource[T]) consume(ctx context.Context, h listen.Handler[T], ops ...listen.OperationType) (*Consumer, error) {
	if s.m == nil || s.m.Collection() == nil {
		return nil, fmt.Errorf("%w: nil model or collection", ErrInvalidConfig)
	}
	if h == nil {
		return nil, fmt.Errorf("%w: nil handler", ErrInvalidConfig)
	}
	coll := s.m.Collection()
	opts := append([]ConsumeOption{WithStream(coll.Database().Name() + "." + coll.Name())}, s.opts...)
	if len(ops) > 0 {
		inner := h
		h = func(ctx context.Context, id string, ev *listen.ChangeEvent[T]) error {
			for _, op := range ops {
				if ev.OperationType == op {
					return inner(ctx, id, ev)
				}
			}
			return nil // not this listener's: acknowledged unhandled
		}
	}
	return Consume[T](ctx, s.rdb, s.group, h, opts...)
}

// ListenForChanges calls h for every change (model.Model.ListenForChanges).
func (s *ModelSource[T]) ListenForChanges(ctx context.Context, h listen.Handler[T]) (*Consumer, error) {
	return s.consume(ctx, h)
}

// ListenForInserts calls h with each inserted document.
func (s *ModelSource[T]) ListenForInserts(ctx context.Context, h func(ctx context.Context, id string, doc T) error) (*Consumer, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: nil handler", ErrInvalidConfig)
	}
	return s.consume(ctx, func(ctx context.Context, id string, ev *listen.ChangeEvent[T]) error {
		if ev.FullDocument == nil {
			return fmt.Errorf("relay: insert event for %s has no fullDocument", id)
		}
		return h(ctx, id, *ev.FullDocument)
	}, listen.Insert)
}

// ListenForUpdates calls h for updates and replacements.
func (s *ModelSource[T]) ListenForUpdates(ctx context.Context, h listen.Handler[T]) (*Consumer, error) {
	return s.consume(ctx, h, listen.Update, listen.Replace)
}

// ListenForDeletes calls h with the _id of each deleted document.
func (s *ModelSource[T]) ListenForDeletes(ctx context.Context, h func(ctx context.Context, id string) error) (*Consumer, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: nil handler", ErrInvalidConfig)
	}
	return s.consume(ctx, func(ctx context.Context, id string, _ *listen.ChangeEvent[T]) error {
		return h(ctx, id)
	}, listen.Delete)
}
