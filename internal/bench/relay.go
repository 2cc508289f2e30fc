package bench

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/relay"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// RelayPublish writes n documents (InsertMany batches) with a relay
// publisher tailing the collection and returns how many events per second
// it appended to Redis, from the first write to the last append.
func RelayPublish(ctx context.Context, client *mongo.Client, rdb redis.UniversalClient, n int) (perSec float64, err error) {
	coll := freshColl(client, "relay")
	pub, err := relay.NewPublisher(relay.PublisherConfig{Collection: coll, Redis: rdb})
	if err != nil {
		return 0, err
	}
	if err := pub.Start(ctx); err != nil {
		return 0, err
	}
	defer func() { _ = pub.Stop(context.WithoutCancel(ctx)) }()
	start := time.Now()
	if err := insertMany(ctx, coll, 0, n); err != nil {
		return 0, err
	}
	if err := waitPublished(ctx, pub, n); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func waitPublished(ctx context.Context, pub *relay.Publisher, n int) error {
	for pub.Stats().Published < uint64(n) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("relay publish: %d of %d appended: %w", pub.Stats().Published, n, ctx.Err())
		case <-pub.Done():
			return fmt.Errorf("relay publish: publisher stopped: %w", pub.Err())
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// ConsumerWork is the simulated I/O each consumer's handler waits per
// entry in the scaling measurement (a cache call, an HTTP hook): what
// several consumer processes exist to overlap.
const ConsumerWork = 2 * time.Millisecond

// RunRelayConsumer is the body of one consumer process of the scaling
// measurement: it consumes stream in group, waiting work per entry, until
// ctx ends.
func RunRelayConsumer(ctx context.Context, addr, stream, group string, work time.Duration) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	c, err := relay.Consume[bson.Raw](ctx, rdb, group, func(ctx context.Context, _ string, _ *listen.ChangeEvent[bson.Raw]) error {
		t := time.NewTimer(work)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, relay.WithStream(stream))
	if err != nil {
		return err
	}
	<-ctx.Done()
	return c.Stop(context.WithoutCancel(ctx))
}

// ConsumerScaling publishes n events, then times groups of 1 and of procs
// consumer processes (started by spawn) draining them, from the processes'
// start to the group having acknowledged all n.
func ConsumerScaling(ctx context.Context, client *mongo.Client, r *Redis, n int, procs []int, spawn func(addr, stream, group string) *exec.Cmd) ([]float64, error) {
	coll := freshColl(client, "relayscale")
	name := coll.Database().Name() + "." + coll.Name()
	pub, err := relay.NewPublisher(relay.PublisherConfig{Collection: coll, Redis: r.Client})
	if err != nil {
		return nil, err
	}
	if err := pub.Start(ctx); err != nil {
		return nil, err
	}
	defer func() { _ = pub.Stop(context.WithoutCancel(ctx)) }()
	if err := insertMany(ctx, coll, 0, n); err != nil {
		return nil, err
	}
	if err := waitPublished(ctx, pub, n); err != nil {
		return nil, err
	}
	var rates []float64
	for _, k := range procs {
		group := "scale" + strconv.Itoa(k)
		start := time.Now()
		var cmds []*exec.Cmd
		for range k {
			cmd := spawn(r.Addr(), name, group)
			if err := cmd.Start(); err != nil {
				return rates, fmt.Errorf("start consumer process: %w", err)
			}
			cmds = append(cmds, cmd)
		}
		err := waitGroupDone(ctx, r.Client, name, group, n)
		elapsed := time.Since(start)
		for _, cmd := range cmds {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if err != nil {
			return rates, err
		}
		rates = append(rates, float64(n)/elapsed.Seconds())
	}
	return rates, nil
}

// waitGroupDone waits until group has acknowledged n entries over every
// partition of the relay.
func waitGroupDone(ctx context.Context, rdb *redis.Client, name, group string, n int) error {
	meta := relay.DefaultKeyPrefix + "{" + name + "}:meta"
	parts, err := rdb.HGet(ctx, meta, "partitions").Int()
	if err != nil {
		return err
	}
	for {
		var read, pending int64
		for p := range parts {
			key := fmt.Sprintf("%s{%s:%d}", relay.DefaultKeyPrefix, name, p)
			groups, err := rdb.XInfoGroups(ctx, key).Result()
			if err != nil && !isNoGroup(err) {
				return err
			}
			for _, g := range groups {
				if g.Name == group {
					read += g.EntriesRead
					pending += g.Pending
				}
			}
		}
		if read >= int64(n) && pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("consumer group %s: %d of %d read, %d pending: %w", group, read, n, pending, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func isNoGroup(err error) bool {
	return err != nil && (errors.Is(err, redis.Nil) || err.Error() == "ERR no such key")
}

// RelayLatency writes samples documents one at a time, each after the
// previous one reached a relay consumer's handler, and measures InsertOne
// start -> handler call through publisher, Redis and consumer.
func RelayLatency(ctx context.Context, client *mongo.Client, rdb redis.UniversalClient, samples int) (Latency, error) {
	coll := freshColl(client, "relaylat")
	pub, err := relay.NewPublisher(relay.PublisherConfig{Collection: coll, Redis: rdb})
	if err != nil {
		return Latency{}, err
	}
	if err := pub.Start(ctx); err != nil {
		return Latency{}, err
	}
	defer func() { _ = pub.Stop(context.WithoutCancel(ctx)) }()
	seen := make(chan time.Time, 1)
	c, err := relay.Consume[bson.Raw](ctx, rdb, "lat", func(context.Context, string, *listen.ChangeEvent[bson.Raw]) error {
		seen <- time.Now()
		return nil
	}, relay.WithStream(coll.Database().Name()+"."+coll.Name()))
	if err != nil {
		return Latency{}, err
	}
	defer func() { _ = c.Stop(context.WithoutCancel(ctx)) }()
	var mu sync.Mutex
	d := make([]time.Duration, 0, samples)
	for i := range samples {
		start := time.Now()
		if _, err := coll.InsertOne(ctx, benchDoc{ID: i}); err != nil {
			return Latency{}, err
		}
		select {
		case at := <-seen:
			mu.Lock()
			d = append(d, at.Sub(start))
			mu.Unlock()
		case <-ctx.Done():
			return Latency{}, ctx.Err()
		case <-time.After(10 * time.Second):
			return Latency{}, fmt.Errorf("relay latency: sample %d never reached the consumer", i)
		}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return Latency{P50: d[len(d)/2], P99: d[len(d)*99/100], Samples: len(d)}, nil
}

func runRelay(ctx context.Context, cfg Config, client *mongo.Client) ([]Row, error) {
	var rows []Row
	add := func(name, value, target, met string) {
		rows = append(rows, Row{Group: "relay", Name: name, Value: value, Target: target, Met: met})
	}
	r, err := StartRedis(ctx)
	if errors.Is(err, ErrNoRedis) {
		add("relay measurements", "skipped: redis-server is missing from PATH (apt-get install redis-server)", "", "")
		return rows, nil
	}
	if err != nil {
		return rows, err
	}
	defer r.Stop()

	step(cfg, "relay: publisher throughput into Redis vs the toolkit listener and a raw driver loop, %d events (best of %d)", cfg.N, cfg.Rounds)
	var pub, tk, raw float64
	for range cfg.Rounds {
		p, err := RelayPublish(ctx, client, r.Client, cfg.N)
		if err != nil {
			return rows, fmt.Errorf("relay publish: %w", err)
		}
		t, err := Throughput(ctx, client, cfg.N, Toolkit())
		if err != nil {
			return rows, err
		}
		w, err := Throughput(ctx, client, cfg.N, Raw)
		if err != nil {
			return rows, err
		}
		pub, tk, raw = max(pub, p), max(tk, t), max(raw, w)
	}
	add("publisher throughput into Redis", rate(pub, "events/s"), "", "")
	add("publisher vs raw Watch/Next/Decode listener", fmt.Sprintf("%.2fx (raw %s)", pub/raw, rate(raw, "events/s")), ">= 0.8x", met(pub/raw >= 0.8))
	add("publisher vs toolkit listener", fmt.Sprintf("%.2fx (toolkit %s)", pub/tk, rate(tk, "events/s")), "reported", "")

	if cfg.ConsumerProcess == nil {
		add("consumer processes 4 vs 1", "skipped: needs the CLI (mongotide bench relay), which runs consumer processes", "", "")
	} else {
		step(cfg, "relay: %d events drained by 1, then 4 consumer processes (%v of simulated I/O per entry)", cfg.RelayEvents, ConsumerWork)
		rates, err := ConsumerScaling(ctx, client, r, cfg.RelayEvents, []int{1, 4}, cfg.ConsumerProcess)
		if err != nil {
			return rows, fmt.Errorf("consumer scaling: %w", err)
		}
		add("consumer throughput, 1 / 4 processes", rate(rates[0], "")+" / "+rate(rates[1], "entries/s"), "", "")
		add("consumer scaling 4 vs 1 processes", fmt.Sprintf("%.2fx", rates[1]/rates[0]), ">= 2.5x", met(rates[1]/rates[0] >= 2.5))
	}

	samples := min(cfg.Samples, 1000)
	step(cfg, "relay: write->consumer handler latency vs a direct listener, %d samples each", samples)
	lr, err := RelayLatency(ctx, client, r.Client, samples)
	if err != nil {
		return rows, err
	}
	ld, err := InsertLatency(ctx, client, samples, Toolkit())
	if err != nil {
		return rows, err
	}
	add("write->handler latency through the relay p50 / p99", dur(lr.P50)+" / "+dur(lr.P99), "reported", "")
	add("write->handler latency, direct listener p50 / p99", dur(ld.P50)+" / "+dur(ld.P99), "reported", "")
	return rows, nil
}
