package listen_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Stop called from the subscription's own code returns at once and stops
// the subscription, whichever ctx it is given: from a handler with
// context.Background() (Unsubscribe), and from OnError.
func TestStopFromOwnCodeWithAnyContext(t *testing.T) {
	t.Run("handler/Unsubscribe", func(t *testing.T) {
		coll := newColl(t, testenv.Client(t))
		var sub *listen.Subscription
		ready := make(chan struct{})
		var r recorder
		sub = mustListen(t, coll, func(ctx context.Context, id string, ev *listen.ChangeEvent[Book]) error {
			<-ready
			if err := r.handle(ctx, id, ev); err != nil {
				return err
			}
			return sub.Unsubscribe()
		})
		close(ready)
		insertN(t, coll, 0, 3)
		testenv.Eventually(t, waitTimeout, "the subscription stopped by its handler", func() bool {
			select {
			case <-sub.Done():
				return true
			default:
				return false
			}
		})
		if sub.Err() != nil || r.len() != 1 {
			t.Fatalf("Err = %v, handled %d events, want nil and 1", sub.Err(), r.len())
		}
	})
	t.Run("OnError", func(t *testing.T) {
		coll := newColl(t, testenv.Client(t))
		var sub *listen.Subscription
		ready := make(chan struct{})
		sub = mustListen(t, coll, func(context.Context, string, *listen.ChangeEvent[Book]) error {
			return errors.New("always")
		}, listen.WithHandlerAttempts(1), listen.WithHandlerFailurePolicy(listen.HandlerFailureSkip),
			listen.WithOnError(func(error) {
				<-ready
				_ = sub.Stop(context.Background())
			}))
		close(ready)
		insertN(t, coll, 0, 1)
		testenv.Eventually(t, waitTimeout, "the subscription stopped by OnError", func() bool {
			select {
			case <-sub.Done():
				return true
			default:
				return false
			}
		})
	})
}

// A Stop whose ctx ends before a handler returns cancels the context the
// handlers received and returns the ctx's error; the subscription still
// ends.
func TestStopDeadlineCancelsHandlers(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	started := make(chan struct{}, 1)
	sub := mustListen(t, coll, func(ctx context.Context, _ string, _ *listen.ChangeEvent[Book]) error {
		started <- struct{}{}
		<-ctx.Done() // a handler that only ends when told to
		return ctx.Err()
	})
	insertN(t, coll, 0, 1)
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := sub.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want DeadlineExceeded", err)
	}
	testenv.Eventually(t, waitTimeout, "the subscription ended after its handler was cancelled", func() bool {
		select {
		case <-sub.Done():
			return true
		default:
			return false
		}
	})
}

// Hub.join opens a new server stream without holding the hub's lock: while
// one listener's aggregate is held up on the server, another listener of
// the same hub unsubscribes at once.
func TestSlowJoinDoesNotBlockUnsubscribe(t *testing.T) {
	writer, lcoll := listenerClient(t)
	hub := listen.NewHub()
	h := func(context.Context, string, *listen.ChangeEvent[Book]) error { return nil }
	first, err := listen.Listen[Book](context.Background(), lcoll, h, listen.WithHub(hub))
	if err != nil {
		t.Fatal(err)
	}
	failPoint(t, writer, times(1), bson.D{
		{Key: "failCommands", Value: bson.A{"aggregate"}},
		{Key: "blockConnection", Value: true},
		{Key: "blockTimeMS", Value: 5000},
		{Key: "appName", Value: listenerApp},
	})
	slowDone := make(chan error, 1)
	go func() {
		// Another server-side option: a stream of its own, whose aggregate
		// the failpoint holds up.
		sub, err := listen.Listen[Book](context.Background(), lcoll, h, listen.WithHub(hub),
			listen.WithFullDocument(options.UpdateLookup))
		if err == nil {
			err = sub.Unsubscribe()
		}
		slowDone <- err
	}()
	testenv.Eventually(t, waitTimeout, "the slow aggregate to be held on the server (StreamCount blocks while a join holds the hub lock)", func() bool { return hub.StreamCount() == 2 })
	unsubscribed := make(chan error, 1)
	go func() { unsubscribed <- first.Unsubscribe() }()
	select {
	case err := <-unsubscribed:
		if err != nil {
			t.Fatal(err)
		}
	case err := <-slowDone:
		t.Fatalf("the slow Listen (err %v) returned before the other listener's Unsubscribe: it waited for the hub lock", err)
	}
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
}
