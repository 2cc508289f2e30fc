package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/mongotide/mongotide/sync"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The sync measurements run one Syncer between two servers (the CLI starts
// two embedded servers in this process, so process CPU time covers both
// servers, the writer and the syncer). Each uses fresh databases.

// syncPad makes a document of about 1 KiB.
var syncPad = strings.Repeat("x", 1000)

// SyncBootstrap writes docs 1-KiB documents on the remote, then times a
// Syncer with the default Config from Start until its bootstrap reports
// Done, and returns documents per second. Both databases are dropped at the
// end: 100,000 documents on each side would otherwise stay in the heap of
// this process and tax the measurements that follow with garbage
// collection work.
func SyncBootstrap(ctx context.Context, local, remote *mongo.Client, docs int) (float64, error) {
	ldb, rdb := freshDB(local, "sync_boot_local"), freshDB(remote, "sync_boot_remote")
	defer func() {
		_ = ldb.Drop(context.WithoutCancel(ctx))
		_ = rdb.Drop(context.WithoutCancel(ctx))
	}()
	batch := make([]any, 0, 1000)
	for i := 0; i < docs; i++ {
		batch = append(batch, bson.D{{Key: "_id", Value: int32(i)}, {Key: "pad", Value: syncPad}})
		if len(batch) == cap(batch) || i == docs-1 {
			if _, err := rdb.Collection("docs").InsertMany(ctx, batch); err != nil {
				return 0, fmt.Errorf("fill remote: %w", err)
			}
			batch = batch[:0]
		}
	}
	done := make(chan int64, 1)
	s, err := sync.New(sync.Config{Local: ldb, Remote: rdb, Collections: []string{"docs"},
		OnBootstrap: func(p sync.BootstrapProgress) {
			if p.Done {
				done <- p.Copied
			}
		}})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := s.Start(ctx); err != nil {
		return 0, err
	}
	defer s.Stop(context.WithoutCancel(ctx))
	select {
	case n := <-done:
		elapsed := time.Since(start)
		if n != int64(docs) {
			return 0, fmt.Errorf("bootstrap copied %d documents, want %d", n, docs)
		}
		return float64(docs) / elapsed.Seconds(), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(waitTimeout):
		return 0, errors.New("bootstrap did not finish in time")
	}
}

// Lag is a steady-state replication measurement.
type Lag struct {
	// Writes is how many writes were made and replicated.
	Writes int
	// Rate is the write rate achieved (writes/s).
	Rate float64
	// P50 and P99 are the write-to-other-side latencies: from just before
	// the write is issued to the syncer's OnSync for it (the document is
	// on the other side and its base saved).
	P50, P99 time.Duration
	// CPUPerWrite is the process CPU time (both servers, writer, syncer)
	// over the run divided by Writes.
	CPUPerWrite time.Duration
	// UserPerWrite and SystemPerWrite split CPUPerWrite; GCCycles is how
	// many garbage collections ran meanwhile (what moves the figure from
	// run to run).
	UserPerWrite, SystemPerWrite time.Duration
	GCCycles                     uint32
}

// SyncLag runs a Syncer (default Config) between fresh databases and
// inserts small documents (about 1 KiB) on one side at rate per second for
// d, each under a new _id, then waits until every one has reached the other
// side. dir says which side is written: sync.Upload writes locally,
// sync.Download writes on the remote.
func SyncLag(ctx context.Context, local, remote *mongo.Client, dir sync.Direction, rate int, d time.Duration) (Lag, error) {
	if rate < 1 || d <= 0 {
		return Lag{}, fmt.Errorf("bench: rate %d and duration %s must be positive", rate, d)
	}
	ldb, rdb := freshDB(local, "sync_lag_local"), freshDB(remote, "sync_lag_remote")
	// The first second at the rate is a warm-up, not measured: connection
	// pools grow, the heap finds its size, the streams' first batches pass.
	warmN := rate
	n := warmN + int(float64(rate)*d.Seconds())
	sent := make([]time.Time, n)
	got := make([]time.Duration, n)
	var seen atomic.Int64
	var mu gosync.Mutex
	bootstrapped := make(chan struct{})
	var once gosync.Once
	// warm is closed when the warm-up document has synced: both change
	// streams are open, so what follows is the steady state the target is
	// about, not the streams' start-up after the bootstrap.
	warm := make(chan struct{})
	var warmOnce gosync.Once
	s, err := sync.New(sync.Config{Local: ldb, Remote: rdb, Collections: []string{"docs"},
		OnBootstrap: func(p sync.BootstrapProgress) {
			if p.Done {
				once.Do(func() { close(bootstrapped) })
			}
		},
		OnSync: func(ev sync.SyncEvent) {
			now := time.Now()
			if ev.Direction != dir {
				return
			}
			if w, ok := ev.ID.StringValueOK(); ok && w == "warm-up" {
				warmOnce.Do(func() { close(warm) })
				return
			}
			i, ok := ev.ID.Int32OK()
			if !ok || int(i) >= n {
				return
			}
			mu.Lock()
			if got[i] == 0 {
				got[i] = now.Sub(sent[i])
				seen.Add(1)
			}
			mu.Unlock()
		}})
	if err != nil {
		return Lag{}, err
	}
	if err := s.Start(ctx); err != nil {
		return Lag{}, err
	}
	defer s.Stop(context.WithoutCancel(ctx))
	select {
	case <-bootstrapped:
	case <-ctx.Done():
		return Lag{}, ctx.Err()
	case <-time.After(waitTimeout):
		return Lag{}, errors.New("empty bootstrap did not finish in time")
	}
	coll := ldb.Collection("docs")
	if dir == sync.Download {
		coll = rdb.Collection("docs")
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "warm-up"}}); err != nil {
		return Lag{}, fmt.Errorf("warm-up write: %w", err)
	}
	select {
	case <-warm:
	case <-ctx.Done():
		return Lag{}, ctx.Err()
	case <-time.After(waitTimeout):
		return Lag{}, errors.New("the warm-up document did not sync in time")
	}
	var user0, sys0 time.Duration
	var gc0 uint32
	var measured time.Time
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := 0; i < n; i++ {
		if i == warmN {
			gc0 = gcCount()
			user0, sys0 = CPUTimes()
			measured = time.Now()
		}
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: int32(i)}, {Key: "pad", Value: syncPad}}); err != nil {
			return Lag{}, fmt.Errorf("write %d: %w", i, err)
		}
	}
	m := n - warmN
	achieved := float64(m) / time.Since(measured).Seconds()
	if err := waitCount(ctx, &seen, int64(n), "sync "+string(dir)); err != nil {
		return Lag{}, err
	}
	user, sys := CPUTimes()
	user, sys = user-user0, sys-sys0
	lags := got[warmN:]
	slices.Sort(lags)
	return Lag{Writes: m, Rate: achieved, P50: pct(lags, 0.50), P99: pct(lags, 0.99), CPUPerWrite: (user + sys) / time.Duration(m),
		UserPerWrite: user / time.Duration(m), SystemPerWrite: sys / time.Duration(m), GCCycles: gcCount() - gc0}, nil
}

// gcCount is the number of garbage collections this process has run.
func gcCount() uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.NumGC
}

// pct returns the q quantile of sorted durations.
func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)-1) + 0.5)
	return sorted[i]
}

// freshDB returns a database no other measurement uses.
func freshDB(client *mongo.Client, what string) *mongo.Database {
	return client.Database(fmt.Sprintf("bench_%s_%d_%d", what, time.Now().UnixNano()%1e6, dbSeq.Add(1)))
}

// runSync measures the sync suite between cfg.URI (local) and
// cfg.RemoteURI.
func runSync(ctx context.Context, cfg Config, local *mongo.Client) ([]Row, error) {
	var rows []Row
	add := func(name, value, target, met string) {
		rows = append(rows, Row{Group: "sync", Name: name, Value: value, Target: target, Met: met})
	}
	if cfg.RemoteURI == "" {
		return nil, errors.New("bench: the sync suite needs Config.RemoteURI (a second server)")
	}
	remote, err := mongo.Connect(options.Client().ApplyURI(cfg.RemoteURI))
	if err != nil {
		return nil, err
	}
	defer remote.Disconnect(context.WithoutCancel(ctx))

	// Lag first: the servers run in this process, and the bootstrap leaves
	// its 100,000 documents in both oplogs (about 200 MB of live heap),
	// whose garbage-collection marking would then be measured as sync lag
	// (p99 about 80-140 ms instead of 10-30 ms). A real server keeps its
	// oplog in another process.
	var cpu []string
	cpuMet := true
	for _, d := range []struct {
		dir  sync.Direction
		name string
	}{{sync.Upload, "local->remote"}, {sync.Download, "remote->local"}} {
		step(cfg, "sync: %s lag, %s writes/s for %s", d.name, num(cfg.SyncRate), cfg.SyncDuration)
		l, err := SyncLag(ctx, local, remote, d.dir, cfg.SyncRate, cfg.SyncDuration)
		if err != nil {
			return rows, fmt.Errorf("sync lag %s: %w", d.name, err)
		}
		add(fmt.Sprintf("lag %s at %s writes/s: p50 / p99", d.name, num(cfg.SyncRate)),
			fmt.Sprintf("%s / %s (%s writes at %s/s)", dur(l.P50), dur(l.P99), num(l.Writes), num(int(l.Rate+0.5))),
			"p99 <= 100 ms", met(l.P99 <= 100*time.Millisecond))
		step(cfg, "sync: %s CPU per write %s (user %s, system %s), %d GC cycles", d.name, dur(l.CPUPerWrite), dur(l.UserPerWrite), dur(l.SystemPerWrite), l.GCCycles)
		cpu = append(cpu, dur(l.CPUPerWrite))
		cpuMet = cpuMet && l.CPUPerWrite <= 600*time.Microsecond
	}
	add("process CPU per replicated write: local->remote / remote->local", strings.Join(cpu, " / "), "<= 600 µs each", met(cpuMet))

	step(cfg, "sync: bootstrap of %s 1-KiB documents", num(cfg.SyncDocs))
	dps, err := SyncBootstrap(ctx, local, remote, cfg.SyncDocs)
	if err != nil {
		return rows, fmt.Errorf("sync bootstrap: %w", err)
	}
	add(fmt.Sprintf("bootstrap of %s 1-KiB docs", num(cfg.SyncDocs)), rate(dps, "docs/s"), ">= 20,000 docs/s", met(dps >= 20_000))
	return rows, nil
}
