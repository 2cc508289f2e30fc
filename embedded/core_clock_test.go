package embedded_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// offsetClock is real time plus an offset the test moves.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// Config.Clock drives wallTime and cluster times (which never go
// backwards, even when the clock does), $currentDate and TTL expiry.
func TestClockDrivesServerTimes(t *testing.T) {
	ctx := context.Background()
	clk := &offsetClock{}
	srv := testenv.StartEmbedded(t, embedded.Config{Clock: clk.now, TTLMonitorInterval: 10 * time.Millisecond})
	coll := testenv.Connect(t, srv.URI(), nil).Database("clock").Collection("c")
	cs, err := coll.Watch(ctx, mongo.Pipeline{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(ctx)
	type event struct {
		WallTime    time.Time      `bson:"wallTime"`
		ClusterTime bson.Timestamp `bson:"clusterTime"`
	}
	write := func(id int) event {
		t.Helper()
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
			t.Fatal(err)
		}
		if !cs.Next(ctx) {
			t.Fatalf("no event for insert %d: %v", id, cs.Err())
		}
		var ev event
		if err := cs.Decode(&ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	first := write(1)
	clk.advance(time.Hour)
	later := write(2)
	if d := later.WallTime.Sub(first.WallTime); d < time.Hour || d > time.Hour+time.Minute {
		t.Fatalf("wallTime moved %v after the clock moved an hour", d)
	}
	if d := later.ClusterTime.T - first.ClusterTime.T; d < 3600 || d > 3660 {
		t.Fatalf("cluster time moved %d s after the clock moved an hour", d)
	}
	clk.advance(-2 * time.Hour)
	back := write(3)
	if back.ClusterTime.T < later.ClusterTime.T || (back.ClusterTime.T == later.ClusterTime.T && back.ClusterTime.I <= later.ClusterTime.I) {
		t.Fatalf("cluster time went backwards with the clock: %v after %v", back.ClusterTime, later.ClusterTime)
	}
	clk.advance(time.Hour)

	// $currentDate takes the server's clock.
	clk.advance(24 * time.Hour)
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$currentDate", Value: bson.D{{Key: "at", Value: true}}}}); err != nil {
		t.Fatal(err)
	}
	var doc struct{ At time.Time }
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if d := doc.At.Sub(time.Now()); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("$currentDate = %v, %v from real time; want the clock's (a day ahead)", doc.At, d)
	}

	// A TTL index expires against the clock: a document stamped now goes
	// once the clock is past its expiry, without waiting for it.
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "exp", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(3600)}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "ttl"}, {Key: "exp", Value: clk.now()}}); err != nil {
		t.Fatal(err)
	}
	count := func() int64 {
		n, err := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: "ttl"}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count() != 1 {
		t.Fatal("the TTL document is gone before its expiry")
	}
	clk.advance(2 * time.Hour)
	testenv.Eventually(t, 10*time.Second, "the TTL monitor to delete the document the moved clock expired", func() bool { return count() == 0 })
}
