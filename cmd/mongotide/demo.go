package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/mongotide/mongotide/internal/ctxwait"
	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/model"
	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Book is the demo's document type: listeners receive it decoded.
type Book struct {
	ID     string `bson:"_id"`
	Title  string `bson:"title"`
	Author string `bson:"author"`
	Year   int    `bson:"year"`
	Genre  string `bson:"genre"`
	Copies int    `bson:"copies"`
}

func (b Book) String() string {
	copies := "copies"
	if b.Copies == 1 {
		copies = "copy"
	}
	return fmt.Sprintf("%q by %s (%d, %s, %d %s)", b.Title, b.Author, b.Year, b.Genre, b.Copies, copies)
}

// demoListener names one of the demo's subscriptions; its printed events
// carry the name so the output shows which listener saw what.
type demoListener int

const (
	lnInserts demoListener = iota
	lnUpdates
	lnDeletes
	lnSciFi
	numListeners
)

var demoListenerNames = [numListeners]string{"inserts", "updates", "deletes", "sci-fi changes"}

// demoStep is one scripted write and the listeners that must report it.
type demoStep struct {
	desc   string
	write  func(ctx context.Context, books *model.Model[Book]) error
	seenBy []demoListener
}

func demoScript() []demoStep {
	create := func(b Book) func(context.Context, *model.Model[Book]) error {
		return func(ctx context.Context, m *model.Model[Book]) error { _, err := m.Create(ctx, b); return err }
	}
	update := func(id string, u bson.D) func(context.Context, *model.Model[Book]) error {
		return func(ctx context.Context, m *model.Model[Book]) error { return m.Update(ctx, id, u) }
	}
	return []demoStep{
		{"insert dune", create(Book{"dune", "Dune", "Frank Herbert", 1965, "sci-fi", 3}), []demoListener{lnInserts, lnSciFi}},
		{"insert emma", create(Book{"emma", "Emma", "Jane Austen", 1815, "classic", 1}), []demoListener{lnInserts}},
		{"insert neuromancer", create(Book{"neuromancer", "Neuromancer", "William Gibson", 1984, "sci-fi", 2}), []demoListener{lnInserts, lnSciFi}},
		{"update dune: copies -1", update("dune", bson.D{{Key: "$inc", Value: bson.D{{Key: "copies", Value: -1}}}}), []demoListener{lnUpdates, lnSciFi}},
		{"update emma: copies = 4", update("emma", bson.D{{Key: "$set", Value: bson.D{{Key: "copies", Value: 4}}}}), []demoListener{lnUpdates}},
		{"delete emma", func(ctx context.Context, m *model.Model[Book]) error { return m.Delete(ctx, "emma") }, []demoListener{lnDeletes}},
	}
}

// demoStepTimeout bounds how long the demo waits for the events of one write
// before it reports the listeners that stayed silent.
const demoStepTimeout = 15 * time.Second

func newDemoCmd(stdout, stderr io.Writer) *cobra.Command {
	var uri string
	var pace time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a live demo: typed listeners printing the events of scripted writes",
		Long: `Starts the embedded server (or uses --uri), registers four typed listeners on a
"books" collection through model.Model[Book] — ListenForInserts, ListenForUpdates,
ListenForDeletes and ListenForChanges filtered on {genre: "sci-fi"} — then inserts,
updates and deletes books, printing each event as its listener receives it.
It exits 0 once every scripted write was seen by the listeners it concerns, or on Ctrl-C.
With --uri it uses the collection mongotide_demo.books and empties it first.`,
		Example: "  mongotide demo\n  mongotide demo --pace 1s",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pace < 0 {
				return usageError{fmt.Errorf("--pace must not be negative, got %s", pace)}
			}
			return runDemo(cmd.Context(), uri, pace, stdout, stderr)
		},
	}
	cmd.Flags().StringVar(&uri, "uri", "", "MongoDB replica set URI (default: start the embedded server)")
	cmd.Flags().DurationVar(&pace, "pace", 300*time.Millisecond, "pause between scripted writes")
	return cmd
}

func runDemo(ctx context.Context, uri string, pace time.Duration, stdout, stderr io.Writer) error {
	client, cleanup, err := connect(ctx, uri, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	coll := client.Database("mongotide_demo").Collection("books")
	// Emptied rather than dropped: a drop would invalidate the change
	// streams of anyone tailing the collection (mongotide listen).
	if _, err := coll.DeleteMany(ctx, bson.D{}); err != nil {
		return fmt.Errorf("empty the demo collection: %w", err)
	}
	books := model.New[Book](coll)

	// Handlers only hand their line to the printer: events of one write
	// reach different listeners in any order, and the printer puts them in
	// the script's order so that the output is the same on every run.
	lines := [numListeners]chan string{}
	for i := range lines {
		lines[i] = make(chan string, 16)
	}
	failed := make(chan error, 1)
	onErr := listen.WithOnError(func(err error) {
		select {
		case failed <- err:
		default:
		}
	})
	// Listeners outlive cancellation of ctx until they are unsubscribed, so
	// that Ctrl-C stops them through Unsubscribe, not mid-event.
	lctx := context.WithoutCancel(ctx)
	var subs []*listen.Subscription
	// quit releases handlers blocked on a full line channel (only possible
	// with events the script did not cause), so that Unsubscribe, which
	// waits for running handlers, cannot hang.
	quit := make(chan struct{})
	emit := func(l demoListener, line string) {
		select {
		case lines[l] <- line:
		case <-quit:
		}
	}
	defer func() {
		close(quit)
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}()
	add := func(s *listen.Subscription, err error) error {
		if err != nil {
			return fmt.Errorf("start listener: %w", err)
		}
		subs = append(subs, s)
		return nil
	}
	if err := add(books.ListenForInserts(lctx, func(_ context.Context, id string, b Book) error {
		emit(lnInserts, fmt.Sprintf("inserted %s: %s", id, b))
		return nil
	}, onErr)); err != nil {
		return err
	}
	if err := add(books.ListenForUpdates(lctx, func(_ context.Context, id string, ev *listen.ChangeEvent[Book]) error {
		emit(lnUpdates, fmt.Sprintf("%s %s: set %s -> %s", ev.OperationType, id, updatedFields(ev), docString(ev.FullDocument)))
		return nil
	}, onErr)); err != nil {
		return err
	}
	if err := add(books.ListenForDeletes(lctx, func(_ context.Context, id string) error {
		emit(lnDeletes, fmt.Sprintf("deleted %s", id))
		return nil
	}, onErr)); err != nil {
		return err
	}
	if err := add(books.ListenForChanges(lctx, func(_ context.Context, id string, ev *listen.ChangeEvent[Book]) error {
		emit(lnSciFi, fmt.Sprintf("%s %s: %s", ev.OperationType, id, docString(ev.FullDocument)))
		return nil
	}, listen.WithFilter(bson.D{{Key: "genre", Value: "sci-fi"}}), onErr)); err != nil {
		return err
	}
	fmt.Fprintln(stdout, `listening on mongotide_demo.books: inserts, updates, deletes, sci-fi changes (filter {"genre":"sci-fi"})`)

	for _, step := range demoScript() {
		if err := ctxwait.Sleep(ctx, pace); err != nil {
			return nil // Ctrl-C ends the demo normally
		}
		fmt.Fprintf(stdout, "> %s\n", step.desc)
		if err := step.write(ctx, books); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%s: %w", step.desc, err)
		}
		timeout := time.NewTimer(demoStepTimeout)
		for _, l := range step.seenBy {
			select {
			case line := <-lines[l]:
				fmt.Fprintf(stdout, "  [%s] %s\n", demoListenerNames[l], line)
			case err := <-failed:
				timeout.Stop()
				return fmt.Errorf("listener error: %w", err)
			case <-timeout.C:
				return fmt.Errorf("%s: the %s listener saw no event within %s", step.desc, demoListenerNames[l], demoStepTimeout)
			case <-ctx.Done():
				timeout.Stop()
				return nil
			}
		}
		timeout.Stop()
	}
	// A listener that reported an event it should not have would leave a
	// line behind; the demo doubles as a check of the filters.
	for l, ch := range lines {
		select {
		case line := <-ch:
			return fmt.Errorf("unexpected event for the %s listener: %s", demoListenerNames[l], line)
		default:
		}
	}
	fmt.Fprintln(stdout, "all scripted writes seen")
	return nil
}

func updatedFields(ev *listen.ChangeEvent[Book]) string {
	if ev.UpdateDescription == nil || ev.UpdateDescription.UpdatedFields == nil {
		return "{}"
	}
	js, err := bson.MarshalExtJSON(ev.UpdateDescription.UpdatedFields, false, false)
	if err != nil {
		return "?"
	}
	return string(js)
}

func docString(b *Book) string {
	if b == nil {
		return "(no document)"
	}
	return b.String()
}

// connectTimeout bounds the first round trip to a --uri server, so a wrong
// address fails with a message instead of hanging.
const connectTimeout = 10 * time.Second

// connect returns a client for uri, or for a fresh embedded server (its URI
// printed on stderr) when uri is empty. cleanup disconnects and stops it.
func connect(ctx context.Context, uri string, stderr io.Writer) (*mongo.Client, func(), error) {
	stopServer := func() {}
	if uri == "" {
		srv, err := startEmbeddedDefault(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("start embedded server: %w", err)
		}
		uri = srv.URI()
		fmt.Fprintf(stderr, "mongotide: embedded server at %s\n", uri)
		stopServer = func() { _ = srv.Stop(context.WithoutCancel(ctx)) }
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		stopServer()
		return nil, nil, fmt.Errorf("connect %s: %w", uri, err)
	}
	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := client.Ping(pctx, nil); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		stopServer()
		if ctx.Err() == nil && pctx.Err() != nil {
			// The driver's server selection error is long; say first what
			// it means.
			return nil, nil, fmt.Errorf("no answer from %s within %s (is the server running, and is it a replica set?): %w", uri, connectTimeout, err)
		}
		return nil, nil, fmt.Errorf("connect %s: %w", uri, err)
	}
	return client, func() {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		stopServer()
	}, nil
}
