package changestream_test

import (
	"context"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// BenchmarkDriverBacklogDelivery measures backlog delivery through the
// whole server: a change stream resumed before 20,000 inserts is read to
// the end with the v2 driver (batchSize 1000), decoding every event.
func BenchmarkDriverBacklogDelivery(b *testing.B) {
	client := testenv.Client(b)
	coll := client.Database("bench_backlog").Collection("c")
	ctx := context.Background()
	start, err := coll.Watch(ctx, mongo.Pipeline{})
	if err != nil {
		b.Fatal(err)
	}
	token := start.ResumeToken()
	_ = start.Close(ctx)

	const n = 20_000
	docs := make([]any, 0, 1000)
	for i := 0; i < n; i++ {
		docs = append(docs, bson.D{{Key: "i", Value: int32(i)}, {Key: "name", Value: "some name"}, {Key: "tags", Value: bson.A{"a", "b"}}})
		if len(docs) == cap(docs) {
			if _, err := coll.InsertMany(ctx, docs); err != nil {
				b.Fatal(err)
			}
			docs = docs[:0]
		}
	}

	type event struct {
		OperationType string `bson:"operationType"`
		FullDocument  struct {
			I int32 `bson:"i"`
		} `bson:"fullDocument"`
	}
	b.ResetTimer()
	events := 0
	for b.Loop() {
		cs, err := coll.Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetResumeAfter(token).
			SetBatchSize(1000).SetMaxAwaitTime(time.Second))
		if err != nil {
			b.Fatal(err)
		}
		for got := 0; got < n; got++ {
			if !cs.Next(ctx) {
				b.Fatalf("stream ended after %d events: %v", got, cs.Err())
			}
			var ev event
			if err := cs.Decode(&ev); err != nil {
				b.Fatal(err)
			}
			if ev.FullDocument.I != int32(got) {
				b.Fatalf("event %d carries i=%d", got, ev.FullDocument.I)
			}
		}
		events += n
		_ = cs.Close(ctx)
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
