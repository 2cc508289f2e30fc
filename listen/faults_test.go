package listen_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
)

const listenerApp = "listen-under-test"

// listenerClient returns a writer client and a collection on a second
// client (appName listenerApp) on the same server, so that failpoints and
// pool clears hit the listener only.
func listenerClient(t *testing.T) (*mongo.Client, *mongo.Collection) {
	t.Helper()
	uri := testenv.URI(t)
	writer := testenv.Connect(t, uri, nil)
	lc := testenv.Connect(t, uri, options.Client().SetAppName(listenerApp))
	return writer, newColl(t, lc)
}

func fastReconnect() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 5 * time.Millisecond
	b.MaxInterval = 50 * time.Millisecond
	b.MaxElapsedTime = 0
	return b
}

// Connections closed under getMore more often than the driver's single
// resume covers: the engine reopens from its last token, losing nothing and
// repeating nothing.
func TestReconnectAfterCloseConnection(t *testing.T) {
	writer, lcoll := listenerClient(t)
	coll := writer.Database(lcoll.Database().Name()).Collection(lcoll.Name())
	var r recorder
	sub := mustListen(t, lcoll, r.handle, listen.WithReconnectBackoff(fastReconnect), listen.WithOnError(r.onError))
	insertN(t, coll, 0, 5)
	r.waitN(t, 5)
	failPoint(t, writer, times(6), bson.D{
		{Key: "failCommands", Value: bson.A{"getMore", "aggregate"}},
		{Key: "closeConnection", Value: true},
		{Key: "appName", Value: listenerApp},
	})
	// A getMore already waiting on the server when the failpoint was set is
	// not failed by it and may deliver the first writes: the faults hit the
	// getMore after it, on whatever schedule. So wait for the reconnect the
	// faults force, then write the rest.
	insertN(t, coll, 5, 7)
	testenv.Eventually(t, waitTimeout, "a reconnect counted after the closed connections", func() bool { return sub.Stats().Reconnects > 0 })
	insertN(t, coll, 7, 10)
	testenv.Eventually(t, waitTimeout, "events after the faults", func() bool { g := ns(r.events()); return g[len(g)-1] == 9 })
	checkSequence(t, ns(r.events()), 10)
	var re *listen.ReconnectError
	if errs := r.errors(); len(errs) == 0 || !errors.As(errs[0], &re) {
		t.Fatalf("error handler got %v, want *ReconnectError", errs)
	}
	if sub.Err() != nil {
		t.Fatalf("subscription ended: %v", sub.Err())
	}
}

// Server errors labelled ResumableChangeStreamError (and not-primary codes)
// are resumable too.
func TestReconnectAfterResumableErrorLabel(t *testing.T) {
	client := testenv.Client(t)
	coll := newColl(t, client)
	var r recorder
	sub := mustListen(t, coll, r.handle, listen.WithReconnectBackoff(fastReconnect), listen.WithOnError(r.onError))
	// getMore fails, the driver's own resume (aggregate) fails too: only
	// the engine's reconnect gets past it.
	failPoint(t, client, times(4), bson.D{
		{Key: "failCommands", Value: bson.A{"getMore", "aggregate"}},
		{Key: "errorCode", Value: 10107}, // NotWritablePrimary
		{Key: "errorLabels", Value: bson.A{"ResumableChangeStreamError"}},
	})
	insertN(t, coll, 0, 5)
	testenv.Eventually(t, waitTimeout, "all events", func() bool { g := ns(r.events()); return len(g) > 0 && g[len(g)-1] == 4 })
	checkSequence(t, ns(r.events()), 5)
	// A getMore already waiting on the server when the failpoint was set is
	// not failed by it and may deliver every write: the faults then hit the
	// getMore after it, later. So wait for the reconnect rather than expect it
	// counted by the time the events are in.
	testenv.Eventually(t, waitTimeout, "a reconnect counted after the resumable errors",
		func() bool { return sub.Stats().Reconnects > 0 },
		func() string { return fmt.Sprintf("errors %v", r.errors()) })
	checkSequence(t, ns(r.events()), 5)
}

// A non-resumable server error on getMore ends the subscription loudly.
func TestFatalGetMoreErrorEndsSubscription(t *testing.T) {
	client := testenv.Client(t)
	coll := newColl(t, client)
	var r recorder
	sub := mustListen(t, coll, r.handle, listen.WithOnError(r.onError))
	failPoint(t, client, times(1), bson.D{
		{Key: "failCommands", Value: bson.A{"getMore"}},
		{Key: "errorCode", Value: 13}, // Unauthorized
	})
	select {
	case <-sub.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("subscription still running after a fatal error")
	}
	if sub.Err() == nil || listen.Classify(sub.Err()) != listen.Fatal {
		t.Fatalf("Err = %v, want the fatal server error", sub.Err())
	}
	if errs := r.errors(); len(errs) == 0 {
		t.Fatal("the error handler was not told")
	}
}

func TestAggregateErrorsFailListen(t *testing.T) {
	client := testenv.Client(t)
	coll := newColl(t, client)
	h := func(context.Context, string, *listen.ChangeEvent[Book]) error { return nil }

	failPoint(t, client, times(1), bson.D{
		{Key: "failCommands", Value: bson.A{"aggregate"}},
		{Key: "errorCode", Value: 40573},
	})
	_, err := listen.Listen[Book](context.Background(), coll, h)
	if !errors.Is(err, listen.ErrNotReplicaSet) {
		t.Fatalf("Listen on a standalone = %v, want ErrNotReplicaSet", err)
	}

	failPoint(t, client, times(1), bson.D{
		{Key: "failCommands", Value: bson.A{"aggregate"}},
		{Key: "errorCode", Value: 18}, // AuthenticationFailed
	})
	if _, err := listen.Listen[Book](context.Background(), coll, h); err == nil || listen.Classify(err) != listen.Fatal {
		t.Fatalf("Listen with an auth failure = %v", err)
	}
}

// A 286 during the run, under the default policy, ends the subscription
// with ErrHistoryLost.
func TestHistoryLostDuringRunFails(t *testing.T) {
	client := testenv.Client(t)
	coll := newColl(t, client)
	var r recorder
	sub := mustListen(t, coll, r.handle)
	failPoint(t, client, times(1), bson.D{
		{Key: "failCommands", Value: bson.A{"getMore"}},
		{Key: "errorCode", Value: 286},
	})
	select {
	case <-sub.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("subscription still running after 286")
	}
	if !errors.Is(sub.Err(), listen.ErrHistoryLost) {
		t.Fatalf("Err = %v, want ErrHistoryLost", sub.Err())
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want listen.ErrorClass
	}{
		{errors.New("dial tcp: connection refused"), listen.Resumable},
		{context.Canceled, listen.Fatal},
		// What a getMore or a resume's aggregate returns while the pool is
		// paused after another operation on the client lost its
		// connection: the driver's pool error (retryable) in a driver.Error
		// labelled TransientTransactionError, in a CommandError with code 0.
		// It ended the gateway's shared streams under load.
		{mongo.CommandError{Labels: []string{"TransientTransactionError"}, Wrapped: driver.Error{
			Message: "connection pool for 127.0.0.1:1 was cleared because another operation failed with: EOF",
			Labels:  []string{"TransientTransactionError"},
			Wrapped: poolCleared{},
		}}, listen.Resumable},
		// A server error with code 0 and no resumable label stays fatal.
		{mongo.CommandError{Message: "unknown"}, listen.Fatal},
	}
	for _, c := range cases {
		if got := listen.Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// poolCleared stands for the driver's unexported poolClearedError: a
// driver.RetryablePoolError.
type poolCleared struct{}

func (poolCleared) Error() string   { return "connection pool was cleared" }
func (poolCleared) Retryable() bool { return true }

var _ driver.RetryablePoolError = poolCleared{}
