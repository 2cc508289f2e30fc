package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/bench"
	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/sync"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The benchmarks run the measurements of `mongotide bench sync`
// (internal/bench) between two embedded servers in this process, with b.N as
// their size, so both report the same figures:
//
//	go test -run '^$' -bench . -benchtime 100000x ./sync/   # bootstrap of 100k docs
//	go test -run '^$' -bench Lag -benchtime 5000x ./sync/   # 5 s at 1,000 writes/s

func twoServers(b *testing.B) (local, remote *mongo.Client) {
	b.Helper()
	l := testenv.StartEmbedded(b, embedded.Config{})
	r := testenv.StartEmbedded(b, embedded.Config{})
	return testenv.Connect(b, l.URI(), nil), testenv.Connect(b, r.URI(), nil)
}

// BenchmarkBootstrap copies b.N 1-KiB documents from the remote with the
// default Config and reports documents per second (target: >= 20,000/s for
// 100,000 documents).
func BenchmarkBootstrap(b *testing.B) {
	local, remote := twoServers(b)
	v, err := bench.SyncBootstrap(context.Background(), local, remote, b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(v, "docs/s")
}

// BenchmarkLag inserts b.N documents at 1,000 writes/s on one side and
// reports the latency until each is on the other side (target p99 <= 100 ms)
// and the process CPU time per replicated write.
func BenchmarkLag(b *testing.B) {
	for _, dir := range []sync.Direction{sync.Upload, sync.Download} {
		b.Run(string(dir), func(b *testing.B) {
			local, remote := twoServers(b)
			l, err := bench.SyncLag(context.Background(), local, remote, dir, 1000, time.Duration(b.N)*time.Millisecond)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(l.P50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(l.P99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(l.CPUPerWrite.Microseconds()), "cpu-µs/write")
			b.ReportMetric(l.Rate, "writes/s")
		})
	}
}
