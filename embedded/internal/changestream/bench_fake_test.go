package changestream

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// BenchmarkBuildEvents measures event building alone, over an in-memory
// oplog (no engine): the ceiling for backlog delivery.
func BenchmarkBuildEvents(b *testing.B) {
	log := newFakeLog()
	const n = 10_000
	for i := 0; i < n; i++ {
		log.commit(insertEntry(b, nsA, bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "i", Value: int32(i)},
			{Key: "name", Value: "some name"}, {Key: "tags", Value: bson.A{"a", "b"}}}))
	}
	b.ReportAllocs()
	b.ResetTimer()
	drainBacklog(b, func() (*Stream, error) {
		return open(log, Scope{DB: "db", Coll: "a"}, fromStart(), nil)
	})
}
