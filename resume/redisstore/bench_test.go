package redisstore_test

import (
	"context"
	"testing"

	"github.com/mongotide/mongotide/internal/redistest"
	"github.com/mongotide/mongotide/resume/redisstore"
	"github.com/mongotide/mongotide/resume/resumetest"
)

// BenchmarkSave is the cost of one checkpoint; with the listener's default
// batching (every 100 events) the cost per event is a hundredth of it.
func BenchmarkSave(b *testing.B) {
	s := redisstore.New(redistest.Client(b), "bench:")
	tok := resumetest.Token(1)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Save(ctx, "k", tok); err != nil {
			b.Fatal(err)
		}
	}
}
