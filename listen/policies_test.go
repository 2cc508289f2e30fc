package listen_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/resume"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// lostHistory returns a collection on a server with a tiny oplog and a store
// whose token for "k" has fallen out of it. Documents 0..39 exist.
func lostHistory(t *testing.T) (*mongo.Collection, resume.Store) {
	t.Helper()
	testenv.SkipIfExternal(t, "a tiny OplogCapacity")
	srv := testenv.StartEmbedded(t, embedded.Config{OplogCapacity: 8})
	client := testenv.Connect(t, srv.URI(), nil)
	coll := newColl(t, client)
	store := resume.NewMemoryStore()
	var r recorder
	sub := mustListen(t, coll, r.handle, listen.WithResumeStore(store, "k"))
	insertN(t, coll, 0, 1)
	r.waitN(t, 1)
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	insertN(t, coll, 1, 40)
	return coll, store
}

func TestHistoryLostFailPolicy(t *testing.T) {
	coll, store := lostHistory(t)
	var r recorder
	_, err := listen.Listen[Book](context.Background(), coll, r.handle, listen.WithResumeStore(store, "k"))
	if !errors.Is(err, listen.ErrHistoryLost) {
		t.Fatalf("Listen = %v, want ErrHistoryLost", err)
	}
}

func TestHistoryLostRestartFromNow(t *testing.T) {
	coll, store := lostHistory(t)
	stored, _ := store.Load(context.Background(), "k")
	var r recorder
	var mu sync.Mutex
	var gaps []listen.Gap
	mustListen(t, coll, r.handle, listen.WithResumeStore(store, "k"),
		listen.WithHistoryLostPolicy(listen.HistoryLostRestartFromNow),
		listen.WithOnError(r.onError),
		listen.WithOnGap(func(g listen.Gap) { mu.Lock(); gaps = append(gaps, g); mu.Unlock() }))
	insertN(t, coll, 40, 42)
	got := ns(r.waitN(t, 2))
	if got[0] != 40 || got[1] != 41 {
		t.Fatalf("after restart-from-now got %v, want [40 41]", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gaps) != 1 || string(gaps[0].FromToken) != string(stored) {
		t.Fatalf("gaps = %+v, want one starting at the stored token", gaps)
	}
	var ge *listen.GapError
	if errs := r.errors(); len(errs) != 1 || !errors.As(errs[0], &ge) || !errors.Is(errs[0], listen.ErrHistoryLost) {
		t.Fatalf("error handler got %v", errs)
	}
}

// A gap handler is a handler for the gap: retried until it succeeds, no
// event after the gap is delivered before that, and a subscription stopped
// while it still fails keeps its checkpoint before the gap, so the next run
// meets the gap again (with OnGap the checkpoint moved past it at once).
func TestGapHandlerHoldsTheCheckpoint(t *testing.T) {
	coll, store := lostHistory(t)
	stored, _ := store.Load(context.Background(), "k")
	var calls atomic.Int64
	failing := func(context.Context, listen.Gap) error { calls.Add(1); return errors.New("flush failed") }
	var r1 recorder
	sub, err := listen.Listen[Book](context.Background(), coll, r1.handle, listen.WithResumeStore(store, "k"),
		listen.WithHistoryLostPolicy(listen.HistoryLostRestartFromNow),
		listen.WithHandlerAttempts(math.MaxInt32), listen.WithHandlerBackoff(quickRetry),
		listen.WithGapHandler(failing))
	if err != nil {
		t.Fatal(err)
	}
	insertN(t, coll, 40, 41)
	testenv.Eventually(t, waitTimeout, "retried gap handler", func() bool { return calls.Load() >= 3 })
	if got := r1.events(); len(got) != 0 {
		t.Fatalf("delivered %v before the gap was handled", ns(got))
	}
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if tok, _ := store.Load(context.Background(), "k"); string(tok) != string(stored) {
		t.Fatal("checkpoint moved past a gap whose handler never succeeded")
	}

	var r2 recorder
	var handled atomic.Int64
	mustListen(t, coll, r2.handle, listen.WithResumeStore(store, "k"),
		listen.WithHistoryLostPolicy(listen.HistoryLostRestartFromNow),
		listen.WithGapHandler(func(context.Context, listen.Gap) error { handled.Add(1); return nil }))
	insertN(t, coll, 41, 42)
	if got := ns(r2.waitN(t, 1)); got[0] != 41 {
		t.Fatalf("after the gap got %v, want [41]", got)
	}
	if n := handled.Load(); n != 1 {
		t.Fatalf("gap handler ran %d times on the next run, want 1", n)
	}
}

func TestHistoryLostResnapshot(t *testing.T) {
	coll, store := lostHistory(t)
	var r recorder
	mustListen(t, coll, r.handle, listen.WithResumeStore(store, "k"),
		listen.WithHistoryLostPolicy(listen.HistoryLostResnapshot))
	insertN(t, coll, 40, 41)
	testenv.Eventually(t, waitTimeout, "snapshot and tail", func() bool {
		evs := r.events()
		return len(evs) > 0 && evs[len(evs)-1].OperationType == listen.Insert && evs[len(evs)-1].FullDocument.N == 40
	})
	evs := r.events()
	seen := map[int]bool{}
	for _, ev := range evs[:len(evs)-1] {
		if ev.OperationType != listen.Snapshot {
			// The insert of 40 may arrive as an event and within the snapshot.
			if ev.FullDocument.N != 40 {
				t.Fatalf("unexpected %s event before the tail: %+v", ev.OperationType, ev.FullDocument)
			}
			continue
		}
		seen[ev.FullDocument.N] = true
	}
	for i := 0; i < 40; i++ {
		if !seen[i] {
			t.Fatalf("document %d missing from the snapshot (%d events)", i, len(evs))
		}
	}
}

func TestInvalidateStop(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	var r recorder
	sub := mustListen(t, coll, r.handle)
	insertN(t, coll, 0, 1)
	r.waitN(t, 1)
	if err := coll.Drop(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("still running after the collection was dropped")
	}
	if !errors.Is(sub.Err(), listen.ErrInvalidated) {
		t.Fatalf("Err = %v, want ErrInvalidated", sub.Err())
	}
	evs := r.events()
	if len(evs) != 3 || evs[1].OperationType != listen.Drop || evs[2].OperationType != listen.Invalidate {
		ops := []listen.OperationType{}
		for _, e := range evs {
			ops = append(ops, e.OperationType)
		}
		t.Fatalf("events %v, want insert, drop, invalidate", ops)
	}
}

func TestInvalidateContinue(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	var r recorder
	sub := mustListen(t, coll, r.handle, listen.WithInvalidatePolicy(listen.InvalidateContinue),
		listen.WithOperationTypes(listen.Insert), listen.WithReconnectBackoff(fastReconnect))
	insertN(t, coll, 0, 1)
	r.waitN(t, 1)
	if err := coll.Drop(context.Background()); err != nil {
		t.Fatal(err)
	}
	insertN(t, coll, 1, 3)
	testenv.Eventually(t, waitTimeout, "inserts into the recreated collection", func() bool { return r.len() == 3 })
	checkSequence(t, ns(r.events()), 3)
	if sub.Err() != nil {
		t.Fatalf("Err = %v", sub.Err())
	}
}

// A 286 on getMore while running, under RestartFromNow: the shared stream
// reopens at the current time and the listener reports the gap and goes on.
func TestHistoryLostDuringRunRestartFromNow(t *testing.T) {
	client := testenv.Client(t)
	coll := newColl(t, client)
	var r recorder
	gaps := make(chan listen.Gap, 1)
	sub := mustListen(t, coll, r.handle, listen.WithHistoryLostPolicy(listen.HistoryLostRestartFromNow),
		listen.WithOnGap(func(g listen.Gap) { gaps <- g }))
	insertN(t, coll, 0, 1)
	r.waitN(t, 1)
	failPoint(t, client, times(1), bson.D{
		{Key: "failCommands", Value: bson.A{"getMore"}},
		{Key: "errorCode", Value: 286},
	})
	var g listen.Gap
	select {
	case g = <-gaps:
	case <-time.After(15 * time.Second):
		t.Fatal("no gap reported")
	}
	if g.FromToken == nil || g.ToToken == nil || g.FromTime.T == 0 {
		t.Fatalf("gap bounds missing: %+v", g)
	}
	insertN(t, coll, 1, 3)
	testenv.Eventually(t, waitTimeout, "events after the gap", func() bool { return r.len() == 3 })
	checkSequence(t, ns(r.events()), 3)
	if sub.Err() != nil {
		t.Fatalf("Err = %v", sub.Err())
	}
}
