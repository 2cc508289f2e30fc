package relay_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/mongotide/mongotide/lease"
	"github.com/mongotide/mongotide/lease/redislease"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/redistest"
	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/relay"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

var chaosDuration = flag.Duration("relay.chaos", 0, "run the relay chaos test this long (default: a short form of about 15 s)")

// Child process roles of the chaos test: this test binary, re-run with
// envChild set, is a publisher or a consumer until it is killed.
const (
	envChild   = "MONGOTIDE_RELAY_CHILD" // "publisher" or "consumer"
	envURI     = "MONGOTIDE_RELAY_URI"
	envRedis   = "MONGOTIDE_RELAY_REDIS"
	envName    = "MONGOTIDE_RELAY_NAME"
	envColl    = "MONGOTIDE_RELAY_COLL" // db.coll
	envHolder  = "MONGOTIDE_RELAY_HOLDER"
	envOrdered = "MONGOTIDE_RELAY_ORDERED" // consumers in ordered mode
	// publisherTTL is the chaos publishers' lease TTL.
	publisherTTL = time.Second
)

// handledKey is the hash where chaos consumers count their handler calls
// per entry ID.
func handledKey(name string) string { return "chaos:handled:" + name }

// runChild runs a chaos child role; it returns only on SIGTERM.
func runChild(role string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv(envRedis)})
	defer rdb.Close()
	name := os.Getenv(envName)
	fail := func(err error) int { fmt.Fprintf(os.Stderr, "%s: %v\n", role, err); return 1 }
	switch role {
	case "publisher":
		client, err := mongo.Connect(options.Client().ApplyURI(os.Getenv(envURI)))
		if err != nil {
			return fail(err)
		}
		defer client.Disconnect(context.Background())
		db, coll, _ := cut(os.Getenv(envColl))
		holder := os.Getenv(envHolder)
		p, err := relay.NewPublisher(relay.PublisherConfig{
			Collection: client.Database(db).Collection(coll), Redis: rdb, Name: name, Partitions: 4,
			Lease: redislease.New(rdb, ""), LeaseTTL: publisherTTL, LeaseHolder: holder,
			OnError: func(err error) {
				if !errors.Is(err, listen.ErrLeaseLost) {
					fmt.Fprintln(os.Stderr, "publisher:", err)
				}
			},
		})
		if err != nil {
			return fail(err)
		}
		if err := p.Start(ctx); err != nil {
			return fail(err)
		}
		// Tell the test who publishes: "holder" names the lease holder.
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for ctx.Err() == nil {
			select {
			case <-t.C:
				if p.Stats().Listener.LeaseHeld {
					rdb.Set(ctx, "chaos:holder:"+name, holder, 0)
				}
			case <-ctx.Done():
			}
		}
		_ = p.Stop(context.Background())
	case "consumer":
		opts := []relay.ConsumeOption{relay.WithStream(name), relay.WithClaimIdle(300 * time.Millisecond), relay.WithClaimInterval(100 * time.Millisecond),
			relay.WithBlock(100 * time.Millisecond),
			relay.WithOnError(func(err error) {
				if !errors.Is(err, lease.ErrLost) {
					fmt.Fprintln(os.Stderr, "consumer:", err)
				}
			})}
		if os.Getenv(envOrdered) != "" {
			opts = append(opts, relay.WithOrdered(redislease.New(rdb, ""), publisherTTL))
		}
		c, err := relay.Consume[bson.Raw](ctx, rdb, "chaos", func(ctx context.Context, _ string, ev *listen.ChangeEvent[bson.Raw]) error {
			// Counted before the ack: a kill between the two is a
			// redelivery, which at-least-once allows. The document's
			// value of n, in handling order, checks per-document order.
			pipe := rdb.TxPipeline()
			pipe.HIncrBy(ctx, handledKey(name), string(ev.ID), 1)
			if n, ok := valueOfN(ev); ok {
				pipe.RPush(ctx, "chaos:seq:"+name+":"+listen.DocumentID(ev.DocumentKey), n)
			}
			_, err := pipe.Exec(ctx)
			return err
		}, opts...)
		if err != nil {
			return fail(err)
		}
		<-ctx.Done()
		_ = c.Stop(context.Background())
	default:
		return fail(fmt.Errorf("unknown role %q", role))
	}
	return 0
}

func cut(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// proc is one chaos child process.
type proc struct {
	role    string
	cmd     *exec.Cmd
	stopped bool // SIGSTOPped
}

// Two publishers and three consumers, each a separate OS process, are
// killed (-9), paused (SIGSTOP/SIGCONT) and restarted at random while
// documents are written. Afterwards every change is in the streams exactly
// once (no duplicate, none lost) and was handled by a consumer at least
// once. The seed is printed; -relay.chaos=5m runs the long form.
func TestChaosProcesses(t *testing.T) { chaosProcesses(t, false) }

// TestChaosProcessesOrdered is the chaos test with the consumers in
// ordered mode (a lease per partition): on top of the above, each
// document's changes are handled in order (repeats aside).
func TestChaosProcessesOrdered(t *testing.T) { chaosProcesses(t, true) }

func chaosProcesses(t *testing.T, ordered bool) {
	testenv.SkipIfExternal(t, "the chaos test starts its own server")
	duration := 12 * time.Second
	if *chaosDuration > 0 {
		duration = *chaosDuration
	}
	seed := rand.Uint64()
	if s := os.Getenv("MONGOTIDE_RELAY_CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (rerun: MONGOTIDE_RELAY_CHAOS_SEED=%d go test -run %s ./relay)", seed, seed, t.Name())
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	srv := testenv.StartEmbedded(t, embeddedConfig())
	client := testenv.Connect(t, srv.URI(), options.Client())
	coll := client.Database("chaos").Collection("docs")
	redisSrv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: redisSrv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	name := "chaos.docs"

	env := append(os.Environ(), envURI+"="+srv.URI(), envRedis+"="+redisSrv.Addr, envName+"="+name, envColl+"=chaos.docs")
	if ordered {
		env = append(env, envOrdered+"=1")
	}
	seq := 0
	start := func(role string) *proc {
		seq++
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(env, envChild+"="+role, envHolder+"="+fmt.Sprint(role, seq))
		cmd.Stderr = &prefixWriter{t: t, prefix: role}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return &proc{role: role, cmd: cmd}
	}
	kill := func(p *proc) {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
	procs := []*proc{start("publisher"), start("publisher"), start("consumer"), start("consumer"), start("consumer")}
	t.Cleanup(func() {
		for _, p := range procs {
			kill(p)
		}
	})
	entries := func() []redis.XMessage {
		var all []redis.XMessage
		for p := range 4 {
			msgs, err := rdb.XRange(ctx, fmt.Sprintf("%s{%s:%d}", relay.DefaultKeyPrefix, name, p), "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, msgs...)
		}
		return all
	}
	// A publisher that never published starts at "now": writes before its
	// change stream is open are not its to publish. Write a "ready"
	// document until one of its events shows up in the streams; from then
	// on every write must, and only the chaos writes (integer ids) are
	// counted.
	eventually(t, "a publisher running", func() (bool, string) {
		if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "ready"}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}, options.UpdateOne().SetUpsert(true)); err != nil {
			return false, err.Error()
		}
		return len(entries()) > 0, "no entry yet"
	})
	chaosEntries := func(all []redis.XMessage) int {
		n := 0
		for _, m := range all {
			if _, ok := bson.Raw(m.Values["bson"].(string)).Lookup("documentKey", "_id").Int32OK(); ok {
				n++
			}
		}
		return n
	}
	var writes int
	var kills, pauses, restarts int
	deadline := time.Now().Add(duration)
	nextFault := time.Now()
	for time.Now().Before(deadline) {
		id := rng.IntN(50)
		if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}, options.UpdateOne().SetUpsert(true)); err != nil {
			t.Fatal(err)
		}
		writes++
		if time.Now().Before(nextFault) {
			continue
		}
		nextFault = time.Now().Add(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		i := rng.IntN(len(procs))
		p := procs[i]
		switch {
		case p.stopped:
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
			p.stopped = false
		case rng.IntN(3) == 0:
			_ = p.cmd.Process.Signal(syscall.SIGSTOP)
			p.stopped = true
			pauses++
		default:
			kill(p)
			kills++
			procs[i] = start(p.role)
			restarts++
		}
	}
	// Quiesce: everyone running again.
	for _, p := range procs {
		if p.stopped {
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
			p.stopped = false
		}
	}
	t.Logf("%d writes, %d kill -9 + restarts, %d pauses over %v", writes, kills, pauses, duration)

	eventually(t, "every write in the streams", func() (bool, string) {
		n := chaosEntries(entries())
		return n >= writes, fmt.Sprintf("%d entries for %d writes", n, writes)
	})
	all := entries()
	seen := map[string]bool{}
	for _, m := range all {
		ev := bson.Raw(m.Values["bson"].(string))
		tok := string(ev.Lookup("_id").Document())
		if seen[tok] {
			t.Errorf("event %x is in the streams twice", tok)
		}
		seen[tok] = true
	}
	if n := chaosEntries(all); n != writes {
		t.Fatalf("%d entries for %d writes: duplicates or strays", n, writes)
	}
	eventually(t, "every entry handled", func() (bool, string) {
		h, err := rdb.HGetAll(ctx, handledKey(name)).Result()
		if err != nil {
			return false, err.Error()
		}
		missing := 0
		for tok := range seen {
			if h[tok] == "" {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d entries not handled yet", missing, len(seen))
	})
	if ordered {
		// Per document, the values of n in the order first handled must
		// increase ($inc by 1: each change is n+1). Repeats (at least
		// once) are skipped.
		bad, distinct := 0, 0
		for id := range 50 {
			seqs, err := rdb.LRange(ctx, fmt.Sprintf("chaos:seq:%s:{\"$numberInt\":\"%d\"}", name, id), 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			last := 0
			for _, v := range seqs {
				if seen[v] {
					continue
				}
				seen[v] = true
				distinct++
				n, _ := strconv.Atoi(v)
				if n <= last {
					bad++
					if bad <= 5 {
						t.Errorf("document %d: n=%d handled first after n=%d", id, n, last)
					}
				}
				last = n
			}
		}
		if bad > 0 {
			t.Errorf("%d out-of-order first handlings", bad)
		}
		if distinct != writes {
			t.Errorf("%d changes of n handled for %d writes", distinct, writes)
		}
		t.Logf("ordered: %d changes handled in per-document order", distinct)
	}
	h, _ := rdb.HGetAll(ctx, handledKey(name)).Result()
	redelivered := 0
	for _, v := range h {
		if v != "1" {
			redelivered++
		}
	}
	t.Logf("%d entries, all handled; %d handled more than once (at least once allows it)", len(all), redelivered)
}

// prefixWriter sends a child's stderr to the test log.
type prefixWriter struct {
	t      *testing.T
	prefix string
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s: %s", w.prefix, p)
	return len(p), nil
}

// A standby publisher (lease TTL 1 s) takes over when the holder is killed
// (-9): the time from the kill to the next entry appended is logged and
// must stay under 2 x the TTL; no event is lost or appended twice.
func TestPublisherFailover(t *testing.T) {
	testenv.SkipIfExternal(t, "the test starts its own server and processes")
	srv := testenv.StartEmbedded(t, embeddedConfig())
	client := testenv.Connect(t, srv.URI(), options.Client())
	coll := client.Database("failover").Collection("docs")
	redisSrv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: redisSrv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	name := "failover.docs"
	env := append(os.Environ(), envURI+"="+srv.URI(), envRedis+"="+redisSrv.Addr, envName+"="+name, envColl+"=failover.docs")
	procs := map[string]*exec.Cmd{}
	for _, h := range []string{"p1", "p2"} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(env, envChild+"=publisher", envHolder+"="+h)
		cmd.Stderr = &prefixWriter{t: t, prefix: h}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[h] = cmd
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	count := func() int64 {
		var n int64
		for p := range 4 {
			l, err := rdb.XLen(ctx, fmt.Sprintf("%s{%s:%d}", relay.DefaultKeyPrefix, name, p)).Result()
			if err != nil {
				t.Fatal(err)
			}
			n += l
		}
		return n
	}
	write := func(id int) {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
			t.Fatal(err)
		}
	}
	// The writer writes a document every 5 ms from the start; entries
	// appear once a publisher holds the lease.
	var holder string
	id := 0
	testenv.Eventually(t, 20*time.Second, "a publisher holding the lease and appending", func() bool {
		write(id)
		id++
		holder, _ = rdb.Get(ctx, "chaos:holder:"+name).Result()
		return holder != "" && count() > 0
	})
	before := count()
	killed := time.Now()
	_ = procs[holder].Process.Kill()
	_ = procs[holder].Wait()
	var took time.Duration
	testenv.Eventually(t, 10*publisherTTL, "the standby appending", func() bool {
		write(id)
		id++
		if count() > before+1 { // +1: an append of the holder may have been in flight
			took = time.Since(killed)
			return true
		}
		return false
	})
	t.Logf("kill -9 of the holding publisher: the standby appended %v later (lease TTL %v)", took.Round(time.Millisecond), publisherTTL)
	if took > 2*publisherTTL {
		t.Errorf("failover took %v, more than 2 x the lease TTL", took)
	}
	// Every write from the first appended one on is in the streams, once.
	ids := func() map[int32]int {
		seen := map[int32]int{}
		for p := range 4 {
			msgs, err := rdb.XRange(ctx, fmt.Sprintf("%s{%s:%d}", relay.DefaultKeyPrefix, name, p), "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				seen[bson.Raw(m.Values["bson"].(string)).Lookup("documentKey", "_id").Int32()]++
			}
		}
		return seen
	}
	var detail string
	testenv.Eventually(t, 20*time.Second, "every write appended once", func() bool {
		seen := ids()
		first := int32(id)
		for k := range seen {
			first = min(first, k)
		}
		for k := first; k < int32(id); k++ {
			if seen[k] != 1 {
				detail = fmt.Sprintf("id %d appended %d times (first appended %d, last written %d)", k, seen[k], first, id-1)
				return false
			}
		}
		return true
	}, func() string { return detail })
}

// valueOfN is the document's n after the change (upsert or $inc).
func valueOfN(ev *listen.ChangeEvent[bson.Raw]) (int64, bool) {
	if ev.UpdateDescription != nil {
		v, err := ev.UpdateDescription.UpdatedFields.LookupErr("n")
		if err != nil {
			return 0, false
		}
		return v.AsInt64OK()
	}
	if ev.FullDocument != nil {
		v, err := ev.FullDocument.LookupErr("n")
		if err != nil {
			return 0, false
		}
		return v.AsInt64OK()
	}
	return 0, false
}
