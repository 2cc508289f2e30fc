package listen_test

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/redistest"
	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/resume"
	"github.com/mongotide/mongotide/resume/redisstore"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// benchColl returns a collection on a fresh database and a writer for it.
func benchColl(b *testing.B, client *mongo.Client) *mongo.Collection {
	b.Helper()
	return client.Database(fmt.Sprintf("bench_%d", collSeq.Add(1))).Collection("books")
}

func insertBatch(b *testing.B, coll *mongo.Collection, n int) {
	b.Helper()
	const batch = 500
	docs := make([]any, 0, batch)
	for i := 0; i < n; i++ {
		docs = append(docs, Book{ID: i, Title: "t", N: i})
		if len(docs) == batch || i == n-1 {
			if _, err := coll.InsertMany(context.Background(), docs); err != nil {
				b.Fatal(err)
			}
			docs = docs[:0]
		}
	}
}

func waitCount(b *testing.B, c *atomic.Int64, n int64) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for c.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d events after 2m", c.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkThroughput compares delivering inserted documents through a raw
// driver Watch/Next/Decode loop, the toolkit, and the toolkit with Redis
// checkpoints at the default batching.
func BenchmarkThroughput(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		coll := benchColl(b, testenv.Client(b))
		var got atomic.Int64
		ctx, cancel := context.WithCancel(context.Background())
		cs, err := coll.Watch(ctx, mongo.Pipeline{})
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cs.Next(ctx) {
				var ev struct {
					FullDocument Book `bson:"fullDocument"`
				}
				if err := cs.Decode(&ev); err != nil {
					panic(err)
				}
				got.Add(1)
			}
		}()
		b.ResetTimer()
		insertBatch(b, coll, b.N)
		waitCount(b, &got, int64(b.N))
		b.StopTimer()
		cancel()
		wg.Wait()
		_ = cs.Close(context.Background())
	})
	toolkit := func(b *testing.B, opts ...listen.Option) {
		coll := benchColl(b, testenv.Client(b))
		var got atomic.Int64
		sub, err := listen.Listen[Book](context.Background(), coll, func(context.Context, string, *listen.ChangeEvent[Book]) error {
			got.Add(1)
			return nil
		}, opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		insertBatch(b, coll, b.N)
		waitCount(b, &got, int64(b.N))
		b.StopTimer()
		b.ReportMetric(float64(sub.Stats().Checkpoints), "checkpoints")
		if err := sub.Unsubscribe(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("toolkit", func(b *testing.B) { toolkit(b) })
	b.Run("toolkit-memory-store", func(b *testing.B) {
		toolkit(b, listen.WithResumeStore(resume.NewMemoryStore(), "bench"))
	})
	b.Run("toolkit-redis-store", func(b *testing.B) {
		toolkit(b, listen.WithResumeStore(redisstore.New(redistest.Client(b), "bench:"), "bench"))
	})
}

// BenchmarkLatency measures insert -> handler latency, one write at a time.
func BenchmarkLatency(b *testing.B) {
	measure := func(b *testing.B, start func(coll *mongo.Collection, seen chan<- time.Time) func()) {
		client := testenv.Client(b)
		coll := benchColl(b, client)
		seen := make(chan time.Time, 1)
		stop := start(coll, seen)
		defer stop()
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			if _, err := coll.InsertOne(context.Background(), Book{ID: i}); err != nil {
				b.Fatal(err)
			}
			t1 := <-seen
			lat = append(lat, t1.Sub(t0))
		}
		b.StopTimer()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
	b.Run("raw", func(b *testing.B) {
		measure(b, func(coll *mongo.Collection, seen chan<- time.Time) func() {
			ctx, cancel := context.WithCancel(context.Background())
			cs, err := coll.Watch(ctx, mongo.Pipeline{})
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for cs.Next(ctx) {
					var ev bson.M
					_ = cs.Decode(&ev)
					seen <- time.Now()
				}
			}()
			return func() { cancel(); <-done; _ = cs.Close(context.Background()) }
		})
	})
	b.Run("toolkit", func(b *testing.B) {
		measure(b, func(coll *mongo.Collection, seen chan<- time.Time) func() {
			sub, err := listen.Listen[Book](context.Background(), coll, func(context.Context, string, *listen.ChangeEvent[Book]) error {
				seen <- time.Now()
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			return func() { _ = sub.Unsubscribe() }
		})
	})
}

// BenchmarkThousandListeners compares 1,000 listeners sharing one cursor with
// 1,000 raw driver cursors: server commands per event.
func BenchmarkThousandListeners(b *testing.B) {
	const listeners = 1000
	run := func(b *testing.B, start func(coll *mongo.Collection, got *atomic.Int64) func()) {
		var cmds atomic.Int64
		mon := &event.CommandMonitor{Started: func(context.Context, *event.CommandStartedEvent) { cmds.Add(1) }}
		uri := testenv.URI(b)
		client := testenv.Connect(b, uri, options.Client().SetMonitor(mon).SetMaxPoolSize(2*listeners))
		writer := testenv.Connect(b, uri, nil)
		coll := benchColl(b, client)
		wcoll := writer.Database(coll.Database().Name()).Collection(coll.Name())
		var got atomic.Int64
		stop := start(coll, &got)
		defer stop()
		// Collect the setup's garbage now: neither side should pay for it
		// inside the measured window.
		runtime.GC()
		cmds.Store(0)
		cpu0 := cpuTime()
		b.ResetTimer()
		insertBatch(b, wcoll, b.N)
		waitCount(b, &got, int64(b.N*listeners))
		b.StopTimer()
		b.ReportMetric(float64(cmds.Load())/float64(b.N), "server-cmds/event")
		// Server and clients share this process: this is the whole cost.
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
	}
	b.Run("shared", func(b *testing.B) {
		run(b, func(coll *mongo.Collection, got *atomic.Int64) func() {
			hub := listen.NewHub()
			subs := make([]*listen.Subscription, listeners)
			for i := range subs {
				s, err := listen.Listen[Book](context.Background(), coll, func(context.Context, string, *listen.ChangeEvent[Book]) error {
					got.Add(1)
					return nil
				}, listen.WithHub(hub))
				if err != nil {
					b.Fatal(err)
				}
				subs[i] = s
			}
			return func() {
				for _, s := range subs {
					_ = s.Unsubscribe()
				}
			}
		})
	})
	b.Run("raw-cursors", func(b *testing.B) {
		run(b, func(coll *mongo.Collection, got *atomic.Int64) func() {
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for i := 0; i < listeners; i++ {
				cs, err := coll.Watch(ctx, mongo.Pipeline{})
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer cs.Close(context.Background())
					for cs.Next(ctx) {
						var ev bson.M
						_ = cs.Decode(&ev)
						got.Add(1)
					}
				}()
			}
			return func() { cancel(); wg.Wait() }
		})
	})
}
