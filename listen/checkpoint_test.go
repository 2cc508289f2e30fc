package listen_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/resume"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Stop, write while stopped, restart on the same store: nothing lost, and
// with the final checkpoint saved on Unsubscribe nothing repeated.
func TestResumeFromStore(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	store := resume.NewMemoryStore()
	var r1 recorder
	sub := mustListen(t, coll, r1.handle, listen.WithResumeStore(store, "books"))
	insertN(t, coll, 0, 10)
	r1.waitN(t, 10)
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if sub.Err() != nil {
		t.Fatalf("Err after Unsubscribe = %v", sub.Err())
	}
	insertN(t, coll, 10, 20)

	var r2 recorder
	mustListen(t, coll, r2.handle, listen.WithResumeStore(store, "books"))
	insertN(t, coll, 20, 25)
	r2.waitN(t, 1)
	testenv.Eventually(t, waitTimeout, "the last insert", func() bool { g := ns(r2.events()); return g[len(g)-1] == 24 })
	got := ns(r2.events())
	if len(got) != 15 {
		t.Fatalf("restart got %v", got)
	}
	for i, v := range got {
		if v != 10+i {
			t.Fatalf("restart got %v, want 10..24", got)
		}
	}
}

// A subscription stopped before it saw any event or idle progress still
// saves where it started: the next one, on the same store, gets the write
// made in between (CI once lost it: the first run had saved nothing).
func TestStopBeforeFirstEventSavesStart(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	store := resume.NewMemoryStore()
	var r1 recorder
	// A long await: no idle progress can reach the listener before Stop.
	sub := mustListen(t, coll, r1.handle, listen.WithResumeStore(store, "fresh"), listen.WithMaxAwaitTime(time.Minute))
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if tok, err := store.Load(t.Context(), "fresh"); err != nil || tok == nil {
		t.Fatalf("stored after a stop with no events: %v, %v; want the start position", tok, err)
	}
	insertN(t, coll, 0, 1)

	var r2 recorder
	mustListen(t, coll, r2.handle, listen.WithResumeStore(store, "fresh"))
	r2.waitN(t, 1)
	if got := ns(r2.events()); got[0] != 0 {
		t.Fatalf("restart got %v, want the write made while stopped", got)
	}
}

// failingStore fails every Save once failing is set, like a process that
// dies before checkpointing.
type failingStore struct {
	resume.Store
	failing atomic.Bool
	saves   atomic.Int64
}

func (s *failingStore) Save(ctx context.Context, key string, tok bson.Raw) error {
	if s.failing.Load() {
		return errors.New("simulated crash: checkpoint not written")
	}
	s.saves.Add(1)
	return s.Store.Save(ctx, key, tok)
}

// A listener that dies without its final checkpoint restarts from the last
// batch checkpoint: no loss, duplicates bounded by the batch size.
func TestCrashWithoutFinalCheckpoint(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	base := resume.NewMemoryStore()
	fs := &failingStore{Store: base}
	const batch = 5
	var r1 recorder
	sub := mustListen(t, coll, r1.handle, listen.WithResumeStore(fs, "k"),
		listen.WithCheckpointEvery(batch), listen.WithCheckpointInterval(time.Hour), listen.WithOnError(r1.onError))
	insertN(t, coll, 0, 12)
	r1.waitN(t, 12)
	testenv.Eventually(t, waitTimeout, "two batch checkpoints", func() bool { return fs.saves.Load() >= 2 })
	fs.failing.Store(true)
	if err := sub.Unsubscribe(); err == nil {
		t.Fatal("Unsubscribe reported no error although the final checkpoint failed")
	}
	insertN(t, coll, 12, 15)

	var r2 recorder
	mustListen(t, coll, r2.handle, listen.WithResumeStore(base, "k"))
	r2.waitN(t, 1)
	testenv.Eventually(t, waitTimeout, "events up to 14", func() bool { g := ns(r2.events()); return g[len(g)-1] == 14 })
	got := ns(r2.events())
	if got[0] != 10 {
		t.Fatalf("restart began at n=%d, want 10 (the last batch checkpoint): %v", got[0], got)
	}
	for i := range got {
		if got[i] != 10+i {
			t.Fatalf("restart got %v, want 10..14", got)
		}
	}
	if dups := 12 - got[0]; dups > batch {
		t.Fatalf("%d duplicates, more than the batch %d", dups, batch)
	}
}

// tokenLog records every saved token.
type tokenLog struct {
	mu     sync.Mutex
	tokens []bson.Raw
}

func (l *tokenLog) Load(context.Context, string) (bson.Raw, error) { return nil, nil }
func (l *tokenLog) Save(_ context.Context, _ string, tok bson.Raw) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tokens = append(l.tokens, bytes.Clone(tok))
	return nil
}
func (l *tokenLog) last() bson.Raw {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.tokens) == 0 {
		return nil
	}
	return l.tokens[len(l.tokens)-1]
}

// While the watched collection is quiet, the postBatchResumeToken is saved so
// the stored token keeps up with the oplog.
func TestIdleTokenAdvances(t *testing.T) {
	client := testenv.Client(t)
	coll := newColl(t, client)
	other := coll.Database().Collection("other")
	store := &tokenLog{}
	var r recorder
	mustListen(t, coll, r.handle, listen.WithResumeStore(store, "idle"),
		listen.WithCheckpointEvery(1), listen.WithCheckpointInterval(20*time.Millisecond), listen.WithMaxAwaitTime(50*time.Millisecond))
	testenv.Eventually(t, waitTimeout, "a first idle checkpoint", func() bool { return store.last() != nil })
	first := store.last()
	if _, err := other.InsertOne(context.Background(), bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitTimeout, "the idle checkpoint to move past a write elsewhere", func() bool {
		return !bytes.Equal(store.last(), first)
	})
	if r.len() != 0 {
		t.Fatalf("the listener received %d events from another collection", r.len())
	}
}

// A listener whose filter hides every event still checkpoints past them.
func TestFilteredEventsAdvanceCheckpoint(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	hub := listen.NewHub()
	store := &tokenLog{}
	var seen, r recorder
	mustListen(t, coll, seen.handle, listen.WithHub(hub))
	mustListen(t, coll, r.handle, listen.WithHub(hub), listen.WithResumeStore(store, "f"),
		listen.WithOperationTypes(listen.Delete), listen.WithCheckpointEvery(1), listen.WithCheckpointInterval(10*time.Millisecond))
	insertN(t, coll, 0, 5)
	lastID := seen.waitN(t, 5)[4].ID
	testenv.Eventually(t, waitTimeout, "the filtered listener's checkpoint to reach the last insert", func() bool {
		return tokenAtOrAfter(store.last(), lastID)
	})
	if r.len() != 0 {
		t.Fatalf("delete-only listener got %d events", r.len())
	}
}

// tokenAtOrAfter compares _data strings, which MongoDB encodes so that they
// sort in event order.
func tokenAtOrAfter(a, b bson.Raw) bool {
	if a == nil {
		return false
	}
	av, aerr := a.LookupErr("_data")
	bv, berr := b.LookupErr("_data")
	if aerr != nil || berr != nil {
		return false
	}
	return av.StringValue() >= bv.StringValue()
}

// With concurrency, the checkpoint covers only the contiguous prefix of
// completed events: a slow event holds it back while later ones complete.
func TestConcurrencyCheckpointsContiguousPrefix(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	store := &tokenLog{}
	release := make(chan struct{})
	var mu sync.Mutex
	tokens := map[int]bson.Raw{}
	done := 0
	mustListen(t, coll, func(_ context.Context, _ string, ev *listen.ChangeEvent[Book]) error {
		if ev.FullDocument.N == 0 {
			<-release
		}
		mu.Lock()
		defer mu.Unlock()
		tokens[ev.FullDocument.N] = ev.ID
		done++
		return nil
	}, listen.WithConcurrency(4), listen.WithResumeStore(store, "c"), listen.WithCheckpointEvery(1), listen.WithCheckpointInterval(5*time.Millisecond))
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	insertN(t, coll, 0, 40)
	// Events of other documents complete on the other workers (those
	// behind event 0 on its worker wait, preserving per-document order).
	testenv.Eventually(t, waitTimeout, "later events to complete", func() bool { mu.Lock(); defer mu.Unlock(); return done >= 5 })
	// Several checkpoint intervals (5ms) pass while event 0 still runs.
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) {
		runtime.Gosched()
	}
	store.mu.Lock()
	saved := append([]bson.Raw(nil), store.tokens...)
	store.mu.Unlock()
	close(release)
	testenv.Eventually(t, waitTimeout, "every event", func() bool { mu.Lock(); defer mu.Unlock(); return done == 40 })
	mu.Lock()
	first, last := tokens[0], tokens[39]
	mu.Unlock()
	for _, tok := range saved {
		if tokenAtOrAfter(tok, first) {
			t.Fatalf("checkpoint %v moved past the unfinished event %v", tok, first)
		}
	}
	testenv.Eventually(t, waitTimeout, "the checkpoint to reach the last event", func() bool { return tokenAtOrAfter(store.last(), last) })
}

// Stats.HandledThrough and OnHandled follow the contiguous handled prefix:
// they stay before an unfinished event while later ones complete on other
// workers (LastClusterTime runs ahead), and reach the last event once it is
// done.
func TestConcurrencyHandledThrough(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	release := make(chan struct{})
	var mu sync.Mutex
	times := map[int]bson.Timestamp{}
	var hooked []bson.Timestamp
	sub := mustListen(t, coll, func(_ context.Context, _ string, ev *listen.ChangeEvent[Book]) error {
		if ev.FullDocument.N == 0 {
			<-release
		}
		mu.Lock()
		defer mu.Unlock()
		times[ev.FullDocument.N] = ev.ClusterTime
		return nil
	}, listen.WithConcurrency(4), listen.WithOnHandled(func(ts bson.Timestamp) {
		mu.Lock()
		defer mu.Unlock()
		hooked = append(hooked, ts)
	}))
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	insertN(t, coll, 0, 20)
	testenv.Eventually(t, waitTimeout, "later events to complete", func() bool { mu.Lock(); defer mu.Unlock(); return len(times) >= 5 })
	if st := sub.Stats(); !st.HandledThrough.IsZero() {
		t.Fatalf("HandledThrough %v while the first event is unfinished (LastClusterTime %v)", st.HandledThrough, st.LastClusterTime)
	}
	mu.Lock()
	early := len(hooked)
	mu.Unlock()
	if early != 0 {
		t.Fatalf("OnHandled called %d times while the first event is unfinished", early)
	}
	if st := sub.Stats(); st.Unfinished < 1 {
		t.Fatalf("Unfinished %d while the first event runs", st.Unfinished)
	}
	close(release)
	testenv.Eventually(t, waitTimeout, "every event", func() bool { mu.Lock(); defer mu.Unlock(); return len(times) == 20 })
	mu.Lock()
	last := times[19]
	mu.Unlock()
	testenv.Eventually(t, waitTimeout, "HandledThrough to reach the last event", func() bool { return sub.Stats().HandledThrough == last })
	if st := sub.Stats(); st.Unfinished != 0 {
		t.Fatalf("Unfinished %d after every event was handled", st.Unfinished)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(hooked); i++ {
		if !hooked[i-1].Before(hooked[i]) {
			t.Fatalf("OnHandled went %v then %v, want increasing", hooked[i-1], hooked[i])
		}
	}
	if len(hooked) == 0 || hooked[len(hooked)-1] != last {
		t.Fatalf("OnHandled calls %v, want them to end at the last event %v", hooked, last)
	}
}
