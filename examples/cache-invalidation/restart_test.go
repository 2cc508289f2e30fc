package main

import (
	"testing"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/redistest"
	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/model"
	"github.com/mongotide/mongotide/resume/redisstore"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func setTitle(t *testing.T, books *model.Model[Book], id any, title string) {
	t.Helper()
	if err := books.Update(t.Context(), id, bson.D{{Key: "$set", Value: bson.D{{Key: "title", Value: title}}}}); err != nil {
		t.Fatal(err)
	}
}

func getTitle(t *testing.T, c *Cache[Book], id any) string {
	t.Helper()
	b, err := c.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return b.Title
}

func newStoredCache(t *testing.T, books *model.Model[Book], rdb *redis.Client) *Cache[Book] {
	t.Helper()
	c, err := NewCache(t.Context(), books, rdb, CacheConfig{ResumeStore: redisstore.New(rdb, "resume:")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRestartReplaysMissedInvalidations: with a resume store, a write made
// while no cache process runs still evicts its entry once one restarts.
func TestRestartReplaysMissedInvalidations(t *testing.T) {
	rdb := redistest.Client(t)
	books := model.New[Book](testenv.Client(t).Database("cachetest").Collection("restart"))
	id, err := books.Create(t.Context(), Book{Title: "before"})
	if err != nil {
		t.Fatal(err)
	}
	c1 := newStoredCache(t, books, rdb)
	if got := getTitle(t, c1, id); got != "before" {
		t.Fatalf("got %q", got)
	}
	if err := c1.Close(); err != nil { // saves the checkpoint
		t.Fatal(err)
	}

	setTitle(t, books, id, "while down")

	c2 := newStoredCache(t, books, rdb)
	defer c2.Close()
	eventually(t, "missed write replayed", func() bool { return getTitle(t, c2, id) == "while down" })
}

// TestHistoryGapFlushes: when the checkpoint fell out of the oplog, the
// cache cannot know what went stale and drops everything.
func TestHistoryGapFlushes(t *testing.T) {
	testenv.SkipIfExternal(t, "a tiny oplog to lose history")
	rdb := redistest.Client(t)
	srv := testenv.StartEmbedded(t, embedded.Config{OplogCapacity: 8})
	books := model.New[Book](testenv.Connect(t, srv.URI(), nil).Database("cachetest").Collection("gap"))
	a, err := books.Create(t.Context(), Book{Title: "a"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := books.Create(t.Context(), Book{Title: "b"})
	if err != nil {
		t.Fatal(err)
	}
	c1 := newStoredCache(t, books, rdb)
	getTitle(t, c1, a)
	getTitle(t, c1, b)
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}

	setTitle(t, books, a, "a2")
	for i := 0; i < 30; i++ { // push the checkpoint out of the oplog
		if _, err := books.Create(t.Context(), Book{Title: "filler"}); err != nil {
			t.Fatal(err)
		}
	}

	c2 := newStoredCache(t, books, rdb)
	defer c2.Close()
	f := &fixture{books: books, rdb: rdb, cache: c2}
	eventually(t, "cache flushed after the gap", func() bool { return !f.cached(t, b) })
	if got := getTitle(t, c2, a); got != "a2" {
		t.Fatalf("after the gap got %q, want a2", got)
	}
}
