package bench

import (
	"context"
	"testing"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/resume"
)

// The benchmarks below run the measurements of `mongotide bench` with b.N as
// their size, so `go test -bench` and the CLI report the same figures.

func BenchmarkInsertWithStream(b *testing.B) {
	srv := testenv.StartEmbedded(b, embedded.Config{})
	writer, watcher := testenv.Connect(b, srv.URI(), nil), testenv.Connect(b, srv.URI(), nil)
	v, err := InsertWithStream(context.Background(), writer, watcher, b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(v, "inserts/s")
}

func BenchmarkBacklogDelivery(b *testing.B) {
	srv := testenv.StartEmbedded(b, embedded.Config{})
	v, err := BacklogDelivery(context.Background(), testenv.Connect(b, srv.URI(), nil), b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(v, "events/s")
}

func BenchmarkThroughput(b *testing.B) {
	for _, c := range []struct {
		name string
		c    consumer
	}{{"raw", Raw}, {"toolkit", Toolkit()}, {"toolkit-memory-checkpoints", ToolkitCheckpointing(resume.NewMemoryStore())}} {
		b.Run(c.name, func(b *testing.B) {
			srv := testenv.StartEmbedded(b, embedded.Config{})
			v, err := Throughput(context.Background(), testenv.Connect(b, srv.URI(), nil), b.N, c.c)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(v, "events/s")
		})
	}
}

func BenchmarkInsertLatency(b *testing.B) {
	for _, c := range []struct {
		name string
		c    consumer
	}{{"raw", Raw}, {"toolkit", Toolkit()}} {
		b.Run(c.name, func(b *testing.B) {
			srv := testenv.StartEmbedded(b, embedded.Config{})
			l, err := InsertLatency(context.Background(), testenv.Connect(b, srv.URI(), nil), b.N, c.c)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(l.P50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(l.P99.Microseconds()), "p99-µs")
		})
	}
}

func BenchmarkFanout1000(b *testing.B) {
	for _, c := range []struct {
		name string
		f    func(context.Context, string, int, int) (Fanout, error)
	}{{"shared", FanoutShared}, {"raw-cursors", FanoutRaw}} {
		b.Run(c.name, func(b *testing.B) {
			srv := testenv.StartEmbedded(b, embedded.Config{})
			r, err := c.f(context.Background(), srv.URI(), 1000, b.N)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.CmdsPerEvent, "server-cmds/event")
			b.ReportMetric(float64(r.CPUPerEvent.Microseconds()), "cpu-µs/event")
		})
	}
}
