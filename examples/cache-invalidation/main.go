package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/model"
	"github.com/mongotide/mongotide/resume/redisstore"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Book is the cached document type.
type Book struct {
	ID     bson.ObjectID `bson:"_id,omitempty"`
	Title  string        `bson:"title"`
	Author string        `bson:"author"`
	Price  float64       `bson:"price"`
}

func main() {
	// Ctrl-C cancels ctx; run then unwinds and every deferred Stop runs.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "cache-invalidation:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	mongoURI := os.Getenv("MONGODB_URI")
	if mongoURI == "" {
		srv, err := embedded.Start(ctx, embedded.Config{})
		if err != nil {
			return fmt.Errorf("start embedded server: %w", err)
		}
		// Stop with a fresh context: ctx may already be cancelled by Ctrl-C.
		defer srv.Stop(context.WithoutCancel(ctx))
		mongoURI = srv.URI()
		fmt.Fprintln(out, "embedded MongoDB at", mongoURI)
	}
	client, err := mongo.Connect(options.Client().ApplyURI(mongoURI))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))

	rdb, closeRedis, err := redisClient(ctx, out)
	if err != nil {
		return err
	}
	defer closeRedis()

	books := model.New[Book](client.Database("shop").Collection("books"))
	cache, err := NewCache(ctx, books, rdb, CacheConfig{
		// Checkpoints in Redis: a restarted process replays the writes it
		// missed while down. Keys are per listener (see CacheConfig).
		ResumeStore: redisstore.New(rdb, "mongotide:resume:"),
	})
	if err != nil {
		return err
	}
	defer cache.Close()

	return demo(ctx, out, books, cache)
}

// redisClient connects to REDIS_URL, or starts a local redis-server. The
// returned func closes the client, then stops the server if we started one.
func redisClient(ctx context.Context, out io.Writer) (*redis.Client, func(), error) {
	if url := os.Getenv("REDIS_URL"); url != "" {
		opts, err := redis.ParseURL(url)
		if err != nil {
			return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		rdb := redis.NewClient(opts)
		return rdb, func() { _ = rdb.Close() }, nil
	}
	srv, err := startRedis(ctx)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintln(out, "redis-server at", srv.Addr)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	return rdb, func() { _ = rdb.Close(); srv.Stop() }, nil
}

// demo writes a book, reads it through the cache, changes it behind the
// cache's back, and shows the cache catching up.
func demo(ctx context.Context, out io.Writer, books *model.Model[Book], cache *Cache[Book]) error {
	id, err := books.Create(ctx, Book{Title: "Dune", Author: "Frank Herbert", Price: 9.99})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "created book", id)

	for i := 0; i < 2; i++ {
		b, err := cache.Get(ctx, id)
		if err != nil {
			return err
		}
		st := cache.Stats()
		fmt.Fprintf(out, "get: %q at $%.2f (hits=%d misses=%d)\n", b.Title, b.Price, st.Hits, st.Misses)
	}

	// The update goes straight to MongoDB, as another service would do it:
	// only the change stream tells the cache.
	start := time.Now()
	if err := books.Update(ctx, id, bson.D{{Key: "$set", Value: bson.D{{Key: "price", Value: 12.50}}}}); err != nil {
		return err
	}
	b, err := waitFor(ctx, func() (*Book, bool, error) {
		b, err := cache.Get(ctx, id)
		return b, err == nil && b.Price == 12.50, err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "after update: $%.2f, cache fresh %v after the write (listener lag %v)\n",
		b.Price, time.Since(start).Round(time.Millisecond), cache.Stats().Lag.Round(time.Millisecond))

	if err := books.Delete(ctx, id); err != nil {
		return err
	}
	if _, err := waitFor(ctx, func() (*Book, bool, error) {
		_, err := cache.Get(ctx, id)
		if errors.Is(err, model.ErrNotFound) {
			return nil, true, nil
		}
		return nil, false, err
	}); err != nil {
		return err
	}
	st := cache.Stats()
	fmt.Fprintf(out, "after delete: not found (hits=%d misses=%d invalidations=%d)\n", st.Hits, st.Misses, st.Invalidations)
	return nil
}

// waitFor polls f until it reports done, fails, or 10s pass.
func waitFor[V any](ctx context.Context, f func() (V, bool, error)) (V, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		v, done, err := f()
		if err != nil || done {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("cache still stale: %w", ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}
