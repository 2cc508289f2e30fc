package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/mongotide/mongotide/relay"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/model"
	"github.com/mongotide/mongotide/resume"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// CacheConfig configures NewCache. The zero value is valid.
type CacheConfig struct {
	// Prefix namespaces every Redis key of the cache. Default
	// "cache:<db>.<collection>:".
	Prefix string
	// TTL is how long an entry may live. Invalidation is what keeps entries
	// fresh; the TTL only bounds the damage if an invalidation is ever lost
	// (for example events skipped after a long outage). Default 10 minutes.
	TTL time.Duration
	// ResumeStore, when set, checkpoints the invalidation listeners under
	// StoreKey so that a restarted process replays the writes made while it
	// was down instead of leaving their entries stale until TTL. Default:
	// none (listen from "now").
	ResumeStore resume.Store
	// StoreKey prefixes the checkpoint keys. Default "cache-invalidation".
	StoreKey string
	// RelayGroup, when set, takes invalidations from a relay of the
	// collection (relay.Publisher, run once for the fleet) as a consumer of
	// this group, instead of this process's own change stream: every
	// process of the fleet joins the same group, each change invalidates
	// once for all of them (the cache itself is shared in Redis), and
	// MongoDB serves one change stream however many processes there are.
	// ResumeStore is not used then: the group's position is kept in Redis.
	RelayGroup string
	// Logger receives invalidation errors. Default: discard.
	Logger *slog.Logger
}

// WithDefaults returns a copy of c with zero fields set to their defaults;
// ns ("db.collection") names the default prefix.
func (c CacheConfig) WithDefaults(ns string) CacheConfig {
	if c.Prefix == "" {
		c.Prefix = "cache:" + ns + ":"
	}
	if c.TTL == 0 {
		c.TTL = 10 * time.Minute
	}
	if c.StoreKey == "" {
		c.StoreKey = "cache-invalidation"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c CacheConfig) validate() error {
	if c.TTL < 0 {
		return fmt.Errorf("cache: TTL %v is negative", c.TTL)
	}
	return nil
}

// CacheStats counts what the cache did.
type CacheStats struct {
	Hits, Misses, Bypasses, Invalidations uint64
	// Lag is the listener's delay between a write's commit and its
	// invalidation, for the last invalidated write.
	Lag time.Duration
}

// Cache is a read-through Redis cache of the documents of one model,
// invalidated by change-stream listeners: any update, replace or delete,
// whoever makes it (this process, another service, the mongo shell), removes
// the cached copy within the listener's lag.
type Cache[T any] struct {
	model *model.Model[T]
	rdb   *redis.Client
	cfg   CacheConfig
	// listeners are the invalidation listeners: two listen subscriptions,
	// or one relay consumer.
	listeners []listener
	// stop ends the context the gap handler uses for Redis calls.
	stop context.CancelFunc

	hits, misses, bypasses, invalidations atomic.Uint64
	lag                                   atomic.Int64

	// afterRead, when set (by tests, before first use), runs between fill's
	// MongoDB read and its Redis SET: the window of the race fill guards
	// against.
	afterRead func(ctx context.Context)
}

// NewCache starts the invalidation listeners and returns the cache. It
// returns only once the listeners are open, so every write that commits
// after NewCache returns is guaranteed to invalidate. Close releases them.
func NewCache[T any](ctx context.Context, m *model.Model[T], rdb *redis.Client, cfg CacheConfig) (*Cache[T], error) {
	if m == nil || rdb == nil {
		return nil, errors.New("cache: nil model or Redis client")
	}
	coll := m.Collection()
	cfg = cfg.WithDefaults(coll.Database().Name() + "." + coll.Name())
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// The listeners outlive the ctx given to NewCache (it may be a request
	// or startup context): Close is what stops them.
	lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	c := &Cache[T]{model: m, rdb: rdb, cfg: cfg, stop: stop}

	common := []listen.Option{
		// Invalidation only needs the _id: skipping the post-image lookup
		// saves a read per update, and giving both listeners the same
		// server-side options lets them share one server change stream.
		listen.WithFullDocument(options.Default),
		listen.WithOnError(func(err error) { cfg.Logger.Warn("cache invalidation", "err", err) }),
		// If the stream's history is lost (error 286, e.g. after a long
		// outage with a resume store), we cannot know which entries went
		// stale: continue from now and flush everything.
		// The flush is the gap's handler: retried, and until it succeeded
		// the checkpoint stays before the gap (a restart flushes again).
		listen.WithHistoryLostPolicy(listen.HistoryLostRestartFromNow),
		listen.WithGapHandler(func(ctx context.Context, _ listen.Gap) error {
			if err := c.flush(ctx); err != nil {
				cfg.Logger.Error("cache flush after history gap", "err", err)
				return err
			}
			return nil
		}),
	}
	withStore := func(name string) []listen.Option {
		if cfg.ResumeStore == nil {
			return common
		}
		return append(common[:len(common):len(common)], listen.WithResumeStore(cfg.ResumeStore, cfg.StoreKey+"-"+name))
	}

	if cfg.RelayGroup != "" {
		cons, err := relay.ForModel(m, rdb, cfg.RelayGroup,
			relay.WithOnError(func(err error) { cfg.Logger.Warn("cache invalidation", "err", err) }),
		).ListenForChanges(lctx, func(ctx context.Context, id string, ev *listen.ChangeEvent[T]) error {
			switch ev.OperationType {
			case listen.Update, listen.Replace:
				return c.invalidate(ctx, id, ev.WallTime)
			case listen.Delete:
				return c.invalidate(ctx, id, time.Time{})
			}
			return nil
		})
		if err != nil {
			stop()
			return nil, fmt.Errorf("cache: consume the relay: %w", err)
		}
		c.listeners = append(c.listeners, cons)
		return c, nil
	}

	updates, err := m.ListenForUpdates(lctx, func(ctx context.Context, id string, ev *listen.ChangeEvent[T]) error {
		return c.invalidate(ctx, id, ev.WallTime)
	}, withStore("updates")...)
	if err != nil {
		stop()
		return nil, fmt.Errorf("cache: listen for updates: %w", err)
	}
	deletes, err := m.ListenForDeletes(lctx, func(ctx context.Context, id string) error {
		return c.invalidate(ctx, id, time.Time{})
	}, withStore("deletes")...)
	if err != nil {
		_ = updates.Unsubscribe()
		stop()
		return nil, fmt.Errorf("cache: listen for deletes: %w", err)
	}
	c.listeners = append(c.listeners, updates, deletes)
	return c, nil
}

// listener is what both kinds of invalidation listener are.
type listener interface {
	Stop(context.Context) error
	Done() <-chan struct{}
}

// Close stops the invalidation listeners (saving their checkpoints). The
// cache must not be used afterwards.
func (c *Cache[T]) Close() error {
	var errs []error
	for _, l := range c.listeners {
		errs = append(errs, l.Stop(context.Background()))
	}
	c.stop()
	return errors.Join(errs...)
}

// Stats returns the cache's counters.
func (c *Cache[T]) Stats() CacheStats {
	return CacheStats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Bypasses: c.bypasses.Load(),
		Invalidations: c.invalidations.Load(), Lag: time.Duration(c.lag.Load()),
	}
}

// Get returns the document with _id id, from Redis when cached, else from
// MongoDB (then cached). model.ErrNotFound when there is none; misses are
// not cached, so inserts need no invalidation.
func (c *Cache[T]) Get(ctx context.Context, id any) (*T, error) {
	if !c.live() {
		// Without its invalidation feed the cache could serve stale data
		// forever: read through to MongoDB until someone restarts us.
		c.bypasses.Add(1)
		return c.model.FindByID(ctx, id)
	}
	sid, err := docID(id)
	if err != nil {
		return nil, err
	}
	b, err := c.rdb.Get(ctx, c.docKey(sid)).Bytes()
	switch {
	case err == nil:
		var doc T
		if err := bson.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("cache: decode cached %s: %w", sid, err)
		}
		c.hits.Add(1)
		return &doc, nil
	case !errors.Is(err, redis.Nil):
		return nil, fmt.Errorf("cache: redis get %s: %w", sid, err)
	}
	c.misses.Add(1)
	return c.fill(ctx, id, sid)
}

// fill reads the document from MongoDB and caches it, unless it was
// invalidated meanwhile. Without that check a classic race leaves a stale
// entry: we read the old version, the write commits and its invalidation
// deletes nothing (nothing cached yet), then we cache the old version. WATCH
// on a per-document generation counter (bumped by every invalidation) and on
// the cache-wide epoch (bumped by flush) makes our SET fail in that case.
func (c *Cache[T]) fill(ctx context.Context, id any, sid string) (*T, error) {
	var doc *T
	err := c.rdb.Watch(ctx, func(tx *redis.Tx) error {
		var err error
		if doc, err = c.model.FindByID(ctx, id); err != nil {
			return err
		}
		if c.afterRead != nil {
			c.afterRead(ctx)
		}
		b, err := bson.Marshal(doc)
		if err != nil {
			return fmt.Errorf("cache: encode %s: %w", sid, err)
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, c.docKey(sid), b, c.cfg.TTL)
			return nil
		})
		return err
	}, c.genKey(sid), c.epochKey())
	if errors.Is(err, redis.TxFailedErr) {
		// Invalidated while we read: what we read may already be old, so
		// do not cache it, but it is still a valid answer to a read that
		// overlapped the write.
		return doc, nil
	}
	if err != nil {
		return nil, err
	}
	return doc, nil
}

// invalidate drops id's entry and bumps its generation so that a concurrent
// fill does not put the old version back.
func (c *Cache[T]) invalidate(ctx context.Context, sid string, committed time.Time) error {
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, c.genKey(sid))
		// The generation only has to outlive fills in flight; the TTL
		// keeps one key per ever-written document from piling up.
		p.Expire(ctx, c.genKey(sid), c.cfg.TTL)
		p.Del(ctx, c.docKey(sid))
		return nil
	})
	if err != nil {
		// Returning the error makes the listener retry the event; its
		// checkpoint never moves past an invalidation that did not happen.
		// If Redis stays down past the retries (listen's default: 3), the
		// listener stops and Get bypasses the cache: slower, never stale.
		return fmt.Errorf("cache: invalidate %s: %w", sid, err)
	}
	c.invalidations.Add(1)
	if !committed.IsZero() {
		c.lag.Store(int64(time.Since(committed)))
	}
	return nil
}

// flush drops every cached document (after a history gap).
func (c *Cache[T]) flush(ctx context.Context) error {
	if err := c.rdb.Incr(ctx, c.epochKey()).Err(); err != nil {
		return err
	}
	iter := c.rdb.Scan(ctx, 0, c.cfg.Prefix+"doc:*", 500).Iterator()
	for iter.Next(ctx) {
		if err := c.rdb.Unlink(ctx, iter.Val()).Err(); err != nil {
			return err
		}
	}
	return iter.Err()
}

// live reports whether every invalidation listener still runs: a cache
// whose invalidations stopped must not serve (it would serve stale data).
func (c *Cache[T]) live() bool {
	for _, l := range c.listeners {
		select {
		case <-l.Done():
			return false
		default:
		}
	}
	return true
}

func (c *Cache[T]) docKey(sid string) string { return c.cfg.Prefix + "doc:" + sid }
func (c *Cache[T]) genKey(sid string) string { return c.cfg.Prefix + "gen:" + sid }
func (c *Cache[T]) epochKey() string         { return c.cfg.Prefix + "epoch" }

// docID renders id exactly as listeners receive documentKey._id, so that
// Get and invalidate agree on the Redis key.
func docID(id any) (string, error) {
	key, err := bson.Marshal(bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return "", fmt.Errorf("cache: id %v: %w", id, err)
	}
	return listen.DocumentID(key), nil
}
