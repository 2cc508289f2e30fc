package model

import (
	"context"
	"errors"
	"fmt"

	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// ErrNotFound is returned by FindByID, Update and Delete when no document
// has the given _id.
var ErrNotFound = errors.New("model: document not found")

// Model is a typed handle on a collection whose documents decode into T.
// It is safe for concurrent use.
type Model[T any] struct {
	coll *mongo.Collection
	hub  *listen.Hub
}

// New returns a Model for coll.
func New[T any](coll *mongo.Collection) *Model[T] {
	return &Model[T]{coll: coll, hub: listen.NewHub()}
}

// Collection returns the underlying collection.
func (m *Model[T]) Collection() *mongo.Collection { return m.coll }

// Hub returns the hub through which this model's listeners share streams.
func (m *Model[T]) Hub() *listen.Hub { return m.hub }

// ListenForChanges calls h for every change (see package listen for the
// options and guarantees).
func (m *Model[T]) ListenForChanges(ctx context.Context, h listen.Handler[T], opts ...listen.Option) (*listen.Subscription, error) {
	if m.coll == nil {
		return nil, errors.New("model: nil collection")
	}
	// The model's hub goes first so that an explicit listen.WithHub wins.
	all := append([]listen.Option{listen.WithHub(m.hub)}, opts...)
	return listen.Listen[T](ctx, m.coll, h, all...)
}

// ListenForInserts calls h with each inserted document.
func (m *Model[T]) ListenForInserts(ctx context.Context, h func(ctx context.Context, id string, doc T) error, opts ...listen.Option) (*listen.Subscription, error) {
	if h == nil {
		return nil, errors.New("model: nil handler")
	}
	return m.ListenForChanges(ctx, func(ctx context.Context, id string, ev *listen.ChangeEvent[T]) error {
		if ev.FullDocument == nil {
			return fmt.Errorf("model: insert event for %s has no fullDocument", id)
		}
		return h(ctx, id, *ev.FullDocument)
	}, append(opts, onlyOps(listen.Insert))...)
}

// ListenForUpdates calls h for updates and replacements. The full document
// is looked up (updateLookup) unless an option says otherwise.
func (m *Model[T]) ListenForUpdates(ctx context.Context, h listen.Handler[T], opts ...listen.Option) (*listen.Subscription, error) {
	if h == nil {
		return nil, errors.New("model: nil handler")
	}
	all := append([]listen.Option{listen.WithFullDocument(options.UpdateLookup)}, opts...)
	all = append(all, onlyOps(listen.Update, listen.Replace))
	return m.ListenForChanges(ctx, h, all...)
}

// ListenForDeletes calls h with the _id of each deleted document.
func (m *Model[T]) ListenForDeletes(ctx context.Context, h func(ctx context.Context, id string) error, opts ...listen.Option) (*listen.Subscription, error) {
	if h == nil {
		return nil, errors.New("model: nil handler")
	}
	return m.ListenForChanges(ctx, func(ctx context.Context, id string, _ *listen.ChangeEvent[T]) error {
		return h(ctx, id)
	}, append(opts, onlyOps(listen.Delete))...)
}

// onlyOps replaces (rather than extends, like WithOperationTypes) the
// operation types: the typed helpers must only see what they can handle.
func onlyOps(types ...listen.OperationType) listen.Option {
	return func(c *listen.Config) { c.OperationTypes = types }
}
