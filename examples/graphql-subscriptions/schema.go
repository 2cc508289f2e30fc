package main

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"sync/atomic"

	graphql "github.com/graph-gophers/graphql-go"
	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/model"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Book is a document of the books collection. Owner is whose it is: a
// subscriber only ever sees changes to its own books.
type Book struct {
	ID    bson.ObjectID `bson:"_id,omitempty"`
	Title string        `bson:"title"`
	Owner string        `bson:"owner"`
}

const schemaSDL = `
schema {
	query: Query
	subscription: Subscription
}

type Query {
	# The caller's identity (graphql-go requires a query root).
	whoami: String!
}

type Subscription {
	# Changes to the caller's books, as they commit.
	bookChanged(filter: BookFilter): BookChange!
}

input BookFilter {
	# Only these operations (default: all).
	ops: [Op!]
	# Only books whose title contains this text (case-sensitive).
	titleContains: String
}

enum Op { INSERT UPDATE REPLACE DELETE }

type BookChange {
	op: Op!
	id: ID!
	# The book after the change; for DELETE, the book as it was.
	book: Book
}

type Book {
	title: String!
	owner: String!
}
`

// ErrUnauthenticated is returned by resolvers called without an owner in
// their context (the transport puts it there after connection_init).
var ErrUnauthenticated = errors.New("unauthenticated")

type ownerKey struct{}

// withOwner returns ctx carrying the authenticated owner.
func withOwner(ctx context.Context, owner string) context.Context {
	return context.WithValue(ctx, ownerKey{}, owner)
}

func ownerFrom(ctx context.Context) (string, bool) {
	o, ok := ctx.Value(ownerKey{}).(string)
	return o, ok && o != ""
}

// resolver is the schema's root. It holds one Model, hence one listen.Hub:
// every subscription of every connection shares one server change stream,
// filtering per subscriber in process.
type resolver struct {
	books *model.Model[Book]
	// active counts running listeners, so that tests (and metrics) can see
	// that none leak; wg lets shutdown wait for their Unsubscribe.
	active atomic.Int64
	// feed, when set, feeds subscriptions from a relay instead of the
	// model's change stream (several instances behind a load balancer).
	feed *relayFeed
	wg   sync.WaitGroup
}

// wait blocks until every listener has been unsubscribed (their contexts
// must have been cancelled).
func (r *resolver) wait() { r.wg.Wait() }

func newSchema(r *resolver) (*graphql.Schema, error) {
	return graphql.ParseSchema(schemaSDL, r, graphql.UseFieldResolvers(),
		// graphql-go drops an event that the transport does not take within
		// this timeout. The transport takes the next one as soon as its
		// previous write ended, and a write that takes longer than
		// Handler.WriteTimeout ends the connection: with a longer timeout here, a
		// slow client is disconnected instead of silently missing events.
		graphql.SubscribeResolverTimeout(2*maxWriteTimeout))
}

func (r *resolver) Whoami(ctx context.Context) (string, error) {
	owner, ok := ownerFrom(ctx)
	if !ok {
		return "", ErrUnauthenticated
	}
	return owner, nil
}

type bookFilter struct {
	Ops           *[]string
	TitleContains *string
}

var opTypes = map[string]listen.OperationType{
	"INSERT": listen.Insert, "UPDATE": listen.Update, "REPLACE": listen.Replace, "DELETE": listen.Delete,
}

// BookChanged starts a listener for this subscription. graphql-go cancels
// ctx when the client completes the subscription or disconnects; the
// listener is then unsubscribed and the channel closed.
func (r *resolver) BookChanged(ctx context.Context, args struct{ Filter *bookFilter }) (<-chan *bookChange, error) {
	owner, ok := ownerFrom(ctx)
	if !ok {
		return nil, ErrUnauthenticated
	}
	// The owner restriction is part of the listener's filter, so it can
	// never be forgotten by a handler. It runs in process: all subscribers
	// keep sharing one server stream whatever their filters.
	filter := bson.D{{Key: "owner", Value: owner}}
	opts := []listen.Option{
		// Post-images, not updateLookup: a lookup reads the document when
		// the event is read, which may be after later writes (or its
		// deletion), so the filter would judge, and the client receive, the
		// wrong version. The collection enables pre- and post-images.
		listen.WithFullDocument(options.WhenAvailable),
		// Pre-images let the filter see the owner of a deleted document,
		// whose event has no fullDocument.
		listen.WithFullDocumentBeforeChange(options.WhenAvailable),
		// One server stream feeds every subscriber, and by default
		// (listen.SlowListenerBlock) a full listener buffer makes it wait:
		// no subscriber ever misses an event because of a burst. A client
		// that stops reading stalls the others for at most the transport's
		// WriteTimeout, after which its connection is dropped.
	}
	// Always name the document operations: drop/rename events pass any
	// document filter, and the schema has no Op for them (a drop ends the
	// listener, which completes the subscription).
	types := []listen.OperationType{listen.Insert, listen.Update, listen.Replace, listen.Delete}
	if f := args.Filter; f != nil {
		if f.TitleContains != nil {
			filter = append(filter, bson.E{Key: "title", Value: bson.D{{Key: "$regex", Value: regexp.QuoteMeta(*f.TitleContains)}}})
		}
		if f.Ops != nil && len(*f.Ops) > 0 {
			types = types[:0]
			for _, op := range *f.Ops {
				types = append(types, opTypes[op]) // the schema's enum already validated op
			}
		}
	}
	opts = append(opts, listen.WithFilter(filter), listen.WithOperationTypes(types...))

	ch := make(chan *bookChange)
	handler := func(hctx context.Context, id string, ev *listen.ChangeEvent[Book]) error {
		select {
		case ch <- newBookChange(id, ev):
		case <-hctx.Done(): // the subscription is stopping
		case <-ctx.Done(): // the GraphQL subscriber is gone
		}
		return nil
	}
	var sub interface {
		Done() <-chan struct{}
		Unsubscribe() error
	}
	var err error
	if r.feed != nil {
		// Several instances: the changes come through a relay (see
		// relayfeed.go), filtered here the same way.
		sub, err = r.feed.add(filter, types, handler)
	} else {
		sub, err = r.books.ListenForChanges(ctx, handler, opts...)
	}
	if err != nil {
		return nil, err
	}
	r.active.Add(1)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		select {
		case <-ctx.Done():
		case <-sub.Done(): // e.g. the collection was dropped: end the GraphQL subscription too
		}
		// Unsubscribe waits for the handler, so nothing sends on ch after it.
		_ = sub.Unsubscribe()
		r.active.Add(-1)
		close(ch)
	}()
	return ch, nil
}

type bookChange struct {
	Op   string
	ID   graphql.ID
	Book *bookResolver
}

type bookResolver struct {
	Title string
	Owner string
}

func newBookChange(id string, ev *listen.ChangeEvent[Book]) *bookChange {
	c := &bookChange{ID: graphql.ID(id)}
	for name, t := range opTypes {
		if t == ev.OperationType {
			c.Op = name
		}
	}
	b := ev.FullDocument
	if b == nil {
		b = ev.FullDocumentBeforeChange
	}
	if b != nil {
		c.Book = &bookResolver{Title: b.Title, Owner: b.Owner}
	}
	return c
}
