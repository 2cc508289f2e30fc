package embedded_test

import (
	"context"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestDisconnectDoesNotWaitOutAHeartbeat connects, uses and disconnects
// clients with the driver's default 10 s heartbeat. The driver's monitor
// misses Disconnect's stop signal when it comes between two checks and
// then waits in an awaitable hello for the whole heartbeat; before the
// server answered waiting hellos on a client's hang-up (wakeMonitors),
// about one Disconnect in twenty took 10 s here, so 200 rounds all but
// always met it.
func TestDisconnectDoesNotWaitOutAHeartbeat(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	ctx := context.Background()
	for i := range 200 {
		c, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Database("d").Collection("c").InsertOne(ctx, bson.D{{Key: "i", Value: i}}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := c.Disconnect(ctx); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("round %d: Disconnect took %v (a heartbeat is 10 s)", i, d)
		}
	}
}

// awaitableHello sends a plain hello on r, then an awaitable one waiting
// await, and returns when the latter was sent.
func awaitableHello(r *rawConn, await time.Duration) time.Time {
	r.msg(0, bson.D{{Key: "hello", Value: 1}, {Key: "$db", Value: "admin"}})
	_, _, first := r.read()
	tv := first.Lookup("topologyVersion").Document()
	sent := time.Now()
	r.msg(0, bson.D{{Key: "hello", Value: 1}, {Key: "topologyVersion", Value: tv},
		{Key: "maxAwaitTimeMS", Value: await.Milliseconds()}, {Key: "$db", Value: "admin"}})
	return sent
}

// TestClientHangUpAnswersWaitingHellos: when a client closes an application
// connection, waiting awaitable hellos answer at once (the monitor of a
// disconnecting client then sees it must stop), and so does an awaitable
// hello that was on its way (the hang-up came after the connection's
// previous hello). A monitor connection's own hang-up wakes nobody.
func TestClientHangUpAnswersWaitingHellos(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	admin := dialRaw(t, srv.Addr())
	connections := func() int32 {
		admin.msg(0, bson.D{{Key: "serverStatus", Value: 1}, {Key: "$db", Value: "admin"}})
		_, _, res := admin.read()
		return res.Lookup("connections", "current").Int32()
	}
	base := connections()
	appConn := func() *rawConn {
		app := dialRaw(t, srv.Addr())
		app.msg(0, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
		app.read()
		return app
	}
	answeredAtOnce := func(mon *rawConn, sent time.Time) {
		t.Helper()
		_, _, doc := mon.read()
		if el := time.Since(sent); el > 5*time.Second || doc.Lookup("ok").Double() != 1 {
			t.Fatalf("awaitable hello answered after %v with %v; want at once, ok", el, doc)
		}
	}

	t.Run("hang-up while the hello waits", func(t *testing.T) {
		mon, app := dialRaw(t, srv.Addr()), appConn()
		sent := awaitableHello(mon, time.Minute)
		_ = app.nc.Close()
		answeredAtOnce(mon, sent)
		_ = mon.nc.Close()
	})
	testenv.Eventually(t, 15*time.Second, "the connections of the subtest to close", func() bool { return connections() == base })

	t.Run("hang-up while the hello is on its way", func(t *testing.T) {
		mon, app := dialRaw(t, srv.Addr()), appConn()
		mon.msg(0, bson.D{{Key: "hello", Value: 1}, {Key: "$db", Value: "admin"}})
		_, _, first := mon.read()
		_ = app.nc.Close()
		testenv.Eventually(t, 15*time.Second, "the server to see the hang-up", func() bool { return connections() == base+1 })
		sent := time.Now()
		mon.msg(0, bson.D{{Key: "hello", Value: 1}, {Key: "topologyVersion", Value: first.Lookup("topologyVersion").Document()},
			{Key: "maxAwaitTimeMS", Value: int64(60000)}, {Key: "$db", Value: "admin"}})
		answeredAtOnce(mon, sent)
		_ = mon.nc.Close()
	})
	testenv.Eventually(t, 15*time.Second, "the connections of the subtest to close", func() bool { return connections() == base })

	t.Run("a monitor's hang-up wakes nobody", func(t *testing.T) {
		const await = 300 * time.Millisecond
		mon, other := dialRaw(t, srv.Addr()), dialRaw(t, srv.Addr())
		awaitableHello(other, await)
		sent := awaitableHello(mon, await)
		_ = other.nc.Close() // it served an awaitable hello: a monitor's connection
		_, _, doc := mon.read()
		if el := time.Since(sent); el < await*8/10 || doc.Lookup("ok").Double() != 1 {
			t.Fatalf("awaitable hello answered after %v (%v) with %v; a monitor's hang-up must not wake others", el, await, doc)
		}
	})
}
