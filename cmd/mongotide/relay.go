package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mongotide/mongotide/lease"
	"github.com/mongotide/mongotide/lease/redislease"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/relay"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/v2/bson"
)

type relayFlags struct {
	uri, redis, db, prefix string
	collections            []string
	partitions             int
	format                 string
	maxLen                 int64
	maxAge                 time.Duration
	leaseTTL               time.Duration
}

func newRelayCmd(stdout, stderr io.Writer) *cobra.Command {
	var f relayFlags
	cmd := &cobra.Command{
		Use:   "relay --redis HOST:PORT --db DB -c COLL[,COLL...]",
		Short: "Publish collections' changes to Redis Streams for consumer groups",
		Long: `Tails each collection and appends every change event to Redis Streams, spread over
--partitions streams per collection by document key (one document's events stay in order),
until Ctrl-C. Each event is in the streams exactly once, across restarts and even with two
relays running at once: entry IDs are derived from the event's position, so Redis refuses a
repeat. A restarted relay continues where the streams end. Several relays of the same
collections take turns through a lease in Redis (--lease-ttl): one publishes, the others
stand by and take over when it dies.

Streams are named <prefix>{<db>.<coll>:<partition>}; consumers read them with
relay.Consume (Go) or XREADGROUP. 'mongotide relay tail' prints them.

Without --uri it starts the embedded server and prints its URI on stderr. See
docs/scale-out.md.`,
		Example: `  mongotide relay --uri 'mongodb://localhost:27017/?replicaSet=rs0' --redis localhost:6379 --db shop -c books,orders
  mongotide relay tail --redis localhost:6379 --stream shop.books --from-start`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRelay(cmd.Context(), f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.uri, "uri", "", "MongoDB replica set URI (default: start the embedded server)")
	fl.StringVar(&f.db, "db", "", "database name (required)")
	fl.StringSliceVarP(&f.collections, "collections", "c", nil, "collections to publish, comma separated (required)")
	fl.IntVar(&f.partitions, "partitions", 8, "partition streams per collection (fixed for the streams' life)")
	fl.StringVar(&f.format, "format", "bson", "entry format: bson (raw, exact) or json (relaxed extended JSON)")
	fl.Int64Var(&f.maxLen, "max-len", 1_000_000, "trim each partition to about this many entries (-1: never)")
	fl.DurationVar(&f.maxAge, "max-age", 24*time.Hour, "trim entries older than this (-1ns: never)")
	fl.DurationVar(&f.leaseTTL, "lease-ttl", 10*time.Second, "relays of the same collections take turns through a Redis lease with this TTL (a standby takes over about this long after the active one dies); 0: no lease, every relay publishes (Redis refuses the repeats)")
	cmd.PersistentFlags().StringVar(&f.redis, "redis", "127.0.0.1:6379", "Redis address host:port")
	cmd.PersistentFlags().StringVar(&f.prefix, "prefix", relay.DefaultKeyPrefix, "key prefix of the streams")
	cmd.AddCommand(newRelayTailCmd(&f, stdout, stderr))
	return cmd
}

func runRelay(ctx context.Context, f relayFlags, stdout, stderr io.Writer) error {
	var missing []string
	if f.db == "" {
		missing = append(missing, "--db")
	}
	if len(f.collections) == 0 {
		missing = append(missing, "--collections")
	}
	if len(missing) > 0 {
		return usageError{fmt.Errorf("relay: missing %s", strings.Join(missing, ", "))}
	}
	format := relay.FormatBSON
	switch f.format {
	case "bson":
	case "json":
		format = relay.FormatRelaxedJSON
	default:
		return usageError{fmt.Errorf("relay: --format %q is not bson or json", f.format)}
	}
	client, cleanup, err := connect(ctx, f.uri, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	rdb := redis.NewClient(&redis.Options{Addr: f.redis})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("relay: redis at %s: %w", f.redis, err)
	}
	var mu sync.Mutex
	var pubs []*relay.Publisher
	defer func() {
		for _, p := range pubs {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			err := p.Stop(sctx)
			cancel()
			st := p.Stats()
			mu.Lock()
			fmt.Fprintf(stdout, "stopped: %d events published, %d refused as already published\n", st.Published, st.Duplicates)
			if err != nil {
				fmt.Fprintln(stderr, "relay:", err)
			}
			mu.Unlock()
		}
	}()
	for _, c := range f.collections {
		p, err := relay.NewPublisher(relay.PublisherConfig{
			Collection: client.Database(f.db).Collection(c), Redis: rdb, KeyPrefix: f.prefix,
			Partitions: f.partitions, Format: format, MaxLen: f.maxLen, MaxAge: f.maxAge,
			Lease: leaseOf(rdb, f.leaseTTL), LeaseTTL: f.leaseTTL,
			OnError: func(err error) { mu.Lock(); fmt.Fprintln(stderr, "relay:", err); mu.Unlock() },
		})
		if err != nil {
			if errors.Is(err, relay.ErrInvalidConfig) {
				return usageError{err}
			}
			return err
		}
		if err := p.Start(ctx); err != nil {
			return err
		}
		pubs = append(pubs, p)
	}
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stdout, format, args...)
	}
	what := fmt.Sprintf("%s.{%s} to redis %s (%d partitions each; Ctrl-C to stop)", f.db, strings.Join(f.collections, ","), f.redis, f.partitions)
	if f.leaseTTL <= 0 {
		say("publishing %s\n", what)
	} else {
		// Say when this relay starts (or stops) publishing: with a lease
		// another relay may be the one that publishes, and a relay that
		// never published starts at the moment it takes the lease.
		mctx, stopMonitor := context.WithCancel(ctx)
		defer stopMonitor()
		go func() {
			state := 0 // 0 not said yet, 1 publishing, 2 standing by
			began := time.Now()
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				held := true
				for _, p := range pubs {
					held = held && p.Stats().Listener.LeaseHeld
				}
				switch {
				case held && state != 1:
					state = 1
					say("publishing %s\n", what)
				case !held && (state == 1 || state == 0 && time.Since(began) > 2*time.Second):
					state = 2
					say("standing by: another relay holds the lease for %s.{%s}; taking over when it stops\n", f.db, strings.Join(f.collections, ","))
				}
				select {
				case <-mctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	done := make(chan struct{}, len(pubs))
	for _, p := range pubs {
		go func() {
			select {
			case <-p.Done():
			case <-ctx.Done():
			}
			done <- struct{}{}
		}()
	}
	<-done
	for _, p := range pubs {
		if err := p.Err(); err != nil {
			return err
		}
	}
	return nil
}

func newRelayTailCmd(f *relayFlags, stdout, stderr io.Writer) *cobra.Command {
	var stream, group string
	var fromStart bool
	cmd := &cobra.Command{
		Use:   "tail --stream DB.COLL",
		Short: "Print a relay's entries as JSON lines",
		Long: `Prints a relay's entries, one JSON line each: {"id": entry ID, "partition": p, "event":
the change event as relaxed extended JSON}, until Ctrl-C. Without --group it reads like XREAD
(new entries, or all retained ones with --from-start; no acknowledgement). With --group it
is a consumer of that group: entries are acknowledged once printed (lines then carry only
the event).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if stream == "" {
				return usageError{errors.New("relay tail: missing --stream")}
			}
			rdb := redis.NewClient(&redis.Options{Addr: f.redis})
			defer rdb.Close()
			return runRelayTail(cmd.Context(), rdb, f.prefix, stream, group, fromStart, stdout, stderr)
		},
	}
	cmd.Flags().StringVar(&stream, "stream", "", "relay name, <db>.<coll> (required)")
	cmd.Flags().StringVar(&group, "group", "", "read as a consumer of this group (acknowledging)")
	cmd.Flags().BoolVar(&fromStart, "from-start", false, "start at the oldest retained entry")
	return cmd
}

func runRelayTail(ctx context.Context, rdb *redis.Client, prefix, stream, group string, fromStart bool, stdout, stderr io.Writer) error {
	var mu sync.Mutex
	print := func(id string, p *int, ev bson.Raw) error {
		js, err := bson.MarshalExtJSON(ev, false, false)
		if err != nil {
			return err
		}
		line, err := json.Marshal(struct {
			ID        string          `json:"id,omitempty"`
			Partition *int            `json:"partition,omitempty"`
			Event     json.RawMessage `json:"event"`
		}{id, p, js})
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		_, err = fmt.Fprintf(stdout, "%s\n", line)
		return err
	}
	if group != "" {
		c, err := relay.Consume[bson.Raw](ctx, rdb, group, func(_ context.Context, _ string, ev *listen.ChangeEvent[bson.Raw]) error {
			return print("", nil, ev.Raw)
		}, relay.WithStream(stream), relay.WithKeyPrefix(prefix), relay.WithFromStart(fromStart),
			relay.WithOnError(func(err error) { mu.Lock(); fmt.Fprintln(stderr, "relay tail:", err); mu.Unlock() }))
		if err != nil {
			return err
		}
		<-ctx.Done()
		return c.Stop(context.WithoutCancel(ctx))
	}
	return relay.Tail(ctx, rdb, prefix, stream, fromStart, func(id string, p int, ev bson.Raw) error { return print(id, &p, ev) })
}

// leaseOf is the relay's lease, or nil for --lease-ttl 0.
func leaseOf(rdb *redis.Client, ttl time.Duration) lease.Lease {
	if ttl <= 0 {
		return nil
	}
	return redislease.New(rdb, "")
}
