package listen_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/redistest"
	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/lease/redislease"
	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/resume"
	"github.com/mongotide/mongotide/resume/redisstore"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The leased-listener child process: this test binary re-run with
// envLeaseChild set to the holder's name.
const (
	envLeaseChild = "MONGOTIDE_LEASE_CHILD"
	envLeaseURI   = "MONGOTIDE_LEASE_URI"
	envLeaseRedis = "MONGOTIDE_LEASE_REDIS"
	envLeaseNS    = "MONGOTIDE_LEASE_NS"
	envLeaseEvery = "MONGOTIDE_LEASE_CHECKPOINT_EVERY"
	leaseTTL      = time.Second
)

// runLeaseChild runs a leased listener that records each delivery in
// Redis ("deliveries": "<holder> <n> <unix ns at the handler's start>") and
// each fenced checkpoint ("fenced:<holder>"), until SIGTERM.
func runLeaseChild() int {
	holder := os.Getenv(envLeaseChild)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv(envLeaseRedis)})
	defer rdb.Close()
	client, err := mongo.Connect(options.Client().ApplyURI(os.Getenv(envLeaseURI)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer client.Disconnect(context.Background())
	db, coll, _ := strings.Cut(os.Getenv(envLeaseNS), ".")
	every, _ := strconv.Atoi(os.Getenv(envLeaseEvery))
	sub, err := listen.Listen[Book](ctx, client.Database(db).Collection(coll), func(ctx context.Context, _ string, ev *listen.ChangeEvent[Book]) error {
		at := time.Now().UnixNano()
		return rdb.RPush(ctx, "deliveries", fmt.Sprintf("%s %d %d", holder, ev.FullDocument.N, at)).Err()
	},
		listen.WithLease(redislease.New(rdb, ""), "books"), listen.WithLeaseTTL(leaseTTL), listen.WithLeaseHolder(holder),
		listen.WithResumeStore(redisstore.New(rdb, "resume:"), "books"),
		listen.WithCheckpointEvery(every), listen.WithCheckpointInterval(time.Hour),
		listen.WithOnError(func(err error) {
			if errors.Is(err, resume.ErrFenced) {
				rdb.Incr(context.Background(), "fenced:"+holder)
			}
		}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	<-ctx.Done()
	_ = sub.Stop(context.Background())
	return 0
}

type delivery struct {
	holder string
	n      int
	at     time.Time
}

func deliveries(t *testing.T, rdb *redis.Client) []delivery {
	t.Helper()
	lines, err := rdb.LRange(context.Background(), "deliveries", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []delivery
	for _, l := range lines {
		f := strings.Fields(l)
		n, _ := strconv.Atoi(f[1])
		ns, _ := strconv.ParseInt(f[2], 10, 64)
		out = append(out, delivery{f[0], n, time.Unix(0, ns)})
	}
	return out
}

// Leased listeners as OS processes: kill -9 of the holder hands delivery
// to a standby (the takeover time is logged: about the TTL, at most 2x);
// a holder stopped (SIGSTOP) past its TTL loses the lease to a standby and,
// continued, delivers nothing after the successor took over, and its late
// checkpoint is refused by fencing. Every write is delivered at least once.
func TestLeasedListenerProcesses(t *testing.T) {
	testenv.SkipIfExternal(t, "the test starts its own processes and server")
	srv := testenv.StartEmbedded(t, embeddedConfig())
	client := testenv.Connect(t, srv.URI(), options.Client())
	coll := client.Database("leaseproc").Collection("books")
	rs := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { _ = rdb.Close() })

	procs := map[string]*exec.Cmd{}
	start := func(holder string, checkpointEvery int) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envLeaseChild+"="+holder, envLeaseURI+"="+srv.URI(), envLeaseRedis+"="+rs.Addr,
			envLeaseNS+"=leaseproc.books", envLeaseEvery+"="+strconv.Itoa(checkpointEvery))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[holder] = cmd
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	// The writer: one document per 5 ms, N counting up.
	var written atomic.Int64
	wctx, stopWriter := context.WithCancel(context.Background())
	writerDone := make(chan error, 1)
	go func() {
		for n := 0; ; n++ {
			if _, err := coll.InsertOne(wctx, Book{N: n}); err != nil {
				writerDone <- err
				return
			}
			written.Store(int64(n + 1))
			select {
			case <-wctx.Done():
				writerDone <- nil
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	holderNow := func(after time.Time) string {
		ds := deliveries(t, rdb)
		for i := len(ds) - 1; i >= 0; i-- {
			if ds[i].at.After(after) {
				return ds[i].holder
			}
		}
		return ""
	}
	firstBy := func(holder string, after time.Time) time.Time {
		for _, d := range deliveries(t, rdb) {
			if d.holder == holder && d.at.After(after) {
				return d.at
			}
		}
		return time.Time{}
	}

	// A and B start; the one delivering is the holder. Large checkpoint
	// batches for them, so their late checkpoints carry unsaved progress.
	start("A", 1000)
	start("B", 1000)
	var h string
	testenv.Eventually(t, 20*time.Second, "a holder delivering", func() bool { h = holderNow(time.Time{}); return h != "" })
	standby := map[string]string{"A": "B", "B": "A"}[h]

	// kill -9 the holder: the standby takes over.
	killedAt := time.Now()
	_ = procs[h].Process.Kill()
	_ = procs[h].Wait()
	var took time.Duration
	testenv.Eventually(t, 10*leaseTTL, "the standby delivers", func() bool {
		f := firstBy(standby, killedAt)
		took = f.Sub(killedAt)
		return !f.IsZero()
	})
	t.Logf("kill -9 of the holder: standby delivering %v later (lease TTL %v)", took.Round(time.Millisecond), leaseTTL)
	if took > 2*leaseTTL {
		t.Errorf("takeover took %v, more than 2 x the lease TTL (%v)", took, 2*leaseTTL)
	}

	// C stands by, checkpointing every event. SIGSTOP the holder past its
	// TTL: C takes over.
	start("C", 1)
	paused := standby
	pausedAt := time.Now()
	if err := procs[paused].Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var cFirst time.Time
	testenv.Eventually(t, 10*leaseTTL, "C takes over from the paused holder", func() bool {
		cFirst = firstBy("C", pausedAt)
		return !cFirst.IsZero()
	})
	t.Logf("SIGSTOP of the holder: C delivering %v later", cFirst.Sub(pausedAt).Round(time.Millisecond))
	if err := procs[paused].Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*leaseTTL, "the paused holder's late checkpoint fenced off", func() bool {
		n, _ := rdb.Get(context.Background(), "fenced:"+paused).Int()
		return n >= 1
	})
	stopWriter()
	if err := <-writerDone; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	n := int(written.Load())
	// Writes before the first holder's stream opened are not its to
	// deliver (a listener without a checkpoint starts at "now"): count
	// from the first delivered one.
	first := n
	var missing []int
	testenv.Eventually(t, 20*time.Second, "every write delivered at least once", func() bool {
		seen := map[int]bool{}
		for _, d := range deliveries(t, rdb) {
			seen[d.n] = true
			first = min(first, d.n)
		}
		missing = missing[:0]
		for i := first; i < n; i++ {
			if !seen[i] {
				missing = append(missing, i)
			}
		}
		return len(missing) == 0
	}, func() string {
		var b strings.Builder
		for _, d := range deliveries(t, rdb) {
			fmt.Fprintf(&b, "%s:%d@%s ", d.holder, d.n, d.at.Format("05.000"))
		}
		return fmt.Sprintf("%d of %d..%d missing: %v; killed %s at %s, paused at %s; deliveries: %s", len(missing), first, n, missing[:min(len(missing), 20)], h, killedAt.Format("05.000"), pausedAt.Format("05.000"), b.String())
	})
	t.Logf("%d writes, delivered from %d on; %d deliveries in all (at least once)", n, first, len(deliveries(t, rdb)))
	// A handler call that had passed the gate when the process was
	// stopped finishes when it continues (the lease cannot undo work in
	// flight; fencing keeps its checkpoint out): at most one, with
	// Concurrency 1. Any other delivery after C took over is a violation.
	var late []delivery
	for _, d := range deliveries(t, rdb) {
		if d.holder == paused && d.at.After(cFirst) {
			late = append(late, d)
		}
	}
	if len(late) > 1 {
		t.Errorf("%s, paused and continued, delivered %d events after C took over at %v: %v", paused, len(late), cFirst, late)
	}
}

func embeddedConfig() embedded.Config { return embedded.Config{} }
