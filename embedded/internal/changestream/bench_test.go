package changestream

import (
	"testing"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// BenchmarkBacklogDelivery measures how fast a stream delivers a backlog of
// inserts (about 100-byte documents) from a real engine, in batches of 1000
// as a driver with a large batchSize would pull them.
func BenchmarkBacklogDelivery(b *testing.B) {
	eng := openEngine(b, engine.Options{})
	const n = 20_000
	for i := 0; i < n; i++ {
		if _, err := eng.Insert(nsA, bson.D{{Key: "i", Value: int32(i)}, {Key: "name", Value: "some name"},
			{Key: "tags", Value: bson.A{"a", "b"}}, {Key: "at", Value: bson.DateTime(1_700_000_000_000)}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	events := 0
	for b.Loop() {
		s, err := Open(eng, Scope{DB: "db", Coll: "a"}, bson.D{{Key: "startAtOperationTime", Value: bson.Timestamp{T: 1}}}, nil)
		if err != nil {
			b.Fatal(err)
		}
		for {
			docs, _, err := s.Next(b.Context(), 1000, 0)
			if err != nil {
				b.Fatal(err)
			}
			if len(docs) == 0 {
				break
			}
			events += len(docs)
		}
		s.Close()
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
