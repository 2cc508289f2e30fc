package listen_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/resume"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// batchRecorder records the batches a BatchHandler got.
type batchRecorder struct {
	mu      sync.Mutex
	batches [][]int
	fail    func(call int, evs []*listen.ChangeEvent[Book]) error
	calls   int
}

func (b *batchRecorder) handle(_ context.Context, evs []*listen.ChangeEvent[Book]) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if b.fail != nil {
		if err := b.fail(b.calls, evs); err != nil {
			return err
		}
	}
	b.batches = append(b.batches, ns(evs))
	return nil
}

func (b *batchRecorder) all() (flat []int, largest int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, bt := range b.batches {
		flat = append(flat, bt...)
		largest = max(largest, len(bt))
	}
	return flat, largest
}

func mustListenBatch(t *testing.T, coll interface{ Name() string }, sub func() (*listen.Subscription, error)) *listen.Subscription {
	t.Helper()
	s, err := sub()
	if err != nil {
		t.Fatalf("ListenBatch on %s: %v", coll.Name(), err)
	}
	t.Cleanup(func() { _ = s.Unsubscribe() })
	return s
}

// A burst of writes arrives in batches (under a linger), every event once
// and in order; BatchMax bounds a batch.
func TestListenBatchDeliversInOrderInBatches(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	var b batchRecorder
	mustListenBatch(t, coll, func() (*listen.Subscription, error) {
		return listen.ListenBatch[Book](context.Background(), coll, b.handle, listen.WithBatch(7, 300*time.Millisecond))
	})
	docs := make([]any, 30)
	for i := range docs {
		docs[i] = Book{ID: i, N: i}
	}
	if _, err := coll.InsertMany(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitTimeout, "30 events", func() bool { got, _ := b.all(); return len(got) >= 30 })
	got, largest := b.all()
	checkSequence(t, got, 30)
	if largest < 2 || largest > 7 {
		t.Fatalf("largest batch %d, want 2..7 (batches %v)", largest, b.batches)
	}
}

// A failed batch is retried whole, and the checkpoint moves past it only
// after it succeeded: a restart after a batch that never succeeded gets
// the same events again.
func TestListenBatchRetriesWholeBatchAndCheckpointsAfter(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	store := resume.NewMemoryStore()
	var seen [][]int
	b := batchRecorder{fail: func(call int, evs []*listen.ChangeEvent[Book]) error {
		seen = append(seen, ns(evs))
		if call == 1 {
			return errors.New("transient")
		}
		return nil
	}}
	mustListenBatch(t, coll, func() (*listen.Subscription, error) {
		return listen.ListenBatch[Book](context.Background(), coll, b.handle, listen.WithBatch(100, 300*time.Millisecond),
			listen.WithHandlerBackoff(quickRetry), listen.WithResumeStore(store, "k"), listen.WithCheckpointEvery(1))
	})
	insertN(t, coll, 0, 3)
	testenv.Eventually(t, waitTimeout, "3 events", func() bool { got, _ := b.all(); return len(got) >= 3 })
	b.mu.Lock()
	if len(seen) < 2 || fmt.Sprint(seen[0]) != fmt.Sprint(seen[1]) {
		t.Fatalf("the retry got %v, the failed call %v: want the same batch", seen[1:], seen[0])
	}
	b.mu.Unlock()

	// A poison batch under Stop: the subscription ends, and a restart
	// gets it again.
	coll2 := newColl(t, testenv.Client(t))
	store2 := resume.NewMemoryStore()
	poison := batchRecorder{fail: func(int, []*listen.ChangeEvent[Book]) error { return errors.New("poison") }}
	sub := mustListenBatch(t, coll2, func() (*listen.Subscription, error) {
		return listen.ListenBatch[Book](context.Background(), coll2, poison.handle, listen.WithHandlerAttempts(2),
			listen.WithHandlerBackoff(quickRetry), listen.WithResumeStore(store2, "k"), listen.WithCheckpointEvery(1))
	})
	insertN(t, coll2, 0, 2)
	select {
	case <-sub.Done():
	case <-time.After(waitTimeout):
		t.Fatal("subscription survived a poison batch under Stop")
	}
	var he *listen.HandlerError
	if !errors.As(sub.Err(), &he) || he.Attempts != 2 || he.Token == nil {
		t.Fatalf("Err = %v, want a HandlerError naming the batch's first event after 2 attempts", sub.Err())
	}
	var again batchRecorder
	mustListenBatch(t, coll2, func() (*listen.Subscription, error) {
		return listen.ListenBatch[Book](context.Background(), coll2, again.handle, listen.WithResumeStore(store2, "k"))
	})
	testenv.Eventually(t, waitTimeout, "redelivery", func() bool { got, _ := again.all(); return len(got) >= 2 })
	if got, _ := again.all(); got[0] != 0 || got[1] != 1 {
		t.Fatalf("restart delivered %v, want [0 1]", got)
	}
}

// A lone event after a quiet spell goes at once, whatever the linger; the
// events that follow it while the stream is busy linger. A batch still
// lingering when the subscription stops is not handled and not
// checkpointed.
func TestListenBatchLingersOnlyWhileBusy(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	store := resume.NewMemoryStore()
	var b batchRecorder
	sub := mustListenBatch(t, coll, func() (*listen.Subscription, error) {
		return listen.ListenBatch[Book](context.Background(), coll, b.handle, listen.WithBatch(100, time.Hour),
			listen.WithResumeStore(store, "k"), listen.WithCheckpointEvery(1))
	})
	insertN(t, coll, 0, 1)
	testenv.Eventually(t, waitTimeout, "the lone event, despite an hour's linger", func() bool { got, _ := b.all(); return len(got) == 1 })
	insertN(t, coll, 1, 3)
	// The events are queued (Stats counts them) but wait for the linger.
	testenv.Eventually(t, waitTimeout, "events buffered", func() bool { st := sub.Stats(); return st.Buffered+st.Unfinished >= 2 })
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.all(); len(got) != 1 {
		t.Fatalf("handled %v, want only [0] during an hour-long linger", got)
	}
	var again batchRecorder
	mustListenBatch(t, coll, func() (*listen.Subscription, error) {
		return listen.ListenBatch[Book](context.Background(), coll, again.handle, listen.WithResumeStore(store, "k"))
	})
	testenv.Eventually(t, waitTimeout, "redelivery", func() bool { got, _ := again.all(); return len(got) >= 2 })
	if got, _ := again.all(); got[0] != 1 || got[1] != 2 {
		t.Fatalf("restart delivered %v, want [1 2]", got)
	}
}

func TestListenBatchOptions(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	var b batchRecorder
	if _, err := listen.Listen[Book](context.Background(), coll, (&recorder{}).handle, listen.WithBatch(10, 0)); err == nil {
		t.Fatal("Listen accepted WithBatch")
	}
	if _, err := listen.ListenBatch[Book](context.Background(), coll, b.handle, listen.WithConcurrency(2)); err == nil {
		t.Fatal("ListenBatch accepted Concurrency 2")
	}
	if _, err := listen.ListenBatch[Book](context.Background(), coll, b.handle, listen.WithBatch(0, time.Millisecond)); err != nil {
		t.Fatalf("BatchMax 0 (the default) refused: %v", err)
	}
	if _, err := listen.ListenBatch[Book](context.Background(), coll, b.handle, listen.WithBatch(-1, 0)); err == nil {
		t.Fatal("ListenBatch accepted BatchMax -1")
	}
}

// A busy stream whose listeners all linger fetches many events per getMore
// instead of about one per write (a getMore returns as soon as one event
// is there): the stream waits half the linger before asking again.
func TestListenBatchFetchesManyEventsPerGetMore(t *testing.T) {
	var getMores atomic.Int64
	counting := testenv.ClientWith(t, options.Client().SetMonitor(&event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if e.CommandName == "getMore" {
				getMores.Add(1)
			}
		},
	}))
	coll := newColl(t, counting)
	var b batchRecorder
	mustListenBatch(t, coll, func() (*listen.Subscription, error) {
		return listen.ListenBatch[Book](context.Background(), coll, b.handle, listen.WithBatch(1000, 50*time.Millisecond))
	})
	const n = 300
	base := getMores.Load()
	insertN(t, coll, 0, n)
	testenv.Eventually(t, waitTimeout, "every event handled", func() bool { got, _ := b.all(); return len(got) == n })
	// Idle getMores (at most one per max await) add a few; without the
	// pause there are about n.
	if g := getMores.Load() - base; g*3 > n {
		t.Fatalf("%d getMores for %d events, want at least 3 events per getMore on average", g, n)
	}
}
