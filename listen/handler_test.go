package listen_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/resume"
)

func quickRetry() backoff.BackOff { return backoff.NewConstantBackOff(time.Millisecond) }

func TestHandlerRetriesThenSucceeds(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	var mu sync.Mutex
	calls := map[int]int{}
	var r recorder
	mustListen(t, coll, func(ctx context.Context, id string, ev *listen.ChangeEvent[Book]) error {
		mu.Lock()
		calls[ev.FullDocument.N]++
		c := calls[ev.FullDocument.N]
		mu.Unlock()
		if ev.FullDocument.N == 1 && c < 3 {
			return errors.New("transient")
		}
		return r.handle(ctx, id, ev)
	}, listen.WithHandlerAttempts(3), listen.WithHandlerBackoff(quickRetry), listen.WithHandlerFailurePolicy(listen.HandlerFailureStop))
	insertN(t, coll, 0, 3)
	testenv.Eventually(t, waitTimeout, "three events", func() bool { return r.len() == 3 })
	checkSequence(t, ns(r.events()), 3)
	mu.Lock()
	defer mu.Unlock()
	if calls[1] != 3 {
		t.Fatalf("event 1 tried %d times, want 3", calls[1])
	}
}

// Exhausted retries under Stop end the subscription and keep the checkpoint
// before the failed event, so a restart delivers it again.
func TestHandlerFailureStop(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	store := resume.NewMemoryStore()
	var r recorder
	sub := mustListen(t, coll, func(ctx context.Context, id string, ev *listen.ChangeEvent[Book]) error {
		if ev.FullDocument.N == 2 {
			return errors.New("poison")
		}
		return r.handle(ctx, id, ev)
	}, listen.WithHandlerAttempts(2), listen.WithHandlerBackoff(quickRetry), listen.WithHandlerFailurePolicy(listen.HandlerFailureStop),
		listen.WithResumeStore(store, "k"), listen.WithCheckpointEvery(1), listen.WithCheckpointInterval(time.Hour))
	insertN(t, coll, 0, 4)
	select {
	case <-sub.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("subscription survived a poison event under Stop")
	}
	var he *listen.HandlerError
	if !errors.Is(sub.Err(), listen.ErrHandler) || !errors.As(sub.Err(), &he) || he.Attempts != 2 {
		t.Fatalf("Err = %v", sub.Err())
	}
	checkSequence(t, ns(r.events()), 2)

	var r2 recorder
	mustListen(t, coll, r2.handle, listen.WithResumeStore(store, "k"))
	testenv.Eventually(t, waitTimeout, "redelivery", func() bool { return r2.len() >= 2 })
	if got := ns(r2.events()); got[0] != 2 || got[1] != 3 {
		t.Fatalf("restart delivered %v, want [2 3]", got)
	}
}

func TestHandlerFailureSkipAndPanic(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	var r recorder
	sub := mustListen(t, coll, func(ctx context.Context, id string, ev *listen.ChangeEvent[Book]) error {
		switch ev.FullDocument.N {
		case 1:
			return errors.New("poison")
		case 2:
			panic("boom")
		}
		return r.handle(ctx, id, ev)
	}, listen.WithHandlerAttempts(2), listen.WithHandlerBackoff(quickRetry), listen.WithHandlerFailurePolicy(listen.HandlerFailureSkip), listen.WithOnError(r.onError))
	insertN(t, coll, 0, 4)
	testenv.Eventually(t, waitTimeout, "events 0 and 3", func() bool { return r.len() == 2 })
	if got := ns(r.events()); got[0] != 0 || got[1] != 3 {
		t.Fatalf("got %v", got)
	}
	errs := r.errors()
	if len(errs) != 2 {
		t.Fatalf("error handler got %v, want 2 errors", errs)
	}
	var pe *listen.PanicError
	if !errors.As(errs[1], &pe) || pe.Value != "boom" {
		t.Fatalf("second error %v is not the recovered panic", errs[1])
	}
	if sub.Err() != nil {
		t.Fatalf("subscription ended: %v", sub.Err())
	}
}

type strictBook struct {
	N int `bson:"n"`
}

func TestUndecodableEventReported(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	var mu sync.Mutex
	var got []int
	var errs []error
	sub, err := listen.Listen[strictBook](context.Background(), coll, func(_ context.Context, _ string, ev *listen.ChangeEvent[strictBook]) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev.FullDocument.N)
		return nil
	}, listen.WithHandlerAttempts(1), listen.WithHandlerFailurePolicy(listen.HandlerFailureSkip), listen.WithOnError(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	ctx := context.Background()
	if _, err := coll.InsertOne(ctx, map[string]any{"n": "not a number"}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, map[string]any{"n": 7}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitTimeout, "the good event", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 })
	mu.Lock()
	defer mu.Unlock()
	var de *listen.DecodeError
	if len(errs) != 1 || !errors.As(errs[0], &de) || len(de.Raw) == 0 {
		t.Fatalf("errors = %v, want one DecodeError with raw bytes", errs)
	}
	if got[0] != 7 {
		t.Fatalf("got %v", got)
	}
}

// With concurrency, events of one document stay in order.
func TestConcurrencyKeepsPerDocumentOrder(t *testing.T) {
	ctx := context.Background()
	coll := newColl(t, testenv.Client(t))
	var mu sync.Mutex
	seen := map[string][]int{}
	total := 0
	mustListen(t, coll, func(_ context.Context, id string, ev *listen.ChangeEvent[Book]) error {
		n := 0
		if ev.UpdateDescription != nil {
			n = int(ev.UpdateDescription.UpdatedFields.Lookup("n").AsInt64())
		}
		time.Sleep(time.Duration(n%3) * time.Millisecond) // uneven handler times
		mu.Lock()
		defer mu.Unlock()
		seen[id] = append(seen[id], n)
		total++
		return nil
	}, listen.WithConcurrency(4))
	const docs, updates = 5, 20
	for d := 0; d < docs; d++ {
		if _, err := coll.InsertOne(ctx, Book{ID: string(rune('a' + d)), N: 0}); err != nil {
			t.Fatal(err)
		}
	}
	for u := 1; u <= updates; u++ {
		for d := 0; d < docs; d++ {
			if _, err := coll.UpdateOne(ctx, map[string]any{"_id": string(rune('a' + d))}, map[string]any{"$set": map[string]any{"n": u}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	testenv.Eventually(t, waitTimeout, "all events", func() bool { mu.Lock(); defer mu.Unlock(); return total == docs*(updates+1) })
	mu.Lock()
	defer mu.Unlock()
	for id, ns := range seen {
		for i, n := range ns {
			if n != i {
				t.Fatalf("document %s saw %v, out of order", id, ns)
			}
		}
	}
}

// A handler may stop its own subscription without deadlocking.
func TestStopFromInsideHandler(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	var sub *listen.Subscription
	ready := make(chan struct{})
	var r recorder
	sub = mustListen(t, coll, func(ctx context.Context, id string, ev *listen.ChangeEvent[Book]) error {
		<-ready
		if err := r.handle(ctx, id, ev); err != nil {
			return err
		}
		return sub.Stop(ctx)
	})
	close(ready)
	insertN(t, coll, 0, 3)
	select {
	case <-sub.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("Stop from the handler did not stop the subscription")
	}
	if sub.Err() != nil || r.len() != 1 {
		t.Fatalf("Err = %v, handled %d events, want nil and 1", sub.Err(), r.len())
	}
}
