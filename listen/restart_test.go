package listen_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The server stops and starts again on the same data directory while a
// listener runs: the listener reconnects and resumes without loss or
// duplicates.
func TestServerRestartOnSameDir(t *testing.T) {
	testenv.SkipIfExternal(t, "stopping and restarting the server")
	dir := t.TempDir()
	ctx := context.Background()
	// Reserve a port so the restarted server has the same address.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := embedded.Config{Addr: addr, Dir: dir}
	srv, err := embedded.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	running := srv
	t.Cleanup(func() { _ = running.Stop(context.Background()) })

	opts := options.Client().SetServerSelectionTimeout(2 * time.Second)
	lc := testenv.Connect(t, srv.URI(), opts)
	coll := newColl(t, lc)
	var r recorder
	mustListen(t, coll, r.handle, listen.WithReconnectBackoff(fastReconnect), listen.WithOnError(r.onError))
	insertN(t, coll, 0, 5)
	r.waitN(t, 5)

	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := srv.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	// Keep the server down until the driver's own single resume has failed
	// and the engine's reconnect loop is in charge.
	testenv.Eventually(t, waitTimeout, "a reported reconnect", func() bool { return len(r.errors()) > 0 })
	srv2, err := embedded.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	running = srv2

	writer := testenv.Connect(t, srv2.URI(), nil)
	wcoll := writer.Database(coll.Database().Name()).Collection(coll.Name())
	insertN(t, wcoll, 5, 10)
	testenv.Eventually(t, waitTimeout, "events after the restart", func() bool { g := ns(r.events()); return g[len(g)-1] == 9 })
	checkSequence(t, ns(r.events()), 10)
}
