package relay

import (
	"context"
	"errors"
	"fmt"
	"github.com/mongotide/mongotide/lease"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mongotide/mongotide/listen"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Format is how events are stored in stream entries.
type Format int

const (
	// FormatBSON stores the event as the server sent it (raw BSON): exact,
	// compact, and what Go consumers decode fastest. The default.
	FormatBSON Format = iota
	// FormatRelaxedJSON stores relaxed extended JSON, for consumers in
	// other languages and for people reading the stream with redis-cli.
	// Numbers lose their BSON width (an int64 that fits in 32 bits reads
	// back as an int32).
	FormatRelaxedJSON
)

func (f Format) String() string {
	switch f {
	case FormatBSON:
		return "bson"
	case FormatRelaxedJSON:
		return "json"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// PublisherConfig configures a Publisher. Zero values take the stated
// defaults.
type PublisherConfig struct {
	// Collection is the collection whose changes are published. Required.
	Collection *mongo.Collection
	// Redis is where the streams live: a single node, a Sentinel setup or
	// a Redis Cluster. Required.
	Redis redis.UniversalClient
	// Name names the relay's streams (the keys are KeyPrefix +
	// "{Name:p}" for partition p). Consumers use the same Name. Default
	// "<database>.<collection>".
	Name string
	// KeyPrefix starts every key. Default DefaultKeyPrefix.
	KeyPrefix string
	// Partitions is the number of partition streams; an event goes to the
	// partition of its document key, so each document's events stay in
	// order. It is fixed for the streams' life (stored at first use;
	// another value fails with ErrPartitionsMismatch). Default 8.
	Partitions int
	// Format is how events are stored. Default FormatBSON.
	Format Format
	// MaxLen trims each partition to about this many entries on every
	// append (XADD MAXLEN ~). Default 1,000,000; -1 disables it.
	MaxLen int64
	// MaxAge trims entries older than this (by cluster time, XTRIM MINID ~)
	// every TrimInterval. Default 24h; -1 disables it.
	MaxAge time.Duration
	// TrimInterval is how often MaxAge is applied. Default 1 minute.
	TrimInterval time.Duration
	// MaxBatch and MaxBatchBytes bound the events queued for Redis:
	// appends go out in batches (one pipeline, a script per partition),
	// the next batch filling while the previous one is on its way, and the
	// listener waits when MaxBatch events or MaxBatchBytes of them are
	// queued. Defaults 8192 and 16 MiB (measured: batches of 1024 reached
	// 0.5x the listener's throughput, 8192 0.7-0.8x).
	MaxBatch      int
	MaxBatchBytes int
	// ListenOptions are added to the listener that tails Collection (a
	// filter, listen.WithLease for a standby publisher, ...). The relay
	// sets its own resume store, handler attempts and failure policy; the
	// filter must stay the same for the streams' life, since entry IDs
	// count the events that share a cluster time.
	ListenOptions []listen.Option
	// Lease, when set, makes publishers of the same Name take turns: one
	// holds the lease "relay:<Name>" and publishes, the others stand by
	// and take over within about LeaseTTL of its death (measured: see
	// docs/scale-out.md). Without it, several publishers all publish and
	// Redis refuses the repeats, which is correct but does the work N
	// times. LeaseTTL defaults to 10s; LeaseHolder names this publisher.
	Lease       lease.Lease
	LeaseTTL    time.Duration
	LeaseHolder string
	// OnError receives errors the publisher survives (it retries them) and
	// the one it stops on.
	OnError func(error)
	// Logger receives debug logs. Default: discard.
	Logger *slog.Logger
}

// WithDefaults returns a copy of c with the defaults filled in.
func (c PublisherConfig) WithDefaults() PublisherConfig {
	if c.Name == "" && c.Collection != nil {
		c.Name = c.Collection.Database().Name() + "." + c.Collection.Name()
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if c.Partitions == 0 {
		c.Partitions = 8
	}
	if c.MaxLen == 0 {
		c.MaxLen = 1_000_000
	}
	if c.MaxAge == 0 {
		c.MaxAge = 24 * time.Hour
	}
	if c.TrimInterval == 0 {
		c.TrimInterval = time.Minute
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 8192
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = 16 << 20
	}
	if c.OnError == nil {
		c.OnError = func(error) {}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c.ListenOptions = append([]listen.Option(nil), c.ListenOptions...)
	return c
}

func (c PublisherConfig) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Collection == nil {
		bad("Collection is nil")
	}
	if c.Redis == nil {
		bad("Redis is nil")
	}
	if err := checkName(c.Name); err != nil {
		bad("Name: %w", err)
	}
	if c.Partitions < 1 || c.Partitions > 1024 {
		bad("Partitions is %d, must be 1..1024", c.Partitions)
	}
	if c.Format != FormatBSON && c.Format != FormatRelaxedJSON {
		bad("Format is %v, not FormatBSON or FormatRelaxedJSON", c.Format)
	}
	if c.MaxLen < -1 {
		bad("MaxLen is %d, must be > 0 or -1 (no trimming)", c.MaxLen)
	}
	if c.MaxAge < -1 {
		bad("MaxAge is %v, must be > 0 or -1 (no trimming)", c.MaxAge)
	}
	if c.MaxBatch < 1 || c.MaxBatchBytes < 1 {
		bad("MaxBatch (%d) and MaxBatchBytes (%d) must be >= 1", c.MaxBatch, c.MaxBatchBytes)
	}
	if c.TrimInterval < 0 {
		bad("TrimInterval is %v, must be > 0", c.TrimInterval)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty")
	case strings.ContainsAny(name, "{}"):
		return fmt.Errorf("%q contains a brace (braces delimit Redis Cluster hash tags)", name)
	}
	return nil
}

// PublisherStats are a Publisher's counters.
type PublisherStats struct {
	// Published counts entries appended since Start.
	Published uint64
	// Duplicates counts events Redis refused because their entry was
	// already there (published before a crash or by another publisher).
	Duplicates uint64
	// Position is the cluster time of the last event appended or found
	// appended.
	Position bson.Timestamp
	// Listener is the underlying listener's counters.
	Listener listen.Stats
}

// Publisher appends a collection's change events to Redis Streams. Create it
// with NewPublisher; Start and Stop are idempotent.
type Publisher struct {
	cfg  PublisherConfig
	keys streamKeys

	published, duplicates atomic.Uint64
	posT, posI            atomic.Uint32
	// startUnpinned is set when the listener started with no position
	// (the relay never published): its first save records the start.
	startUnpinned atomic.Bool

	mu     sync.Mutex // guards the fields below
	sub    *listen.Subscription
	app    *appender
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}
	err    error
	// last is the position of the last event queued, read and written by
	// the handler only (listen calls it sequentially).
	last position
}

// NewPublisher validates cfg and returns a stopped Publisher.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Publisher{
		cfg:  cfg,
		keys: streamKeys{prefix: cfg.KeyPrefix, name: cfg.Name, partitions: cfg.Partitions},
	}, nil
}

// Start checks the streams' partition count, finds where publishing left
// off and starts tailing the collection from there. ctx bounds the start-up
// only. Calling Start on a running Publisher does nothing.
func (p *Publisher) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sub != nil {
		select {
		case <-p.done:
		default:
			return nil
		}
	}
	if err := checkPartitions(ctx, p.cfg.Redis, p.keys); err != nil {
		return err
	}
	field := fieldBSON
	if p.cfg.Format == FormatRelaxedJSON {
		field = fieldJSON
	}
	app := newAppender(p.cfg.Redis, p.keys, field, max(p.cfg.MaxLen, 0), p.cfg.MaxBatch, p.cfg.MaxBatchBytes, p.cfg.OnError, p.appended)
	if err := app.script.Load(ctx, p.cfg.Redis).Err(); err != nil {
		return fmt.Errorf("relay: load the append script: %w", err)
	}
	opts := append([]listen.Option{
		listen.WithResumeStore(relayStore{p}, "publisher"),
		listen.WithOperationTypes(listen.Insert, listen.Update, listen.Replace, listen.Delete),
		listen.WithOnError(p.cfg.OnError),
		listen.WithLogger(p.cfg.Logger),
	}, p.cfg.ListenOptions...)
	// The relay's own rules come last, so ListenOptions cannot undo them:
	// an event is retried until queued (never skipped), one at a time
	// (entry IDs count events that share a cluster time).
	if p.cfg.Lease != nil {
		opts = append(opts, listen.WithLease(p.cfg.Lease, "relay:"+p.cfg.Name), listen.WithLeaseTTL(p.cfg.LeaseTTL))
		if p.cfg.LeaseHolder != "" {
			opts = append(opts, listen.WithLeaseHolder(p.cfg.LeaseHolder))
		}
	}
	opts = append(opts,
		listen.WithHandlerAttempts(math.MaxInt32),
		listen.WithHandlerFailurePolicy(listen.HandlerFailureStop),
		listen.WithConcurrency(1),
	)
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.wg.Add(1)
	go func() { defer p.wg.Done(); app.run(life) }()
	p.app = app
	sub, err := listen.Listen[skipDoc](ctx, p.cfg.Collection, p.handle, opts...)
	if err != nil {
		_ = app.stop(ctx)
		cancel()
		p.wg.Wait()
		return fmt.Errorf("relay: publish %s: %w", p.cfg.Name, err)
	}
	p.sub, p.cancel, p.done, p.err = sub, cancel, make(chan struct{}), nil
	p.wg.Add(1)
	go p.run(life, sub, p.done)
	return nil
}

// appended is the appender's progress report.
func (p *Publisher) appended(n, dups int, last entry) {
	p.published.Add(uint64(n))
	p.duplicates.Add(uint64(dups))
	if last.token != nil {
		p.posT.Store(last.pos.ts.T)
		p.posI.Store(last.pos.ts.I)
	}
}

// run trims by age until the subscription ends, then records why.
func (p *Publisher) run(ctx context.Context, sub *listen.Subscription, done chan struct{}) {
	defer p.wg.Done()
	defer close(done)
	var tick <-chan time.Time
	if p.cfg.MaxAge > 0 {
		t := time.NewTicker(p.cfg.TrimInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-sub.Done():
			if err := sub.Err(); err != nil {
				err = fmt.Errorf("relay: publisher %s stopped: %w", p.cfg.Name, err)
				p.cfg.OnError(err)
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
			}
			return
		case <-ctx.Done():
			return
		case <-tick:
			if err := trimByAge(ctx, p.cfg.Redis, p.keys, time.Now().Add(-p.cfg.MaxAge)); err != nil && ctx.Err() == nil {
				p.cfg.OnError(err)
			}
		}
	}
}

// handle queues one event for its partition.
// skipDoc is the publisher's document type: it appends the raw event, so
// decoding the documents inside it would be wasted work.
type skipDoc struct{}

func (*skipDoc) UnmarshalBSON([]byte) error { return nil }

func (p *Publisher) handle(ctx context.Context, _ string, ev *listen.ChangeEvent[skipDoc]) error {
	pos := position{ts: ev.ClusterTime}
	if ev.ClusterTime == p.last.ts {
		pos.idx = p.last.idx + 1
	}
	body := []byte(ev.Raw)
	if p.cfg.Format == FormatRelaxedJSON {
		var err error
		if body, err = bson.MarshalExtJSON(ev.Raw, false, false); err != nil {
			return fmt.Errorf("relay: event as extended JSON: %w", err)
		}
	}
	e := entry{partition: partitionOf(ev.DocumentKey, p.cfg.Partitions), pos: pos, token: ev.ID, body: body}
	if err := p.app.add(ctx, e); err != nil {
		return err
	}
	p.last = pos
	return nil
}

// Stop stops tailing, appends what is queued (bounded by ctx) and records
// the position in the meta key. Safe to call more than once.
func (p *Publisher) Stop(ctx context.Context) error {
	p.mu.Lock()
	sub, app, cancel := p.sub, p.app, p.cancel
	p.mu.Unlock()
	if sub == nil {
		return nil
	}
	err := sub.Stop(ctx)
	if aerr := app.stop(ctx); err == nil {
		err = aerr
	}
	cancel()
	p.wg.Wait()
	return err
}

// Done is closed when the publisher stopped (Stop, or a fatal error: see
// Err). Before the first Start it is nil.
func (p *Publisher) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Err is why the publisher stopped by itself (nil after Stop or while
// running).
func (p *Publisher) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Stats returns the publisher's counters.
func (p *Publisher) Stats() PublisherStats {
	st := PublisherStats{
		Published:  p.published.Load(),
		Duplicates: p.duplicates.Load(),
		Position:   bson.Timestamp{T: p.posT.Load(), I: p.posI.Load()},
	}
	p.mu.Lock()
	sub := p.sub
	p.mu.Unlock()
	if sub != nil {
		st.Listener = sub.Stats()
	}
	return st
}
