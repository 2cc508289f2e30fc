package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	gosync "sync"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/sync"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Lines the tests and scripts wait for.
const (
	readyLine   = "ready: syncing"
	stoppedLine = "stopped cleanly"
)

// pingTimeout bounds the first round trip to a -local-uri/-remote-uri
// server, so that a wrong address fails with a message instead of hanging.
const pingTimeout = 10 * time.Second

// run syncs until ctx ends, then shuts down in reverse order of start-up:
// its own goroutines, the syncer (which saves its checkpoints), the clients,
// the embedded servers. It returns nil only after a clean shutdown.
func run(ctx context.Context, cfg config, out io.Writer) (err error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	// log.Logger serialises lines: the syncer calls back from many
	// goroutines.
	lg := log.New(out, "", log.Ltime|log.Lmicroseconds)

	// closers undo the start-up; they run on every return, with a context
	// of their own (ctx is typically cancelled by then).
	var closers []func(context.Context) error
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.StopTimeout)
		defer cancel()
		for i := len(closers) - 1; i >= 0; i-- {
			err = errors.Join(err, closers[i](stopCtx))
		}
		if err == nil && ctx.Err() != nil {
			lg.Println(stoppedLine)
		}
	}()

	open := func(side, uri, dbName string) (*mongo.Database, error) {
		if uri == "" {
			srv, err := embedded.Start(ctx, embedded.Config{})
			if err != nil {
				return nil, fmt.Errorf("start the embedded %s server: %w", side, err)
			}
			closers = append(closers, srv.Stop)
			uri = srv.URI()
			lg.Printf("%s: embedded server at %s", side, uri)
		}
		client, err := mongo.Connect(options.Client().ApplyURI(uri))
		if err != nil {
			return nil, fmt.Errorf("%s: connect %s: %w", side, uri, err)
		}
		closers = append(closers, client.Disconnect)
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		defer cancel()
		if err := client.Ping(pctx, nil); err != nil {
			return nil, fmt.Errorf("%s: connect %s: %w", side, uri, err)
		}
		return client.Database(dbName), nil
	}
	local, err := open("local", cfg.LocalURI, cfg.DB)
	if err != nil {
		return err
	}
	remote, err := open("remote", cfg.RemoteURI, cfg.RemoteDB)
	if err != nil {
		return err
	}
	if cfg.Demo {
		// Notes that exist on the remote before the first start: the
		// bootstrap copies them, in batches, with progress lines.
		if err := seedRemote(ctx, remote.Collection(cfg.Collections[0]), cfg.Seed, lg); err != nil {
			return err
		}
	}

	// The bootstrap copies documents through the same path as changes, so
	// OnSync fires for each: until a collection's copy is done, the
	// progress lines stand for its downloads.
	var bootMu gosync.Mutex
	bootstrapped := map[string]bool{}
	isBootstrapped := func(coll string) bool {
		bootMu.Lock()
		defer bootMu.Unlock()
		return bootstrapped[coll]
	}
	var s *sync.Syncer
	s, err = sync.New(sync.Config{
		Local:       local,
		Remote:      remote,
		Collections: cfg.Collections,
		Conflict:    cfg.Conflict,
		OnBootstrap: func(p sync.BootstrapProgress) {
			if p.Done {
				bootMu.Lock()
				bootstrapped[p.Collection] = true
				bootMu.Unlock()
				lg.Printf("bootstrap %s: done, %d documents copied from the remote", p.Collection, p.Copied)
			} else {
				lg.Printf("bootstrap %s: %d documents copied", p.Collection, p.Copied)
			}
		},
		OnSync: func(ev sync.SyncEvent) {
			if cfg.Quiet || ev.Direction == sync.Download && !isBootstrapped(ev.Collection) {
				return
			}
			what := "written"
			if ev.Deleted {
				what = "deleted"
			}
			arrow := "local -> remote"
			if ev.Direction == sync.Download {
				arrow = "remote -> local"
			}
			conflict := ""
			if ev.Conflict {
				// Under field-merge both sides get the merged document, one
				// line each way; otherwise OnConflict says what was kept.
				conflict = fmt.Sprintf(" (concurrent edits, resolved by %s)", cfg.Conflict)
			}
			lg.Printf("synced %s %s/%s %s%s", arrow, ev.Collection, formatID(ev.ID), what, conflict)
		},
		OnConflict: func(c sync.Conflict) {
			lg.Printf("conflict on %s/%s: both sides edited it, kept the %s edit (%s); see Syncer.Conflicts",
				c.Collection, formatID(c.DocumentID), c.Kept, c.Policy)
		},
		OnOnline:  func() { lg.Println("remote online") },
		OnOffline: func(err error) { lg.Printf("remote offline (local reads and writes go on; changes queue): %v", err) },
		OnError: func(err error) {
			// Stop cancels work in flight; that is not worth a line.
			if ctx.Err() != nil && errors.Is(err, context.Canceled) {
				return
			}
			lg.Printf("error (retrying): %v", err)
		},
	})
	if err != nil {
		return err
	}
	// Collections bootstrapped by an earlier run report no progress.
	done, err := s.Bootstrapped(ctx)
	if err != nil {
		return err
	}
	bootMu.Lock()
	for coll, ok := range done {
		bootstrapped[coll] = ok
	}
	bootMu.Unlock()
	if err := s.Start(ctx); err != nil {
		return err
	}
	closers = append(closers, s.Stop)
	lg.Printf("%s [%s] between local %s and remote %s, conflicts: %s (Ctrl-C to stop)",
		readyLine, strings.Join(cfg.Collections, ", "), local.Name(), remote.Name(), cfg.Conflict)
	if cfg.ready != nil {
		cfg.ready(local, remote)
	}

	var wg gosync.WaitGroup
	wg.Go(func() {
		start := time.Now()
		if err := s.WaitSynced(ctx); err == nil {
			lg.Printf("in sync: everything written before start-up is on both sides (%v)", time.Since(start).Round(time.Millisecond))
		}
	})
	wg.Go(func() { reportStatus(ctx, s, cfg.StatusEvery, lg) })
	if cfg.Demo {
		wg.Go(func() {
			demoWrites(ctx, local.Collection(cfg.Collections[0]), remote.Collection(cfg.Collections[0]), cfg.DemoEvery, lg)
		})
	}
	<-ctx.Done()
	lg.Printf("shutting down (%v)", context.Cause(ctx))
	wg.Wait()
	if st, err := s.Status(context.WithoutCancel(ctx)); err == nil {
		lg.Println("final " + statusLine(st))
	}
	// The exact count of what has not reached the remote, read from the
	// local database (Syncer.Pending scans the synced collections, too
	// slow to repeat every few seconds on large ones): it uploads on the
	// next start.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.StopTimeout)
	defer cancel()
	if p, err := s.Pending(pctx); err == nil {
		for _, coll := range cfg.Collections {
			lg.Printf("%s: %d local changes not on the remote yet", coll, p[coll])
		}
	}
	return nil
}

// reportStatus logs the syncer's status every period until ctx ends.
func reportStatus(ctx context.Context, s *sync.Syncer, every time.Duration, lg *log.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := s.Status(ctx)
		if err != nil {
			return
		}
		lg.Println(statusLine(st))
	}
}

// statusLine renders a Status on one line:
//
//	status: online, notes: bootstrapped, pending 0, up 3 down 2, lag up 2ms down 1ms
//
// Status is cheap (it reads the syncer's memory); its pending count is the
// local changes received and not uploaded yet.
func statusLine(st sync.Status) string {
	var b strings.Builder
	b.WriteString("status: ")
	if st.Online {
		b.WriteString("online")
	} else {
		b.WriteString("offline")
	}
	for _, c := range st.Collections {
		state := "bootstrapping"
		if c.Bootstrapped {
			state = "bootstrapped"
		}
		fmt.Fprintf(&b, ", %s: %s, pending %d, up %d down %d, lag up %v down %v",
			c.Name, state, c.Pending, c.Uploaded, c.Downloaded,
			c.UploadLag.Round(time.Millisecond), c.DownloadLag.Round(time.Millisecond))
	}
	return b.String()
}

// formatID prints an _id the way a user would look it up: an ObjectID as
// hex, a string as is, anything else as extended JSON.
func formatID(v bson.RawValue) string {
	if oid, ok := v.ObjectIDOK(); ok {
		return oid.Hex()
	}
	if s, ok := v.StringValueOK(); ok {
		return s
	}
	return v.String()
}
