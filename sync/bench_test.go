package sync

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// BenchmarkBootstrap copies b.N 1-KiB documents from the remote and reports
// documents per second (target: >= 20,000 docs/s).
func BenchmarkBootstrap(b *testing.B) {
	ctx := context.Background()
	local, remote := newDBTB(b, "local"), newDBTB(b, "remote")
	pad := strings.Repeat("x", 1000)
	docs := make([]any, 0, 1000)
	for i := 0; i < b.N; i++ {
		docs = append(docs, bson.D{{Key: "_id", Value: int32(i)}, {Key: "pad", Value: pad}})
		if len(docs) == cap(docs) || i == b.N-1 {
			if _, err := remote.Collection("c").InsertMany(ctx, docs); err != nil {
				b.Fatal(err)
			}
			docs = docs[:0]
		}
	}
	done := make(chan struct{})
	s, err := New(Config{Local: local, Remote: remote, Collections: []string{"c"}, BatchSize: 1000,
		OnBootstrap: func(p BootstrapProgress) {
			if p.Done {
				close(done)
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	<-done
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "docs/s")
	if err := s.Stop(ctx); err != nil {
		b.Fatal(err)
	}
}
