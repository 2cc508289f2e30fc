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
	drainBacklog(b, func() (*Stream, error) {
		return Open(eng, Scope{DB: "db", Coll: "a"}, fromStart(), nil)
	})
}

// BenchmarkBacklogDeliveryFiltered is BenchmarkBacklogDelivery with user
// stages, which need a decoded event: a $match keeping every other event,
// and a $match plus $project.
func BenchmarkBacklogDeliveryFiltered(b *testing.B) {
	eng := openEngine(b, engine.Options{})
	const n = 20_000
	for i := 0; i < n; i++ {
		if _, err := eng.Insert(nsA, bson.D{{Key: "i", Value: int32(i)}, {Key: "even", Value: i%2 == 0},
			{Key: "name", Value: "some name"}, {Key: "tags", Value: bson.A{"a", "b"}}}); err != nil {
			b.Fatal(err)
		}
	}
	match := bson.D{{Key: "$match", Value: bson.D{{Key: "fullDocument.even", Value: true}}}}
	project := bson.D{{Key: "$project", Value: bson.D{{Key: "operationType", Value: 1}, {Key: "fullDocument.name", Value: 1}}}}
	for _, c := range []struct {
		name   string
		stages []bson.D
	}{{"match", []bson.D{match}}, {"match+project", []bson.D{match, project}}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			drainBacklog(b, func() (*Stream, error) {
				return Open(eng, Scope{DB: "db", Coll: "a"}, fromStart(), c.stages)
			})
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// fromStart is the $changeStream spec that replays the whole backlog.
func fromStart() bson.D {
	return bson.D{{Key: "startAtOperationTime", Value: bson.Timestamp{T: 1}}}
}

// drainBacklog opens a stream per iteration with openStream, reads it until
// an empty batch, and reports events/s.
func drainBacklog(b *testing.B, openStream func() (*Stream, error)) {
	b.Helper()
	events := 0
	for b.Loop() {
		s, err := openStream()
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
