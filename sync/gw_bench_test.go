package sync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	mtsync "github.com/mongotide/mongotide/sync"
	"github.com/mongotide/mongotide/sync/synctest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Benchmarks of a replica syncing through a gateway (all on loopback, in
// this process: the remote's server, the gateway, the local server and the
// syncer share the machine). Not acceptance targets: figures for
// docs/sync.md. go test ./sync -run '^$' -bench Gateway -benchtime 3x

var benchPad = make([]byte, 1000)

func benchRemote(b *testing.B) (synctest.Remote, *synctest.Clock) {
	clock := &synctest.Clock{}
	return synctest.Gateway().Start(b, synctest.Setup{Collections: []string{"c"}, Clock: clock.Now}), clock
}

func benchDevice(b *testing.B, ctx context.Context, remote synctest.Remote, local *mongo.Database, tweak func(*mtsync.Config)) *mtsync.Syncer {
	b.Helper()
	cfg := mtsync.Config{Local: local, Collections: []string{"c"}, Backoff: synctest.FastBackoff}
	remote.Configure(b, &cfg)
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := mtsync.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

func waitCount(b *testing.B, ctx context.Context, c *mongo.Collection, n int64) {
	b.Helper()
	for {
		got, err := c.CountDocuments(ctx, bson.D{})
		if err == nil && got >= n {
			return
		}
		select {
		case <-ctx.Done():
			b.Fatalf("%s holds %d documents, want %d: %v", c.Database().Name(), got, n, ctx.Err())
		case <-time.After(5 * time.Millisecond): // polling a count, not before an assertion
		}
	}
}

// BenchmarkGatewayBootstrap: the first sync of 20,000 1-KiB documents
// through a gateway, per op (docs/s).
func BenchmarkGatewayBootstrap(b *testing.B) {
	const docs = 20000
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	remote, clock := benchRemote(b)
	var batch []any
	for i := range docs {
		batch = append(batch, bson.D{{Key: "_id", Value: int32(i)}, {Key: "p", Value: benchPad}})
	}
	if _, err := remote.DB().Collection("c").InsertMany(ctx, batch); err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		local := synctest.NewLocal(b, clock.Now, fmt.Sprintf("device%d", i))
		done := make(chan struct{})
		start := time.Now()
		benchDevice(b, ctx, remote, local, func(c *mtsync.Config) {
			c.BatchSize = 1000
			c.OnBootstrap = func(p mtsync.BootstrapProgress) {
				if p.Done {
					close(done)
				}
			}
		})
		select {
		case <-done:
		case <-ctx.Done():
			b.Fatal("bootstrap did not finish")
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(docs*b.N)/total.Seconds(), "docs/s")
}

// BenchmarkGatewayReplicate: 2,000 1-KiB inserts on one side, as fast as
// they go, until all are on the other side (docs/s), in each direction.
func BenchmarkGatewayReplicate(b *testing.B) {
	const docs = 2000
	for _, up := range []bool{true, false} {
		name := "download"
		if up {
			name = "upload"
		}
		b.Run(name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			remote, clock := benchRemote(b)
			local := synctest.NewLocal(b, clock.Now, "device")
			s := benchDevice(b, ctx, remote, local, nil)
			if err := s.WaitSynced(ctx); err != nil {
				b.Fatal(err)
			}
			from, to := remote.DB().Collection("c"), local.Collection("c")
			if up {
				from, to = to, from
			}
			var total time.Duration
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				for j := range docs {
					if _, err := from.InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("%d-%d", i, j)}, {Key: "p", Value: benchPad}}); err != nil {
						b.Fatal(err)
					}
				}
				waitCount(b, ctx, to, int64(docs*(i+1)))
				total += time.Since(start)
			}
			b.ReportMetric(float64(docs*b.N)/total.Seconds(), "docs/s")
		})
	}
}
