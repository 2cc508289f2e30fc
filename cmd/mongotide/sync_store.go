package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mongotide/mongotide/embedded"
	mtsync "github.com/mongotide/mongotide/sync"
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
)

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
