package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mongotide/mongotide/embedded"
	mtsync "github.com/mongotide/mongotide/sync"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Shutdown bounds after Ctrl-C. The syncer's own wait for in-flight work
// has no bound when a server is gone: each direction's final checkpoint
// save (listen allows it 10 s) and cursor close (5 s) wait for server
// selection, and Disconnect waited 5 s per client. That is where the 5-15 s
// exits came from when the local server stopped with the same Ctrl-C.
// Work cut short here is not lost: the checkpoints on disk are older, so
// the next run handles those changes again (handling is idempotent).
const (
	stopGrace       = 2 * time.Second
	disconnectGrace = 500 * time.Millisecond
	// storeStopGrace bounds the --local-dir server's stop (its journal's
	// last fsync). Giving up loses nothing acknowledged: every commit is
	// in the journal file already, and a process exit keeps what was
	// written (recovery replays it, as after kill -9).
	storeStopGrace = 5 * time.Second
)

// disconnectAll disconnects the clients at once and returns when they are
// done or after disconnectGrace, whichever comes first. The bound is ours:
// Disconnect stops waiting for its connections at its deadline, but it
// then waits for each server monitor without one, and a monitor that
// missed its stop signal (the driver's stop is a non-blocking send that a
// monitor between two checks does not see) sits in an awaitable hello for
// up to a heartbeat interval (10 s). The process is ending, so nothing is
// lost by not waiting for it.
func disconnectAll(ctx context.Context, clients ...*mongo.Client) {
	dctx, cancel := context.WithTimeout(ctx, disconnectGrace)
	defer cancel()
	done := make(chan struct{}, len(clients))
	for _, c := range clients {
		go func() { _ = c.Disconnect(dctx); done <- struct{}{} }()
	}
	for range clients {
		select {
		case <-done:
		case <-dctx.Done():
			return
		}
	}
}

// stopSyncer stops s after ctx ended (Ctrl-C), giving in-flight work
// stopGrace to finish.
func stopSyncer(ctx context.Context, s *mtsync.Syncer, stderr io.Writer) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopGrace)
	defer cancel()
	err := s.Stop(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(stderr, "sync: in-flight work still running after %s; exiting (the next run resumes from the last checkpoint)\n", stopGrace)
		return nil
	}
	return err
}

// startLocalStore starts the embedded local database persisted in dir,
// points f.local at it and prints its URI.
func startLocalStore(ctx context.Context, f *syncFlags, dir, addr string, stdout io.Writer) (*embedded.Server, error) {
	if f.local != "" {
		return nil, usageError{errors.New("sync: --local and --local-dir exclude each other")}
	}
	srv, err := embedded.Start(ctx, embedded.Config{Dir: dir, Addr: addr})
	if err != nil {
		return nil, fmt.Errorf("sync: local store in %s: %w", dir, err)
	}
	f.local = srv.URI()
	fmt.Fprintf(stdout, "local: %s\n", f.local)
	return srv, nil
}
