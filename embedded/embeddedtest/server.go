package embeddedtest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/mongotide/mongotide/embedded"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestServer is an embedded server of one test's own (see Server). Its
// methods are safe for concurrent use.
type TestServer struct {
	tb  testing.TB
	cfg embedded.Config

	mu      sync.Mutex
	srv     *embedded.Server
	clients []*mongo.Client
}

// Server starts an embedded server for tb alone, configured by cfg
// (EnableTestCommands is turned on), and stops it when tb ends: first
// quiescing it, then disconnecting the clients made by its Client method,
// then stopping it, so none of them waits out a heartbeat. Always embedded,
// even when MONGODB_TEST_URI is set: it is for what only a server of the
// test's own allows (a data directory, restarts, server options,
// failpoints that touch no other test).
func Server(tb testing.TB, cfg embedded.Config) *TestServer {
	tb.Helper()
	cfg.EnableTestCommands = true
	s := &TestServer{tb: tb, cfg: cfg}
	s.srv = s.startServer(cfg)
	tb.Cleanup(s.stop)
	return s
}

func (s *TestServer) startServer(cfg embedded.Config) *embedded.Server {
	s.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	srv, err := embedded.Start(ctx, cfg)
	if err != nil {
		s.tb.Fatalf("embeddedtest: start embedded server: %v", err)
	}
	return srv
}

// Embedded returns the running server (a new one after Restart).
func (s *TestServer) Embedded() *embedded.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// URI returns the server's connection string; it stays the same across
// Restart.
func (s *TestServer) URI() string { return s.Embedded().URI() }

// Client returns a new client of the server made from opts (nil: the
// driver's defaults with HeartbeatInterval; the URI is applied on top),
// disconnected when the test ends. Clients reconnect by themselves after a
// Restart.
func (s *TestServer) Client(opts *options.ClientOptions) *mongo.Client {
	s.tb.Helper()
	client, err := connect(Config{}.WithDefaults(), s.URI(), opts)
	if err != nil {
		s.tb.Fatal(err)
	}
	s.mu.Lock()
	s.clients = append(s.clients, client)
	s.mu.Unlock()
	return client
}

// FailPoint configures a failpoint on this server (through a client of its
// own) and turns it off when the test ends, if the server still runs.
func (s *TestServer) FailPoint(cmd bson.D) {
	s.tb.Helper()
	failPoint(s.tb, s.Client(nil), cmd)
}

// Restart stops the server as a clean shutdown and starts it again on the
// same address and configuration: with a Config.Dir, on the same data.
// Connected clients see their connections close and reconnect.
func (s *TestServer) Restart() {
	s.tb.Helper()
	s.mu.Lock()
	old := s.srv
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := old.Stop(ctx); err != nil {
		s.tb.Fatalf("embeddedtest: restart: stop: %v", err)
	}
	cfg := s.cfg
	cfg.Addr = old.Addr()
	srv := s.startServer(cfg)
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
}

// stop quiesces the server, disconnects its clients, then stops it.
func (s *TestServer) stop() {
	s.mu.Lock()
	srv, clients := s.srv, s.clients
	s.clients = nil
	s.mu.Unlock()
	srv.Quiesce()
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	dctx := ctx
	select {
	case <-srv.Done():
		// The test stopped the server itself: Disconnect's endSessions
		// would wait for a server that is not coming back.
		var cancel context.CancelFunc
		dctx, cancel = context.WithCancel(ctx)
		cancel()
	default:
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.Disconnect(dctx)
			if err != nil && !errors.Is(err, mongo.ErrClientDisconnected) && dctx.Err() == nil {
				s.tb.Errorf("embeddedtest: disconnect: %v", err)
			}
		}()
	}
	wg.Wait()
	if err := srv.Stop(ctx); err != nil {
		s.tb.Errorf("embeddedtest: stop embedded server: %v", err)
	}
}
