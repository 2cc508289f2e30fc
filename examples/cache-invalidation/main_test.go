package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/redistest"
	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/model"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixture struct {
	books *model.Model[Book]
	rdb   *redis.Client
	cache *Cache[Book]
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rdb := redistest.Client(t)
	client := testenv.Client(t)
	books := model.New[Book](client.Database("cachetest").Collection(strings.ReplaceAll(t.Name(), "/", "_")))
	cache, err := NewCache(t.Context(), books, rdb, CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cache.Close(); err != nil {
			t.Errorf("close cache: %v", err)
		}
	})
	return &fixture{books: books, rdb: rdb, cache: cache}
}

// eventually polls cond every millisecond until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for deadline := start.Add(10 * time.Second); ; {
		if cond() {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (f *fixture) cached(t *testing.T, id any) bool {
	t.Helper()
	sid, err := docID(id)
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.rdb.Exists(t.Context(), f.cache.docKey(sid)).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestReadThrough(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	id, err := f.books.Create(ctx, Book{Title: "Dune", Price: 9.99})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		b, err := f.cache.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if b.Title != "Dune" || b.ID != id {
			t.Fatalf("get %d = %+v", i, b)
		}
	}
	if st := f.cache.Stats(); st.Misses != 1 || st.Hits != 2 {
		t.Fatalf("stats = %+v, want 1 miss then 2 hits", st)
	}
	if !f.cached(t, id) {
		t.Fatal("document not in Redis after a read")
	}
	if n := f.books.Hub().StreamCount(); n != 1 {
		t.Fatalf("update and delete listeners use %d server streams, want 1 shared", n)
	}
	if _, err := f.cache.Get(ctx, bson.NewObjectID()); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("get missing = %v, want model.ErrNotFound", err)
	}
}

// TestUpdateInvalidatesWithinLag is the example's promise: after a write,
// the cache stops serving the old value within the listener's lag.
func TestUpdateInvalidatesWithinLag(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	id, err := f.books.Create(ctx, Book{Title: "v0"})
	if err != nil {
		t.Fatal(err)
	}
	const writes = 50
	lags := make([]time.Duration, 0, writes)
	listenerLags := make([]time.Duration, 0, writes)
	for i := 1; i <= writes; i++ {
		// Make sure the current version is cached, so the write really has
		// something stale to evict.
		eventually(t, "cache filled", func() bool {
			_, err := f.cache.Get(ctx, id)
			return err == nil && f.cached(t, id)
		})
		before := f.cache.Stats().Invalidations
		want := fmt.Sprintf("v%d", i)
		start := time.Now()
		if err := f.books.Update(ctx, id, bson.D{{Key: "$set", Value: bson.D{{Key: "title", Value: want}}}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "cache serves the new title", func() bool {
			b, err := f.cache.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return b.Title == want
		})
		lags = append(lags, time.Since(start))
		eventually(t, "invalidation counted", func() bool { return f.cache.Stats().Invalidations > before })
		listenerLags = append(listenerLags, f.cache.Stats().Lag)
	}
	slices.Sort(lags)
	slices.Sort(listenerLags)
	t.Logf("write -> cache fresh over %d writes: p50 %v, max %v", writes, lags[len(lags)/2], lags[len(lags)-1])
	t.Logf("listener lag (commit -> invalidated): p50 %v, max %v", listenerLags[len(listenerLags)/2], listenerLags[len(listenerLags)-1])
}

func TestDeleteInvalidates(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	id, err := f.books.Create(ctx, Book{Title: "Gone"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.cache.Get(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := f.books.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted book no longer served", func() bool {
		_, err := f.cache.Get(ctx, id)
		if err != nil && !errors.Is(err, model.ErrNotFound) {
			t.Fatal(err)
		}
		return errors.Is(err, model.ErrNotFound)
	})
	if f.cached(t, id) {
		t.Fatal("deleted book still in Redis")
	}
}

// TestFillRaceKeepsNoStaleEntry runs a write between fill's MongoDB read and
// its SET, and lets the invalidation happen in that window: the old version
// must not end up cached.
func TestFillRaceKeepsNoStaleEntry(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	id, err := f.books.Create(ctx, Book{Title: "old"})
	if err != nil {
		t.Fatal(err)
	}
	var raced atomic.Bool
	f.cache.afterRead = func(context.Context) {
		if !raced.CompareAndSwap(false, true) {
			return
		}
		before := f.cache.Stats().Invalidations
		if err := f.books.Update(ctx, id, bson.D{{Key: "$set", Value: bson.D{{Key: "title", Value: "new"}}}}); err != nil {
			t.Error(err)
			return
		}
		eventually(t, "invalidation inside the fill window", func() bool { return f.cache.Stats().Invalidations > before })
	}
	b, err := f.cache.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if b.Title != "old" {
		t.Fatalf("racing read returned %q, want the version it read (old)", b.Title)
	}
	if f.cached(t, id) {
		t.Fatal("the version read before the write was cached after its invalidation")
	}
	b, err = f.cache.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if b.Title != "new" {
		t.Fatalf("next read = %q, want new", b.Title)
	}
}

// TestBypassWhenListenersStop: a cache without its invalidation feed must
// not serve (possibly stale) entries.
func TestBypassWhenListenersStop(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	id, err := f.books.Create(ctx, Book{Title: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.cache.Get(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := f.cache.listeners[0].Stop(ctx); err != nil { // the updates listener
		t.Fatal(err)
	}
	if err := f.books.Update(ctx, id, bson.D{{Key: "$set", Value: bson.D{{Key: "title", Value: "y"}}}}); err != nil {
		t.Fatal(err)
	}
	b, err := f.cache.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if b.Title != "y" || f.cache.Stats().Bypasses != 1 {
		t.Fatalf("get after listener stop = %q (stats %+v), want y from MongoDB", b.Title, f.cache.Stats())
	}
}

// TestRun runs the program as `go run` would, with its own redis-server.
func TestRun(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		redistest.Start(t) // skips, or fails in CI, naming the install command
	}
	t.Setenv("REDIS_URL", "")
	if testenv.UsingExternal() {
		t.Setenv("MONGODB_URI", os.Getenv(testenv.EnvURI))
	} else {
		t.Setenv("MONGODB_URI", "")
	}
	var out bytes.Buffer
	if err := run(t.Context(), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Log(out.String())
	for _, want := range []string{"hits=1 misses=1", "after update: $12.50", "after delete: not found"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
