package embedded_test

import (
	"context"
	"testing"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// BenchmarkPing measures the per-command cost of the server core (wire
// decode, dispatch, reply) through the real driver.
func BenchmarkPing(b *testing.B) {
	srv := testenv.StartEmbedded(b, embedded.Config{})
	c := testenv.Connect(b, srv.URI(), nil)
	ctx := context.Background()
	db := c.Database("admin")
	cmd := bson.D{{Key: "ping", Value: 1}}
	b.ReportAllocs()
	for b.Loop() {
		if err := db.RunCommand(ctx, cmd).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRetryableInsertOne is the hot path of applications: InsertOne
// with retryWrites (lsid + txnNumber on every write).
func BenchmarkRetryableInsertOne(b *testing.B) {
	srv := testenv.StartEmbedded(b, embedded.Config{})
	c := testenv.Connect(b, srv.URI(), nil)
	ctx := context.Background()
	coll := c.Database("bench").Collection("c")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "v", Value: "x"}}); err != nil {
			b.Fatal(err)
		}
	}
}
