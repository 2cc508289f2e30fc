package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/mongotide/mongotide/internal/mql"
	"github.com/mongotide/mongotide/listen"
	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// listenResumeKey is the store key of the CLI's listener; a resume file holds
// one listener's position, so the key only satisfies resume.Store.
const listenResumeKey = "mongotide-listen"

var knownOps = []listen.OperationType{
	listen.Insert, listen.Update, listen.Replace, listen.Delete,
	listen.Drop, listen.Rename, listen.DropDatabase, listen.Invalidate,
}

type listenFlags struct {
	uri, db, coll string
	filter        string
	ops           []string
	resumeFile    string
	pretty        bool
}

func newListenCmd(stdout, stderr io.Writer) *cobra.Command {
	var f listenFlags
	cmd := &cobra.Command{
		Use:   "listen --db DB --coll COLL",
		Short: "Tail a collection's changes as JSON lines",
		Long: `Prints every change event of a collection on stdout, one relaxed extended JSON
document per line (--pretty indents them), until Ctrl-C.

Without --uri it starts the embedded server and prints its URI on stderr, so that another
command (mongosh, a program, 'mongotide demo --uri ...') can write to it.

--filter is a query on the changed document's fields, e.g. '{"genre": "sci-fi"}', evaluated
against fullDocument (updates are looked up), else the pre-image, else documentKey.
--ops keeps only the listed operation types: insert, update, replace, delete, drop,
rename, dropDatabase, invalidate. After a drop or rename the tail prints the invalidate event
and keeps following the collection name.

--resume-file F makes the tail resumable: F holds the resume token of the last printed
event (raw BSON, written atomically, saved every 100 events or every second and on exit).
Started again with the same F, listen continues after that event; nothing committed in
between is lost (events may repeat after a crash: delivery is at-least-once). Delete F to
start from now. One file per listener.

Exit codes: 0 after Ctrl-C, 1 when the stream fails, 2 for a bad command line.`,
		Example: `  mongotide listen --db mongotide_demo --coll books
      # prints "embedded server at mongodb://..." on stderr; in another terminal:
      # mongotide demo --uri 'mongodb://...'   (writes to mongotide_demo.books)
  mongotide listen --uri 'mongodb://localhost:27017/?replicaSet=rs0' --db shop --coll books \
      --filter '{"genre":"sci-fi"}' --ops insert,update --resume-file books.token`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := f.options()
			if err != nil {
				return usageError{err}
			}
			return runListen(cmd.Context(), f, opts, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.uri, "uri", "", "MongoDB replica set URI (default: start the embedded server)")
	fl.StringVar(&f.db, "db", "", "database name (required)")
	fl.StringVar(&f.coll, "coll", "", "collection name (required)")
	fl.StringVar(&f.filter, "filter", "", "query on document fields, as (extended) JSON")
	fl.StringSliceVar(&f.ops, "ops", nil, "operation types to print, comma separated (default: all)")
	fl.StringVar(&f.resumeFile, "resume-file", "", "file keeping the position, to resume after a restart")
	fl.BoolVar(&f.pretty, "pretty", false, "indent each event")
	return cmd
}

// options validates the flags and turns them into listener options.
func (f listenFlags) options() ([]listen.Option, error) {
	if f.db == "" {
		return nil, fmt.Errorf("--db is required")
	}
	if f.coll == "" {
		return nil, fmt.Errorf("--coll is required")
	}
	var opts []listen.Option
	if f.filter != "" {
		var filter bson.D
		if err := bson.UnmarshalExtJSON([]byte(f.filter), false, &filter); err != nil {
			return nil, fmt.Errorf("invalid --filter %q: not a JSON object: %v", f.filter, err)
		}
		// Checked here so that an unknown operator is a command-line
		// mistake (exit 2), not a failure of the stream.
		if _, err := mql.NewMatcher(filter); err != nil {
			return nil, fmt.Errorf("invalid --filter %s: %v", f.filter, err)
		}
		opts = append(opts, listen.WithFilter(filter))
	}
	if len(f.ops) > 0 {
		var types []listen.OperationType
		for _, s := range f.ops {
			op, ok := parseOp(strings.TrimSpace(s))
			if !ok {
				names := make([]string, len(knownOps))
				for i, k := range knownOps {
					names[i] = string(k)
				}
				return nil, fmt.Errorf("invalid --ops: unknown operation type %q (known: %s)", s, strings.Join(names, ", "))
			}
			types = append(types, op)
		}
		opts = append(opts, listen.WithOperationTypes(types...))
	}
	if f.resumeFile != "" {
		// Checked up front: otherwise the first checkpoint would fail only
		// after events were already printed.
		if st, err := os.Stat(filepath.Dir(f.resumeFile)); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("invalid --resume-file %s: directory %s does not exist", f.resumeFile, filepath.Dir(f.resumeFile))
		}
		if st, err := os.Stat(f.resumeFile); err == nil && st.IsDir() {
			return nil, fmt.Errorf("invalid --resume-file %s: it is a directory", f.resumeFile)
		}
		opts = append(opts, listen.WithResumeStore(tokenFile{path: f.resumeFile}, listenResumeKey))
	}
	return opts, nil
}

func parseOp(s string) (listen.OperationType, bool) {
	for _, k := range knownOps {
		if strings.EqualFold(s, string(k)) {
			return k, true
		}
	}
	return "", false
}

func runListen(ctx context.Context, f listenFlags, opts []listen.Option, stdout, stderr io.Writer) error {
	client, cleanup, err := connect(ctx, f.uri, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	coll := client.Database(f.db).Collection(f.coll)

	var mu sync.Mutex // serialises stdout and stderr lines
	var line bytes.Buffer
	handler := func(_ context.Context, _ string, ev *listen.ChangeEvent[bson.Raw]) error {
		js, err := bson.MarshalExtJSON(ev.Raw, false, false)
		if err != nil {
			return fmt.Errorf("render event as JSON: %w", err)
		}
		mu.Lock()
		defer mu.Unlock()
		line.Reset()
		if f.pretty {
			if err := json.Indent(&line, js, "", "  "); err != nil {
				return fmt.Errorf("indent event JSON: %w", err)
			}
		} else {
			line.Write(js)
		}
		line.WriteByte('\n')
		// A failed write (closed pipe) fails the handler, so the event is
		// not checkpointed as printed.
		_, err = stdout.Write(line.Bytes())
		return err
	}
	// A tail follows the collection name: after a drop or rename it prints
	// the invalidate event and keeps listening for the recreated collection.
	opts = append(opts, listen.WithInvalidatePolicy(listen.InvalidateContinue), listen.WithOnError(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(stderr, "mongotide: listen:", err)
	}))
	// The subscription outlives ctx so that Ctrl-C ends it through
	// Unsubscribe, which saves the final checkpoint.
	sub, err := listen.Listen[bson.Raw](context.WithoutCancel(ctx), coll, handler, opts...)
	if err != nil {
		return fmt.Errorf("listen on %s.%s: %w", f.db, f.coll, err)
	}
	select {
	case <-ctx.Done():
		if err := sub.Unsubscribe(); err != nil {
			return fmt.Errorf("save resume position: %w", err)
		}
		return nil
	case <-sub.Done():
		return fmt.Errorf("listen on %s.%s stopped: %w", f.db, f.coll, sub.Err())
	}
}
