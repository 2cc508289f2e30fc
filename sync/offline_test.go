package sync

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func fastBackoff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 20 * time.Millisecond
	b.MaxInterval = 200 * time.Millisecond
	b.MaxElapsedTime = 0
	return b
}

// restartable is a remote embedded server that a test stops and restarts on
// the same address and data directory, with a client that follows it.
type restartable struct {
	cfg     embedded.Config
	running *embedded.Server
	client  *mongo.Client
}

func startRestartable(t *testing.T, ctx context.Context) *restartable {
	t.Helper()
	testenv.SkipIfExternal(t, "stopping and restarting the remote server")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rs := &restartable{cfg: embedded.Config{Addr: addr, Dir: t.TempDir()}}
	rs.restart(t, ctx)
	t.Cleanup(func() {
		if rs.running != nil {
			_ = rs.running.Stop(context.Background())
		}
	})
	rs.client = testenv.Connect(t, rs.running.URI(), options.Client().SetServerSelectionTimeout(time.Second))
	return rs
}

func (rs *restartable) stop(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := rs.running.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	rs.running = nil
}

func (rs *restartable) restart(t *testing.T, ctx context.Context) {
	t.Helper()
	srv, err := embedded.Start(ctx, rs.cfg)
	if err != nil {
		t.Fatalf("start remote on %s: %v", rs.cfg.Addr, err)
	}
	rs.running = srv
}

// The offline tests themselves are in the conformance suite (synctest),
// which runs them over both transports.
