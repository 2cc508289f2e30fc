package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// waitTimeout bounds any wait for events; a stuck delivery fails the
// measurement instead of hanging the run.
const waitTimeout = 5 * time.Minute

var dbSeq atomic.Int64

// freshColl returns a collection in a database no other measurement uses.
func freshColl(client *mongo.Client, what string) *mongo.Collection {
	return client.Database(fmt.Sprintf("bench_%s_%d_%d", what, time.Now().UnixNano()%1e6, dbSeq.Add(1))).Collection("docs")
}

// benchDoc is the document type of the listener measurements.
type benchDoc struct {
	ID    int    `bson:"_id"`
	Title string `bson:"title"`
	N     int    `bson:"n"`
}

// insertMany writes n small documents in batches of 500, _id from first.
func insertMany(ctx context.Context, coll *mongo.Collection, first, n int) error {
	const batch = 500
	docs := make([]any, 0, batch)
	for i := 0; i < n; i++ {
		docs = append(docs, benchDoc{ID: first + i, Title: "t", N: i})
		if len(docs) == batch || i == n-1 {
			if _, err := coll.InsertMany(ctx, docs); err != nil {
				return fmt.Errorf("insert: %w", err)
			}
			docs = docs[:0]
		}
	}
	return nil
}

// waitCount polls c until it reaches n, ctx ends, or waitTimeout passes.
func waitCount(ctx context.Context, c *atomic.Int64, n int64, what string) error {
	deadline := time.Now().Add(waitTimeout)
	for c.Load() < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: only %d of %d events after %s", what, c.Load(), n, waitTimeout)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return nil
}

// rawEvent is what the raw driver loops decode, like a typical hand-written
// consumer would.
type rawEvent struct {
	OperationType string   `bson:"operationType"`
	DocumentKey   bson.Raw `bson:"documentKey"`
	FullDocument  benchDoc `bson:"fullDocument"`
}
