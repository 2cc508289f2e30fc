package embedded_test

import (
	"context"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/embedded/internal/wire"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Quiesce answers a monitor's waiting awaitable hello at once, ends its
// exhaust stream, answers later awaitable hellos within milliseconds, and
// keeps serving commands.
func TestQuiesceAnswersWaitingMonitors(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	r := dialRaw(t, srv.Addr())
	r.msg(0, bson.D{{Key: "hello", Value: 1}, {Key: "$db", Value: "admin"}})
	_, _, first := r.read()
	tv := first.Lookup("topologyVersion").Document()
	awaitable := bson.D{{Key: "hello", Value: 1}, {Key: "topologyVersion", Value: tv},
		{Key: "maxAwaitTimeMS", Value: int64(60000)}, {Key: "$db", Value: "admin"}}
	id := r.msg(wire.FlagExhaustAllowed, awaitable)
	client := testenv.Connect(t, srv.URI(), nil)
	if err := client.Ping(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	srv.Quiesce()
	// read waits up to 10 s: without Quiesce the answer comes after 60.
	h, flags, doc := r.read()
	if h.ResponseTo != id || doc.Lookup("ok").Double() != 1 {
		t.Fatalf("reply to %d: %v", h.ResponseTo, doc)
	}
	if flags&wire.FlagMoreToCome != 0 {
		t.Fatal("the reply keeps the exhaust stream going: the monitor would not get to check for its disconnect")
	}
	r.msg(wire.FlagExhaustAllowed, awaitable)
	if _, _, doc := r.read(); doc.Lookup("ok").Double() != 1 {
		t.Fatalf("awaitable hello after Quiesce: %v", doc)
	}
	if err := client.Database("q").Collection("c").FindOne(context.Background(), bson.D{}).Err(); err != nil && err != mongo.ErrNoDocuments {
		t.Fatalf("a command after Quiesce: %v", err)
	}
}

// Quiesce, Disconnect, Stop: the driver's Disconnect no longer waits out a
// heartbeat when its monitor misses the cancellation (a driver race that
// hit about one Disconnect in a hundred, for the whole 10 s heartbeat).
func TestQuiesceMakesDisconnectPrompt(t *testing.T) {
	const runs = 30
	var slowest time.Duration
	for i := 0; i < runs; i++ {
		srv, err := embedded.Start(context.Background(), embedded.Config{})
		if err != nil {
			t.Fatal(err)
		}
		client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
		if err != nil {
			t.Fatal(err)
		}
		if err := client.Ping(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		srv.Quiesce()
		if err := client.Disconnect(context.Background()); err != nil {
			t.Fatalf("run %d: Disconnect after Quiesce: %v", i, err)
		}
		if err := srv.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if took > 5*time.Second {
			t.Fatalf("run %d: Quiesce+Disconnect+Stop took %v: Disconnect waited out the monitor's heartbeat", i, took)
		}
		slowest = max(slowest, took)
	}
	t.Logf("slowest Quiesce+Disconnect+Stop of %d: %v", runs, slowest)
}
