package listen_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/redistest"
	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/lease/redislease"
	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/resume"
	"github.com/mongotide/mongotide/resume/redisstore"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// byHolder records which listener delivered what.
type byHolder struct {
	mu  sync.Mutex
	got map[string][]int // holder -> Book.N in delivery order
	all map[int]int      // N -> deliveries
}

func (b *byHolder) handler(holder string) listen.Handler[Book] {
	return func(_ context.Context, _ string, ev *listen.ChangeEvent[Book]) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.got == nil {
			b.got, b.all = map[string][]int{}, map[int]int{}
		}
		b.got[holder] = append(b.got[holder], ev.FullDocument.N)
		b.all[ev.FullDocument.N]++
		return nil
	}
}

func (b *byHolder) snapshot() (map[string]int, map[int]int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	per := map[string]int{}
	for h, ns := range b.got {
		per[h] = len(ns)
	}
	all := map[int]int{}
	for n, c := range b.all {
		all[n] = c
	}
	return per, all
}

// Of three listeners sharing a lease, one delivers; when it stops, another
// takes over from the shared checkpoint: every event once, none lost.
func TestLeaseOneHolderDeliversAndAStandbyTakesOver(t *testing.T) {
	client := testenv.Client(t)
	coll := newColl(t, client)
	rdb := redistest.Client(t)
	l := redislease.New(rdb, "")
	store := redisstore.New(rdb, "resume:")
	var b byHolder
	var subs []*listen.Subscription
	for i := range 3 {
		holder := fmt.Sprint("h", i)
		sub, err := listen.Listen[Book](t.Context(), coll, b.handler(holder),
			listen.WithLease(l, "books"), listen.WithLeaseTTL(300*time.Millisecond), listen.WithLeaseHolder(holder),
			listen.WithResumeStore(store, "books"), listen.WithCheckpointEvery(1))
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
		t.Cleanup(func() { _ = sub.Stop(context.Background()) })
	}
	holderIndex := func() int {
		for i, s := range subs {
			if s.Stats().LeaseHeld {
				return i
			}
		}
		return -1
	}
	testenv.Eventually(t, 10*time.Second, "a holder", func() bool { return holderIndex() >= 0 })
	// Wait for the holder's stream to be open: a first write delivered.
	insertN(t, coll, 0, 1)
	testenv.Eventually(t, 10*time.Second, "the first write delivered", func() bool { _, all := b.snapshot(); return all[0] == 1 })
	insertN(t, coll, 1, 50)
	testenv.Eventually(t, 10*time.Second, "50 delivered", func() bool { _, all := b.snapshot(); return len(all) == 50 })
	first := holderIndex()
	per, _ := b.snapshot()
	if len(per) != 1 {
		t.Fatalf("deliveries by %v: want one holder only", per)
	}
	// The holder stops (releasing the lease); writes meanwhile.
	if err := subs[first].Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	insertN(t, coll, 50, 100)
	testenv.Eventually(t, 10*time.Second, "another holder delivered the rest", func() bool {
		_, all := b.snapshot()
		return len(all) == 100
	}, func() string { per, all := b.snapshot(); return fmt.Sprint(per, len(all)) })
	per, all := b.snapshot()
	for n := range 100 {
		if all[n] != 1 {
			t.Errorf("event %d delivered %d times", n, all[n])
		}
	}
	if len(per) != 2 {
		t.Errorf("deliveries by %v: want the first holder, then one successor", per)
	}
	if next := holderIndex(); next < 0 || next == first {
		t.Fatalf("holder after the stop: %d (first was %d)", next, first)
	}
}

// A holder whose lease is taken while it cannot renew (here: its lease key
// deleted and re-acquired by another holder, as after a long pause) stops
// delivering, reports ErrLeaseLost, and its late checkpoint is fenced off.
func TestLeaseLostStopsDeliveringAndIsFenced(t *testing.T) {
	client := testenv.Client(t)
	coll := newColl(t, client)
	rdb := redistest.Client(t)
	l := redislease.New(rdb, "")
	store := redisstore.New(rdb, "resume:")
	var mu sync.Mutex
	var errs []error
	var b byHolder
	sub, err := listen.Listen[Book](t.Context(), coll, b.handler("a"),
		listen.WithLease(l, "books"), listen.WithLeaseTTL(time.Second), listen.WithLeaseHolder("a"),
		listen.WithResumeStore(store, "books"), listen.WithCheckpointEvery(1000), listen.WithCheckpointInterval(time.Hour),
		listen.WithOnError(func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Stop(context.Background()) })
	testenv.Eventually(t, 10*time.Second, "a holds the lease", func() bool { return sub.Stats().LeaseHeld })
	insertN(t, coll, 0, 1)
	testenv.Eventually(t, 10*time.Second, "delivered", func() bool { _, all := b.snapshot(); return all[0] == 1 })
	insertN(t, coll, 1, 5)
	testenv.Eventually(t, 10*time.Second, "5 delivered", func() bool { _, all := b.snapshot(); return len(all) == 5 })

	// Another holder takes the lease (a's key vanished: expired while a
	// was stuck) and saves a checkpoint with its greater token.
	hk, _ := l.Keys("books")
	if err := rdb.Del(t.Context(), hk).Err(); err != nil {
		t.Fatal(err)
	}
	g, err := l.Acquire(t.Context(), "books", "b", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SaveFenced(t.Context(), "books", mustToken(t), g.Token); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "a notices it lost the lease and its late checkpoint is fenced", func() bool {
		mu.Lock()
		defer mu.Unlock()
		lost, fenced := false, false
		for _, e := range errs {
			lost = lost || errors.Is(e, listen.ErrLeaseLost)
			fenced = fenced || errors.Is(e, resume.ErrFenced)
		}
		return lost && fenced && !sub.Stats().LeaseHeld
	}, func() string { mu.Lock(); defer mu.Unlock(); return fmt.Sprint(errs) })
	// a stands by now (b holds the lease for a minute): writes do not
	// reach its handler. The sequence below would deliver them within
	// milliseconds if a's stream were open; a second listener proves the
	// writes were committed and streamed.
	var seen byHolder
	probe := mustListen(t, coll, seen.handler("probe"))
	_ = probe
	insertN(t, coll, 5, 10)
	testenv.Eventually(t, 10*time.Second, "the probe saw the writes", func() bool { _, all := seen.snapshot(); return len(all) == 5 })
	per, _ := b.snapshot()
	if per["a"] != 5 {
		t.Fatalf("a delivered %d events, want only the 5 before it lost the lease", per["a"])
	}
	if got, err := store.Load(t.Context(), "books"); err != nil || string(got) != string(mustToken(t)) {
		t.Fatalf("stored checkpoint %v, %v: the successor's, not a's", got, err)
	}
}

func mustToken(t *testing.T) bson.Raw {
	raw, err := bson.Marshal(bson.D{{Key: "_data", Value: "82FFFFFFFF00000001"}})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
