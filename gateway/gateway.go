package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mongotide/mongotide/listen"
	mtsync "github.com/mongotide/mongotide/sync"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Gateway is the HTTP handler. Make it with New, Start it before serving
// data endpoints, Stop it to end live requests and the change streams.
type Gateway struct {
	cfg    Config
	names  []string // collection names, sorted
	feeds  map[string]*feed
	hub    *listen.Hub
	owners *ownerWake
	mux    *http.ServeMux
	rl     *limiters
	// writer applies pushes with sync's versions and conflict rules.
	writer *mtsync.RemoteWriter

	mu       sync.Mutex
	started  bool
	stopped  bool
	stopping chan struct{} // closed by Stop: live requests end
	// life ends with Stop: the feeds' supervisors stop reopening.
	life       context.Context
	cancelLife context.CancelFunc
	srv        *http.Server
	ln         net.Listener
	bg         sync.WaitGroup

	requests, active, live, served, refused atomic.Int64
	// Push results: fresh ones by status, and replays of recorded ones.
	pushAccepted, pushConflict, pushRejected, pushReplayed atomic.Int64
	startedAt                                              time.Time
}

// New checks cfg (after WithDefaults) and returns a Gateway that is not
// started yet.
func New(cfg Config) (*Gateway, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	writer, err := mtsync.NewRemoteWriter(mtsync.WriterConfig{
		Remote: cfg.Database, Conflict: cfg.Conflict, Resolve: cfg.Resolve,
		Clock: cfg.Clock, Retention: cfg.TombstoneRetention,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	g := &Gateway{
		writer:   writer,
		cfg:      cfg,
		feeds:    make(map[string]*feed, len(cfg.Collections)),
		hub:      listen.NewHub(),
		owners:   newOwnerWake(),
		stopping: make(chan struct{}),
		rl:       newLimiters(cfg.RateLimit, cfg.RateBurst),
	}
	g.life, g.cancelLife = context.WithCancel(context.Background())
	// Any collection's reads tell the database's cluster time.
	var present *presentClock
	for name, rule := range cfg.Collections {
		g.names = append(g.names, name)
		f := newFeed(name, rule, cfg.Database.Collection(name), cfg.RingSize)
		f.owners = g.owners
		if present == nil {
			coll := f.coll
			present = &presentClock{read: func(ctx context.Context) (bson.Timestamp, error) { return clusterTime(ctx, coll) }}
		}
		f.present = present
		g.feeds[name] = f
	}
	slices.Sort(g.names)
	g.mux = g.routes()
	return g, nil
}

// Start enables pre-images (unless Config.SkipPreImages), opens one change
// stream per collection and, when Config.Addr is set, starts listening.
// ctx bounds the start only. Calling it again after success does nothing;
// after Stop, or after a failed Start (whose streams it closed), it returns
// ErrStopped: make a new Gateway.
func (g *Gateway) Start(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.stopped:
		return ErrStopped
	case g.started:
		return nil
	}
	fail := func(err error) error {
		g.cancelLife()
		_ = g.stopFeeds(context.WithoutCancel(ctx))
		g.bg.Wait()
		g.stopped = true
		close(g.stopping)
		return err
	}
	for _, name := range g.names {
		if !g.cfg.SkipPreImages {
			if err := enablePreImages(ctx, g.cfg.Database, name); err != nil {
				return fail(fmt.Errorf("gateway: enable pre-images on %q: %w", name, err))
			}
		}
		f := g.feeds[name]
		onError := func(err error) { g.cfg.Logger.Warn("gateway: change stream", "collection", f.name, "err", err) }
		if err := f.start(ctx, g.hub, onError); err != nil {
			return fail(err)
		}
		g.bg.Add(1)
		go func() { defer g.bg.Done(); f.watch(g.life, g.cfg.ReopenBackoff()) }()
	}
	if g.cfg.Addr != "" {
		ln, err := net.Listen("tcp", g.cfg.Addr)
		if err != nil {
			return fail(fmt.Errorf("gateway: listen on %s: %w", g.cfg.Addr, err))
		}
		g.ln = ln
		g.srv = &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
		g.bg.Add(1)
		go func() {
			defer g.bg.Done()
			if err := g.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				g.cfg.Logger.Error("gateway: serve", "err", err)
			}
		}()
	}
	g.startedAt = g.cfg.Clock()
	g.started = true
	return nil
}

// Addr is the address Start listens on (with the port chosen when
// Config.Addr had port 0), or "" without Config.Addr or before Start.
func (g *Gateway) Addr() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln == nil {
		return ""
	}
	return g.ln.Addr().String()
}

// Stop ends live requests (SSE streams get their last event; long polls
// answer with what they have), shuts the listener down gracefully (when
// Start opened one), and closes the change streams. It is idempotent. If
// ctx ends first it returns ctx.Err() and the rest ends in the background.
func (g *Gateway) Stop(ctx context.Context) error {
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return nil
	}
	g.stopped = true
	close(g.stopping)
	g.cancelLife()
	srv := g.srv
	g.mu.Unlock()

	var errs []error
	if srv != nil {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, g.stopFeeds(ctx))
	done := make(chan struct{})
	go func() { g.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

func (g *Gateway) stopFeeds(ctx context.Context) error {
	var errs []error
	for _, name := range g.names {
		if err := g.feeds[name].stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (g *Gateway) isStopping() bool {
	select {
	case <-g.stopping:
		return true
	default:
		return false
	}
}

// enablePreImages turns on changeStreamPreAndPostImages, creating the
// collection when it does not exist: without pre-images a delete cannot be
// attributed to its owner.
func enablePreImages(ctx context.Context, db *mongo.Database, name string) error {
	on := bson.D{{Key: "enabled", Value: true}}
	err := db.RunCommand(ctx, bson.D{{Key: "collMod", Value: name}, {Key: "changeStreamPreAndPostImages", Value: on}}).Err()
	var se mongo.ServerError
	if errors.As(err, &se) && se.HasErrorCode(26) { // NamespaceNotFound
		err = db.CreateCollection(ctx, name, options.CreateCollection().SetChangeStreamPreAndPostImages(on))
		if errors.As(err, &se) && se.HasErrorCode(48) { // created meanwhile
			return enablePreImages(ctx, db, name)
		}
	}
	return err
}
