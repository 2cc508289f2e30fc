package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/mongotide/mongotide/internal/redistest"
	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/model"
	"github.com/mongotide/mongotide/relay"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// A fleet of caches (two here, as two processes would run) takes its
// invalidations from one relay as one consumer group: each write
// invalidates once for the whole fleet, and both see fresh data.
func TestRelayGroupInvalidatesOncePerFleet(t *testing.T) {
	ctx := t.Context()
	rdb := redistest.Client(t)
	coll := testenv.Client(t).Database("cacherelay").Collection("books")
	books := model.New[Book](coll)
	pub, err := relay.NewPublisher(relay.PublisherConfig{Collection: coll, Redis: rdb, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Stop(context.Background()) })
	var caches []*Cache[Book]
	for range 2 {
		c, err := NewCache(ctx, books, rdb, CacheConfig{RelayGroup: "invalidators"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := c.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		caches = append(caches, c)
	}
	const n = 20
	var ids []any
	for i := range n {
		id, err := books.Create(ctx, Book{Title: fmt.Sprint("t", i), Price: 1})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		for _, c := range caches {
			if _, err := c.Get(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, id := range ids {
		if err := books.Update(ctx, id, bson.D{{Key: "$set", Value: bson.D{{Key: "price", Value: 2.0}}}}); err != nil {
			t.Fatal(err)
		}
	}
	total := func() uint64 { return caches[0].Stats().Invalidations + caches[1].Stats().Invalidations }
	eventually(t, "every update invalidated", func() bool { return total() >= n })
	for _, id := range ids {
		for i, c := range caches {
			b, err := c.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if b.Price != 2.0 {
				t.Fatalf("cache %d serves price %v for %v after the update", i, b.Price, id)
			}
		}
	}
	if got := total(); got != n {
		t.Fatalf("%d invalidations for %d updates across the group: each should happen once", got, n)
	}
	if caches[0].Stats().Invalidations == 0 || caches[1].Stats().Invalidations == 0 {
		t.Logf("the group gave every entry to one cache (%d / %d)", caches[0].Stats().Invalidations, caches[1].Stats().Invalidations)
	}
}
