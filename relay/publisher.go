package relay

import (
	"context"
	"errors"
	"fmt"
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
	// ListenOptions are added to the listener that tails Collection (a
	// filter, listen.WithLease for a standby publisher, ...). The relay
	// sets its own resume store, handler attempts and failure policy; the
	// filter must stay the same for the streams' life, since entry IDs
	// count the events that share a cluster time.
	ListenOptions []listen.Option
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

	mu     sync.Mutex // guards the fields below
	sub    *listen.Subscription
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}
	err    error
	// last is the position of the last event appended (or found), read
	// and written by the handler only (listen calls it sequentially).
	last position
	meta *metaStore
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
// off (the newest entry of all partitions) and starts tailing the
// collection from there. ctx bounds the start-up only. Calling Start on a
// running Publisher does nothing.
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
	from, tok, err := lastPublished(ctx, p.cfg.Redis, p.keys)
	if err != nil {
		return err
	}
	p.last = from
	p.meta = &metaStore{rdb: p.cfg.Redis, keys: p.keys, start: tok}
	opts := append([]listen.Option{
		listen.WithResumeStore(p.meta, "publisher"),
		listen.WithOperationTypes(listen.Insert, listen.Update, listen.Replace, listen.Delete),
		listen.WithOnError(p.cfg.OnError),
		listen.WithLogger(p.cfg.Logger),
	}, p.cfg.ListenOptions...)
	// The relay's own rules come last, so ListenOptions cannot undo them:
	// an event is retried until appended (never skipped), one at a time
	// (entry IDs count events that share a cluster time).
	opts = append(opts,
		listen.WithHandlerAttempts(math.MaxInt32),
		listen.WithHandlerFailurePolicy(listen.HandlerFailureStop),
		listen.WithConcurrency(1),
	)
	sub, err := listen.Listen[bson.Raw](ctx, p.cfg.Collection, p.handle, opts...)
	if err != nil {
		return fmt.Errorf("relay: publish %s: %w", p.cfg.Name, err)
	}
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.sub, p.cancel, p.done, p.err = sub, cancel, make(chan struct{}), nil
	p.wg.Add(1)
	go p.run(life, sub, p.done)
	return nil
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

// handle appends one event to its partition.
func (p *Publisher) handle(ctx context.Context, _ string, ev *listen.ChangeEvent[bson.Raw]) error {
	pos := position{ts: ev.ClusterTime}
	if ev.ClusterTime == p.last.ts {
		pos.idx = p.last.idx + 1
	}
	fields, err := entryFields(ev, p.cfg.Format)
	if err != nil {
		return err
	}
	args := &redis.XAddArgs{
		Stream: p.keys.partition(partitionOf(ev.DocumentKey, p.cfg.Partitions)),
		ID:     pos.entryID(),
		Values: fields,
	}
	if p.cfg.MaxLen > 0 {
		args.MaxLen, args.Approx = p.cfg.MaxLen, true
	}
	switch err := p.cfg.Redis.XAdd(ctx, args).Err(); {
	case err == nil:
		p.published.Add(1)
	case isTopError(err):
		// Already in the stream: appended before a crash, or by another
		// publisher during a failover.
		p.duplicates.Add(1)
	default:
		return fmt.Errorf("relay: append to %s: %w", args.Stream, err)
	}
	p.last = pos
	p.meta.remember(ev.ID, pos)
	p.posT.Store(pos.ts.T)
	p.posI.Store(pos.ts.I)
	return nil
}

func entryFields(ev *listen.ChangeEvent[bson.Raw], f Format) ([]any, error) {
	body := []byte(ev.Raw)
	if f == FormatRelaxedJSON {
		var err error
		if body, err = bson.MarshalExtJSON(ev.Raw, false, false); err != nil {
			return nil, fmt.Errorf("relay: event as extended JSON: %w", err)
		}
	}
	return []any{fieldOp, string(ev.OperationType), fieldFmt, f.String(), fieldToken, []byte(ev.ID), fieldEvent, body}, nil
}

// isTopError reports Redis refusing an explicit ID at or below the stream's
// last one.
func isTopError(err error) bool {
	return err != nil && strings.Contains(err.Error(), "equal or smaller than the target stream top item")
}

// Stop stops tailing: the event being appended finishes, and the position
// is recorded in the meta key. Safe to call more than once.
func (p *Publisher) Stop(ctx context.Context) error {
	p.mu.Lock()
	sub, cancel := p.sub, p.cancel
	p.mu.Unlock()
	if sub == nil {
		return nil
	}
	err := sub.Stop(ctx)
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
