package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/mongotide/mongotide/internal/ctxwait"
	"github.com/mongotide/mongotide/lease"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/mongotide/mongotide/listen"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// ConsumerConfig configures Consume; set it with ConsumeOptions.
type ConsumerConfig struct {
	// Name is the relay's name (PublisherConfig.Name). Required
	// (WithStream).
	Name string
	// KeyPrefix is the publisher's KeyPrefix. Default DefaultKeyPrefix.
	KeyPrefix string
	// Consumer names this consumer in the group. Default
	// "<hostname>-<pid>-<random>": unique per process, so a restarted
	// process does not inherit (and silently drop) its predecessor's
	// pending entries; they are claimed after ClaimIdle instead.
	Consumer string
	// FromStart makes a new group start at the oldest retained entry;
	// otherwise a new group gets only entries appended after it was
	// created. An existing group keeps its position either way. Default
	// true.
	FromStart bool
	// Count is how many entries one read takes per partition. Default 64.
	Count int64
	// Block is how long one read waits for new entries; Stop waits for
	// the reads in flight, so it bounds Stop too. Default 500ms.
	Block time.Duration
	// Attempts is how many times the handler is tried in this process
	// before the entry is left pending (for redelivery after ClaimIdle).
	// Default 3, with HandlerBackoff between tries.
	Attempts int
	// HandlerBackoff paces in-process attempts. Default exponential from
	// 100ms to 2s.
	HandlerBackoff func() backoff.BackOff
	// MaxDeliveries is how many deliveries (first read plus claims) an
	// entry gets before it moves to the partition's dead-letter stream
	// ("<partition key>:dead", with the reason) and is acknowledged.
	// Default 5.
	MaxDeliveries int64
	// ClaimIdle is how long an entry stays pending on a consumer before
	// another consumer claims it (the first one is presumed dead).
	// Default 30s: longer than any handler should run.
	ClaimIdle time.Duration
	// ClaimInterval is how often pending entries are checked for claiming.
	// Default ClaimIdle/4.
	ClaimInterval time.Duration
	// Ordered, when set, gives each partition to one consumer of the group
	// at a time, through a lease per partition ("relay:<name>:<group>:<p>",
	// TTL OrderedTTL): the holder handles the partition's entries one by
	// one in order, and a consumer that takes a partition over first
	// handles what its predecessor left pending, in order, then new
	// entries. Per-document order then holds across consumers (a
	// redelivery repeats an entry; it never overtakes a later one). No
	// entry is claimed by idle time in this mode. Set it with WithOrdered.
	Ordered    lease.Lease
	OrderedTTL time.Duration
	// OnError receives errors the consumer survives: handler failures,
	// Redis errors (it retries them), dead-lettered entries.
	OnError func(error)
	// Logger receives debug logs. Default: discard.
	Logger *slog.Logger
}

// ConsumeOption sets a ConsumerConfig field.
type ConsumeOption func(*ConsumerConfig)

// WithStream names the relay to consume (PublisherConfig.Name). Required.
func WithStream(name string) ConsumeOption { return func(c *ConsumerConfig) { c.Name = name } }

// WithKeyPrefix sets ConsumerConfig.KeyPrefix.
func WithKeyPrefix(p string) ConsumeOption { return func(c *ConsumerConfig) { c.KeyPrefix = p } }

// WithConsumerName sets ConsumerConfig.Consumer.
func WithConsumerName(n string) ConsumeOption { return func(c *ConsumerConfig) { c.Consumer = n } }

// WithFromStart sets ConsumerConfig.FromStart.
func WithFromStart(b bool) ConsumeOption { return func(c *ConsumerConfig) { c.FromStart = b } }

// WithCount sets ConsumerConfig.Count.
func WithCount(n int64) ConsumeOption { return func(c *ConsumerConfig) { c.Count = n } }

// WithBlock sets ConsumerConfig.Block.
func WithBlock(d time.Duration) ConsumeOption { return func(c *ConsumerConfig) { c.Block = d } }

// WithAttempts sets ConsumerConfig.Attempts.
func WithAttempts(n int) ConsumeOption { return func(c *ConsumerConfig) { c.Attempts = n } }

// WithHandlerBackoff sets ConsumerConfig.HandlerBackoff.
func WithHandlerBackoff(f func() backoff.BackOff) ConsumeOption {
	return func(c *ConsumerConfig) { c.HandlerBackoff = f }
}

// WithMaxDeliveries sets ConsumerConfig.MaxDeliveries.
func WithMaxDeliveries(n int64) ConsumeOption { return func(c *ConsumerConfig) { c.MaxDeliveries = n } }

// WithClaimIdle sets ConsumerConfig.ClaimIdle.
func WithClaimIdle(d time.Duration) ConsumeOption { return func(c *ConsumerConfig) { c.ClaimIdle = d } }

// WithClaimInterval sets ConsumerConfig.ClaimInterval.
func WithClaimInterval(d time.Duration) ConsumeOption {
	return func(c *ConsumerConfig) { c.ClaimInterval = d }
}

// WithOrdered sets ConsumerConfig.Ordered and OrderedTTL (0: 10s).
func WithOrdered(l lease.Lease, ttl time.Duration) ConsumeOption {
	return func(c *ConsumerConfig) { c.Ordered, c.OrderedTTL = l, ttl }
}

// WithOnError sets ConsumerConfig.OnError.
func WithOnError(f func(error)) ConsumeOption { return func(c *ConsumerConfig) { c.OnError = f } }

// WithLogger sets ConsumerConfig.Logger.
func WithLogger(l *slog.Logger) ConsumeOption { return func(c *ConsumerConfig) { c.Logger = l } }

// WithDefaults returns a copy of c with the defaults filled in.
func (c ConsumerConfig) WithDefaults() ConsumerConfig {
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if c.Consumer == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.Consumer = host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
	}
	if c.Count == 0 {
		c.Count = 64
	}
	if c.Block == 0 {
		c.Block = 500 * time.Millisecond
	}
	if c.Attempts == 0 {
		c.Attempts = 3
	}
	if c.HandlerBackoff == nil {
		c.HandlerBackoff = func() backoff.BackOff {
			b := backoff.NewExponentialBackOff()
			b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 100*time.Millisecond, 2*time.Second, 0
			return b
		}
	}
	if c.MaxDeliveries == 0 {
		c.MaxDeliveries = 5
	}
	if c.ClaimIdle == 0 {
		c.ClaimIdle = 30 * time.Second
	}
	if c.ClaimInterval == 0 {
		c.ClaimInterval = c.ClaimIdle / 4
	}
	if c.Ordered != nil && c.OrderedTTL == 0 {
		c.OrderedTTL = 10 * time.Second
	}
	if c.OnError == nil {
		c.OnError = func(error) {}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

func (c ConsumerConfig) validate(group string) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := checkName(c.Name); err != nil {
		bad("stream name (WithStream): %w", err)
	}
	if group == "" {
		bad("group is empty")
	}
	if c.Count < 1 {
		bad("Count is %d, must be >= 1", c.Count)
	}
	if c.Block < time.Millisecond {
		bad("Block is %v, must be >= 1ms", c.Block)
	}
	if c.Attempts < 1 {
		bad("Attempts is %d, must be >= 1", c.Attempts)
	}
	if c.MaxDeliveries < 1 {
		bad("MaxDeliveries is %d, must be >= 1", c.MaxDeliveries)
	}
	if c.ClaimIdle < time.Millisecond || c.ClaimInterval < time.Millisecond {
		bad("ClaimIdle (%v) and ClaimInterval (%v) must be >= 1ms", c.ClaimIdle, c.ClaimInterval)
	}
	if c.Ordered != nil && c.OrderedTTL < 10*time.Millisecond {
		bad("OrderedTTL is %v, must be >= 10ms", c.OrderedTTL)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

// ConsumerStats are a Consumer's counters; the group's figures (Pending,
// Lag) are read from Redis.
type ConsumerStats struct {
	// Handled counts entries whose handler succeeded (and were acked).
	Handled uint64
	// Failures counts handler calls that returned an error.
	Failures uint64
	// Claimed counts entries this consumer claimed from others (or from
	// itself after a failure): redeliveries.
	Claimed uint64
	// DeadLettered counts entries this consumer moved to a dead-letter
	// stream.
	DeadLettered uint64
	// Pending is the group's delivered but unacknowledged entries, and
	// Lag the entries not yet delivered to the group, over all partitions
	// (Redis 7's XINFO GROUPS lag; -1 when Redis cannot tell).
	Pending, Lag int64
}

// Consumer is a running consumer of a relay; see Consume.
type Consumer struct {
	cfg     ConsumerConfig
	group   string
	keys    streamKeys
	rdb     redis.UniversalClient
	deliver func(ctx context.Context, partition int, m redis.XMessage) error

	handled, failures, claimed, dead atomic.Uint64

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	done     chan struct{}
	stopOnce sync.Once
}

// Consume joins group on the relay named by WithStream and calls h for
// each entry, with the listen handler signature: id is the document's id
// (listen.DocumentID) and ev the decoded change event. An entry is
// acknowledged only after h returns nil; see ConsumerConfig for retries,
// claiming and dead-lettering. The group is created when missing. ctx
// bounds the start-up only, which includes waiting for a relay that does
// not exist yet (its publisher never started); Stop ends the consumer.
func Consume[T any](ctx context.Context, rdb redis.UniversalClient, group string, h listen.Handler[T], opts ...ConsumeOption) (*Consumer, error) {
	var cfg ConsumerConfig
	cfg.FromStart = true
	for _, o := range opts {
		o(&cfg)
	}
	cfg = cfg.WithDefaults()
	if err := cfg.validate(group); err != nil {
		return nil, err
	}
	if rdb == nil {
		return nil, fmt.Errorf("%w: Redis client is nil", ErrInvalidConfig)
	}
	if h == nil {
		return nil, fmt.Errorf("%w: handler is nil", ErrInvalidConfig)
	}
	n, err := waitForRelay(ctx, rdb, cfg.KeyPrefix, cfg.Name)
	if err != nil {
		return nil, err
	}
	c := &Consumer{
		cfg: cfg, group: group, rdb: rdb,
		keys: streamKeys{prefix: cfg.KeyPrefix, name: cfg.Name, partitions: n},
		done: make(chan struct{}),
	}
	c.deliver = func(ctx context.Context, p int, m redis.XMessage) error {
		return deliverTyped(ctx, c, p, m, h)
	}
	start := "$"
	if cfg.FromStart {
		start = "0"
	}
	for _, key := range c.keys.all() {
		err := rdb.XGroupCreateMkStream(ctx, key, group, start).Err()
		if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return nil, fmt.Errorf("relay: create group %q on %s: %w", group, key, err)
		}
	}
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	for p := range n {
		c.wg.Add(1)
		if cfg.Ordered != nil {
			go c.orderedLoop(life, p)
		} else {
			go c.readLoop(life, p)
		}
	}
	if cfg.Ordered == nil {
		c.wg.Add(1)
		go c.claimLoop(life)
	}
	go func() { c.wg.Wait(); close(c.done) }()
	return c, nil
}

// waitForRelay returns the relay's partition count, waiting (as long as
// ctx allows) for a relay that does not exist yet: consumers may start
// before the relay's first publisher does.
func waitForRelay(ctx context.Context, rdb redis.UniversalClient, prefix, name string) (int, error) {
	for {
		n, err := partitionsOf(ctx, rdb, prefix, name)
		if !errors.Is(err, errNoRelay) {
			return n, err
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("%w (waited until %w)", err, ctx.Err())
		}
	}
}

var errNoRelay = errors.New("no relay of this name: start its publisher first")

// partitionsOf reads the relay's partition count from its meta key.
func partitionsOf(ctx context.Context, rdb redis.UniversalClient, prefix, name string) (int, error) {
	k := streamKeys{prefix: prefix, name: name}
	n, err := rdb.HGet(ctx, k.meta(), metaPartitions).Int()
	if errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("relay: %q (%s is missing): %w", name, k.meta(), errNoRelay)
	}
	if err != nil {
		return 0, fmt.Errorf("relay: read %s: %w", k.meta(), err)
	}
	return n, nil
}

// readLoop reads new entries of one partition and handles them in order.
func (c *Consumer) readLoop(ctx context.Context, p int) {
	defer c.wg.Done()
	key := c.keys.partition(p)
	retry := backoff.NewExponentialBackOff()
	retry.InitialInterval, retry.MaxInterval, retry.MaxElapsedTime = 50*time.Millisecond, 2*time.Second, 0
	for ctx.Err() == nil {
		res, err := c.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: c.group, Consumer: c.cfg.Consumer, Streams: []string{key, ">"},
			Count: c.cfg.Count, Block: c.cfg.Block,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue // nothing new within Block
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.cfg.OnError(fmt.Errorf("relay: read %s: %w", key, err))
			if !sleepCtx(ctx, retry.NextBackOff()) {
				return
			}
			continue
		}
		retry.Reset()
		for _, s := range res {
			for _, m := range s.Messages {
				if ctx.Err() != nil {
					return // left pending: claimed later, by us or another
				}
				_ = c.deliver(ctx, p, m)
			}
		}
	}
}

// claimLoop takes over entries left pending longer than ClaimIdle (their
// consumer died, or their handler failed every attempt) and redelivers
// them, or dead-letters them after MaxDeliveries.
func (c *Consumer) claimLoop(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.ClaimInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for p := range c.keys.partitions {
			if err := c.claim(ctx, p); err != nil && ctx.Err() == nil {
				c.cfg.OnError(err)
			}
		}
	}
}

func (c *Consumer) claim(ctx context.Context, p int) error {
	key := c.keys.partition(p)
	start := "0-0"
	for ctx.Err() == nil {
		msgs, next, err := c.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: key, Group: c.group, Consumer: c.cfg.Consumer,
			MinIdle: c.cfg.ClaimIdle, Start: start, Count: c.cfg.Count,
		}).Result()
		if err != nil {
			return fmt.Errorf("relay: claim on %s: %w", key, err)
		}
		for _, m := range msgs {
			c.claimed.Add(1)
			tries, err := c.deliveries(ctx, key, m.ID)
			if err != nil {
				return err
			}
			if tries > c.cfg.MaxDeliveries {
				if err := c.deadLetter(ctx, p, m, tries, errors.New("delivered too many times without success")); err != nil {
					return err
				}
				continue
			}
			_ = c.deliver(ctx, p, m)
		}
		if next == "0-0" || len(msgs) == 0 {
			return nil
		}
		start = next
	}
	return nil
}

// deliveries is how many times id was delivered (XAUTOCLAIM counts itself).
func (c *Consumer) deliveries(ctx context.Context, key, id string) (int64, error) {
	pend, err := c.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: key, Group: c.group, Start: id, End: id, Count: 1}).Result()
	if err != nil {
		return 0, fmt.Errorf("relay: pending entry %s of %s: %w", id, key, err)
	}
	if len(pend) == 0 {
		return 0, nil
	}
	return pend[0].RetryCount, nil
}

// deadLetter moves m to the partition's dead-letter stream and acknowledges
// it, in one transaction (both keys share a hash slot).
func (c *Consumer) deadLetter(ctx context.Context, p int, m redis.XMessage, tries int64, reason error) error {
	values := make([]any, 0, 2*len(m.Values)+6)
	for k, v := range m.Values {
		values = append(values, k, v)
	}
	values = append(values, fieldFrom, m.ID, fieldReason, reason.Error(), fieldTries, tries)
	key := c.keys.partition(p)
	_, err := c.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.XAdd(ctx, &redis.XAddArgs{Stream: c.keys.dead(p), Values: values})
		tx.XAck(ctx, key, c.group, m.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("relay: dead-letter %s of %s: %w", m.ID, key, err)
	}
	c.dead.Add(1)
	c.cfg.OnError(fmt.Errorf("relay: entry %s of %s moved to %s after %d deliveries: %w", m.ID, key, c.keys.dead(p), tries, reason))
	return nil
}

// deliverTyped decodes m, runs h with in-process retries and acknowledges
// on success. An entry that cannot be decoded is dead-lettered at once:
// no retry would change it.
func deliverTyped[T any](ctx context.Context, c *Consumer, p int, m redis.XMessage, h listen.Handler[T]) error {
	ev, id, err := decodeEntry[T](m)
	if err != nil {
		return c.deadLetter(ctx, p, m, 1, err)
	}
	b := c.cfg.HandlerBackoff()
	for attempt := 1; ; attempt++ {
		err = h(ctx, id, ev)
		if err == nil {
			break
		}
		c.failures.Add(1)
		c.cfg.OnError(fmt.Errorf("relay: handler for entry %s of %s (attempt %d of %d): %w", m.ID, c.keys.partition(p), attempt, c.cfg.Attempts, err))
		if attempt >= c.cfg.Attempts || !sleepCtx(ctx, b.NextBackOff()) {
			return err // left pending: claimed again after ClaimIdle
		}
		if ev, id, err = decodeEntry[T](m); err != nil { // a fresh copy: the handler owned the last one
			return c.deadLetter(ctx, p, m, 1, err)
		}
	}
	// Acknowledged even when ctx ended meanwhile: the handler succeeded.
	if err := c.rdb.XAck(context.WithoutCancel(ctx), c.keys.partition(p), c.group, m.ID).Err(); err != nil {
		c.cfg.OnError(fmt.Errorf("relay: ack %s of %s: %w", m.ID, c.keys.partition(p), err))
		return err // redelivered later: at least once
	}
	c.handled.Add(1)
	return nil
}

func decodeEntry[T any](m redis.XMessage) (*listen.ChangeEvent[T], string, error) {
	raw, err := eventOf(m)
	if err != nil {
		return nil, "", err
	}
	ev, id, err := listen.DecodeEvent[T](append(bson.Raw(nil), raw...))
	if err != nil {
		return nil, "", fmt.Errorf("%w: entry %s: %v", ErrCorruptEntry, m.ID, err)
	}
	return ev, id, nil
}

// Stop stops reading; handlers in flight finish (their entries are acked
// if they succeed). Entries read but not handled stay pending and are
// claimed by other consumers after ClaimIdle. Safe to call more than once.
// If ctx ends first, Stop returns ctx.Err() and the consumer still stops in
// the background (watch Done).
func (c *Consumer) Stop(ctx context.Context) error {
	c.stopOnce.Do(c.cancel)
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed when the consumer has stopped.
func (c *Consumer) Done() <-chan struct{} { return c.done }

// Stats returns the consumer's counters and the group's pending and lag
// figures.
func (c *Consumer) Stats(ctx context.Context) (ConsumerStats, error) {
	st := ConsumerStats{
		Handled: c.handled.Load(), Failures: c.failures.Load(),
		Claimed: c.claimed.Load(), DeadLettered: c.dead.Load(),
	}
	for _, key := range c.keys.all() {
		groups, err := c.rdb.XInfoGroups(ctx, key).Result()
		if err != nil {
			return st, fmt.Errorf("relay: groups of %s: %w", key, err)
		}
		for _, g := range groups {
			if g.Name != c.group {
				continue
			}
			st.Pending += g.Pending
			if g.Lag < 0 || st.Lag < 0 {
				st.Lag = -1
			} else {
				st.Lag += g.Lag
			}
		}
	}
	return st, nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d == backoff.Stop {
		return false
	}
	return ctxwait.Sleep(ctx, d) == nil
}
