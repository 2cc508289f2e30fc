package main

import (
	"context"
	"errors"
	"sync"

	"github.com/mongotide/mongotide/internal/mql"
	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/relay"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// relayFeed feeds one instance's subscriptions from a relay: when the API
// runs as several instances, one relay publisher (leased: whichever
// instance holds the lease publishes) turns the collection's changes into a
// Redis stream, and each instance reads it once, as its own consumer group,
// and hands each change to its subscriptions whose filter matches. MongoDB
// serves one change stream whatever the number of instances and
// subscribers.
type relayFeed struct {
	cons *relay.Consumer

	mu   sync.Mutex // held while dispatching, so remove waits for it
	subs map[*feedSub]bool
}

type feedSub struct {
	f     *relayFeed
	m     *mql.Matcher
	ops   map[listen.OperationType]bool
	h     listen.Handler[Book]
	done  chan struct{}
	close sync.Once
}

// startRelayFeed consumes the relay named stream as group (one group per
// instance: each instance needs every change).
func startRelayFeed(ctx context.Context, rdb redis.UniversalClient, stream, group string) (*relayFeed, error) {
	f := &relayFeed{subs: map[*feedSub]bool{}}
	cons, err := relay.Consume[Book](ctx, rdb, group, f.dispatch, relay.WithStream(stream), relay.WithFromStart(false))
	if err != nil {
		return nil, err
	}
	f.cons = cons
	return f, nil
}

// dispatch gives a change to every subscription that wants it. A slow
// subscriber holds the others up for at most the transport's write timeout,
// as with a shared change stream.
func (f *relayFeed) dispatch(ctx context.Context, id string, ev *listen.ChangeEvent[Book]) error {
	doc := documentOf(ev.Raw)
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		if !s.ops[ev.OperationType] || doc == nil || !s.m.Match(doc) {
			continue
		}
		if err := s.h(ctx, id, ev); err != nil {
			return err
		}
	}
	return nil
}

// documentOf is what a subscription's filter judges: the post-image, else
// the pre-image (a delete), as in listen's filters.
func documentOf(raw bson.Raw) bson.D {
	for _, field := range []string{"fullDocument", "fullDocumentBeforeChange"} {
		if v, err := raw.LookupErr(field); err == nil && v.Type == bson.TypeEmbeddedDocument {
			var d bson.D
			if bson.Unmarshal(v.Value, &d) == nil {
				return d
			}
		}
	}
	return nil
}

// add registers a subscription; Unsubscribe removes it.
func (f *relayFeed) add(filter bson.D, types []listen.OperationType, h listen.Handler[Book]) (*feedSub, error) {
	m, err := mql.NewMatcher(filter)
	if err != nil {
		return nil, err
	}
	s := &feedSub{f: f, m: m, ops: map[listen.OperationType]bool{}, h: h, done: make(chan struct{})}
	for _, t := range types {
		s.ops[t] = true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.cons.Done():
		return nil, errors.New("graphql: the relay feed has stopped")
	default:
	}
	f.subs[s] = true
	go func() {
		select {
		case <-f.cons.Done():
			s.close.Do(func() { close(s.done) })
		case <-s.done:
		}
	}()
	return s, nil
}

func (s *feedSub) Done() <-chan struct{} { return s.done }

// Unsubscribe removes the subscription once no change is being handed to
// it.
func (s *feedSub) Unsubscribe() error {
	s.f.mu.Lock()
	delete(s.f.subs, s)
	s.f.mu.Unlock()
	s.close.Do(func() { close(s.done) })
	return nil
}

// stop stops the feed's consumer.
func (f *relayFeed) stop(ctx context.Context) error { return f.cons.Stop(ctx) }
