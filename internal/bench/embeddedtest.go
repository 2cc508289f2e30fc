package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/embedded/embeddedtest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Latencies are the p50 and p99 of a set of timings.
type Latencies struct{ P50, P99 time.Duration }

func latencies(d []time.Duration) Latencies {
	slices.Sort(d)
	return Latencies{P50: d[len(d)/2], P99: d[min(len(d)-1, len(d)*99/100)]}
}

// StartStop starts n embedded servers one after another, each up to a
// client's first ping (start), then quiesces it, disconnects the client and
// stops it (stop): what a test with a server of its own pays.
func StartStop(ctx context.Context, n int) (start, stop Latencies, err error) {
	starts, stops := make([]time.Duration, 0, n), make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		srv, err := embedded.Start(ctx, embedded.Config{})
		if err != nil {
			return start, stop, err
		}
		client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
		if err == nil {
			err = client.Ping(ctx, nil)
		}
		if err != nil {
			_ = srv.Stop(ctx)
			return start, stop, err
		}
		starts = append(starts, time.Since(t0))
		t1 := time.Now()
		srv.Quiesce()
		err = errors.Join(client.Disconnect(ctx), srv.Stop(ctx))
		if err != nil {
			return start, stop, err
		}
		stops = append(stops, time.Since(t1))
	}
	return latencies(starts), latencies(stops), nil
}

// TestDatabases measures what embeddedtest.Database costs a test on the
// shared server: n times one after another, a database of its own (the
// path of Database, through Env.Open), one insert and one read, then the
// drop. Then parallel tests at once, each inserting and reading docs
// documents in a database of its own: their wall time.
func TestDatabases(ctx context.Context, n, parallel, docs int) (perTest Latencies, wall time.Duration, err error) {
	env := embeddedtest.New(embeddedtest.Config{})
	defer func() { err = errors.Join(err, env.Close(context.WithoutCancel(ctx))) }()
	// The first use starts the shared server: not a per-test cost.
	if _, drop, err := env.Open(ctx, "warm-up"); err != nil {
		return perTest, 0, err
	} else if err := drop(ctx); err != nil {
		return perTest, 0, err
	}
	one := func(name string, docs int) error {
		db, drop, err := env.Open(ctx, name)
		if err != nil {
			return err
		}
		coll := db.Collection("c")
		for i := 0; i < docs; i++ {
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
				return err
			}
		}
		cur, err := coll.Find(ctx, bson.D{})
		if err != nil {
			return err
		}
		var got []bson.Raw
		if err := cur.All(ctx, &got); err != nil {
			return err
		}
		if len(got) != docs {
			return fmt.Errorf("read %d documents of %d", len(got), docs)
		}
		return drop(ctx)
	}
	times := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if err := one(fmt.Sprintf("TestOverhead/%d", i), 1); err != nil {
			return perTest, 0, err
		}
		times = append(times, time.Since(t0))
	}
	perTest = latencies(times)

	t0 := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, parallel)
	for i := 0; i < parallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = one(fmt.Sprintf("TestParallel/%d", i), docs)
		}()
	}
	wg.Wait()
	return perTest, time.Since(t0), errors.Join(errs...)
}

// addTestingRows adds the embeddedtest rows (docs/testing.md).
func addTestingRows(ctx context.Context, cfg Config, add func(name, value, target, met string)) error {
	n := min(cfg.Samples, 500)
	step(cfg, "embedded: %d servers started to first ping, then quiesced, disconnected and stopped", n)
	start, stop, err := StartStop(ctx, n)
	if err != nil {
		return fmt.Errorf("start/stop: %w", err)
	}
	add("embeddedtest: server start to first ping p50/p99", dur(start.P50)+" / "+dur(start.P99), "p99 <= 10 ms", met(start.P99 <= 10*time.Millisecond))
	add("embeddedtest: Quiesce+Disconnect+Stop p50/p99", dur(stop.P50)+" / "+dur(stop.P99), "p99 <= 10 ms", met(stop.P99 <= 10*time.Millisecond))
	parallel := min(cfg.Samples/2, 1000)
	step(cfg, "embedded: %d per-test databases one after another, then %d tests at once", n, parallel)
	per, wall, err := TestDatabases(ctx, n, parallel, 10)
	if err != nil {
		return fmt.Errorf("per-test databases: %w", err)
	}
	add("embeddedtest: per-test Database (create, use, drop) p50/p99", dur(per.P50)+" / "+dur(per.P99), "p99 <= 5 ms", met(per.P99 <= 5*time.Millisecond))
	add(fmt.Sprintf("embeddedtest: %s parallel tests, 10 docs each inserted and read", num(parallel)), dur(wall), "reported", "")
	return nil
}
