package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mongotide/mongotide/sync"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// config is the worker's command line. Zero durations take the defaults
// documented on the flags (see withDefaults).
type config struct {
	// LocalURI and RemoteURI name the two servers; an empty one is replaced
	// by an embedded server the worker starts and stops itself.
	LocalURI, RemoteURI string
	// DB is the local database; RemoteDB the remote one (default: DB).
	DB, RemoteDB string
	Collections  []string
	// Conflict decides concurrent edits of one document.
	Conflict sync.ConflictPolicy
	// StatusEvery is the period of the status line.
	StatusEvery time.Duration
	// Demo writes notes on both sides every DemoEvery.
	Demo      bool
	DemoEvery time.Duration
	// Seed is the number of notes the demo writes on an empty remote
	// before starting, for the bootstrap to copy (0: none).
	Seed int
	// StopTimeout bounds the clean shutdown after a signal.
	StopTimeout time.Duration
	// Quiet drops the line per synced document (the status keeps counting).
	Quiet bool

	// ready, if set, is called once syncing runs, with both databases (for
	// tests).
	ready func(local, remote *mongo.Database)
}

const (
	defaultDB          = "worker"
	defaultCollection  = "notes"
	defaultStatusEvery = 5 * time.Second
	defaultDemoEvery   = time.Second
	defaultSeed        = 2000
	defaultStopTimeout = 10 * time.Second
)

func (c config) withDefaults() config {
	if c.DB == "" {
		c.DB = defaultDB
	}
	if c.RemoteDB == "" {
		c.RemoteDB = c.DB
	}
	if len(c.Collections) == 0 {
		c.Collections = []string{defaultCollection}
	}
	if c.StatusEvery == 0 {
		c.StatusEvery = defaultStatusEvery
	}
	if c.DemoEvery == 0 {
		c.DemoEvery = defaultDemoEvery
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = defaultStopTimeout
	}
	return c
}

func (c config) validate() error {
	var errs []error
	if c.LocalURI != "" && c.LocalURI == c.RemoteURI && c.DB == c.RemoteDB {
		errs = append(errs, fmt.Errorf("local and remote are the same database %q on %s: give -remote-db another name or use another -remote-uri", c.DB, c.LocalURI))
	}
	if c.Seed < 0 {
		errs = append(errs, fmt.Errorf("-seed must not be negative, got %d", c.Seed))
	}
	for name, d := range map[string]time.Duration{"-status-every": c.StatusEvery, "-demo-every": c.DemoEvery, "-stop-timeout": c.StopTimeout} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	return errors.Join(errs...)
}

// parseFlags reads the command line; the environment supplies the URIs'
// defaults. Demo writes are on by default only when both servers are
// embedded: on real ones the worker writes nothing of its own.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("sync-worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: sync-worker [flags]

Keeps a local and a remote MongoDB database in step with mongotide's sync
package and logs what it does, until SIGINT (Ctrl-C) or SIGTERM. Without
-local-uri/-remote-uri it starts two embedded servers and writes demo notes on
both. Exit codes: 0 after a clean shutdown, 1 on failure, 2 for a bad command line.

Flags:
`)
		fs.PrintDefaults()
	}
	var colls, conflict string
	fs.StringVar(&c.LocalURI, "local-uri", os.Getenv("MONGODB_LOCAL_URI"), "local MongoDB replica set URI; $MONGODB_LOCAL_URI (default: an embedded server)")
	fs.StringVar(&c.RemoteURI, "remote-uri", os.Getenv("MONGODB_REMOTE_URI"), "remote MongoDB replica set URI, e.g. Atlas; $MONGODB_REMOTE_URI (default: an embedded server)")
	fs.StringVar(&c.DB, "db", defaultDB, "local database")
	fs.StringVar(&c.RemoteDB, "remote-db", "", "remote database (default: -db)")
	fs.StringVar(&colls, "collections", defaultCollection, "collections to sync, comma separated")
	fs.StringVar(&conflict, "conflict", sync.LastWriterWins.String(), "conflict policy: "+policyNames())
	fs.DurationVar(&c.StatusEvery, "status-every", defaultStatusEvery, "period of the status line")
	fs.BoolVar(&c.Demo, "demo", false, "write demo notes on both sides (default: true when both servers are embedded)")
	fs.DurationVar(&c.DemoEvery, "demo-every", defaultDemoEvery, "pace of the demo writes")
	fs.IntVar(&c.Seed, "seed", defaultSeed, "with -demo, notes written on an empty remote before starting, for the bootstrap to copy")
	fs.DurationVar(&c.StopTimeout, "stop-timeout", defaultStopTimeout, "how long a clean shutdown may take")
	fs.BoolVar(&c.Quiet, "quiet", false, "no line per synced document, only the status")
	if err := fs.Parse(args); err != nil {
		return config{}, printedError{err}
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q (all settings are flags; see -h)", fs.Arg(0))
	}
	demoSet := false
	fs.Visit(func(f *flag.Flag) { demoSet = demoSet || f.Name == "demo" })
	if !demoSet {
		c.Demo = c.LocalURI == "" && c.RemoteURI == ""
	}
	for _, name := range strings.Split(colls, ",") {
		if name = strings.TrimSpace(name); name != "" {
			c.Collections = append(c.Collections, name)
		}
	}
	if len(c.Collections) == 0 {
		return config{}, fmt.Errorf("-collections names no collection")
	}
	var ok bool
	if c.Conflict, ok = parsePolicy(conflict); !ok {
		return config{}, fmt.Errorf("-conflict %q is not one of %s", conflict, policyNames())
	}
	c = c.withDefaults()
	return c, c.validate()
}

// printedError is a command-line error the flag package already printed,
// with the usage.
type printedError struct{ error }

func (e printedError) Unwrap() error { return e.error }

// policies are the conflict policies a command line can name (Custom needs
// code).
var policies = []sync.ConflictPolicy{sync.LastWriterWins, sync.FieldMerge, sync.RemoteWins, sync.LocalWins}

func policyNames() string {
	names := make([]string, len(policies))
	for i, p := range policies {
		names[i] = p.String()
	}
	return strings.Join(names, ", ")
}

func parsePolicy(name string) (sync.ConflictPolicy, bool) {
	for _, p := range policies {
		if p.String() == name {
			return p, true
		}
	}
	return 0, false
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		if !errors.As(err, new(printedError)) {
			fmt.Fprintln(os.Stderr, "sync-worker:", err)
		}
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal the default handling returns: a second Ctrl-C
	// kills a shutdown that hangs.
	context.AfterFunc(ctx, stop)
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sync-worker:", err)
		os.Exit(1)
	}
}
