package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/mongotide/mongotide/lease/redislease"
	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/relay"
	"github.com/redis/go-redis/v9"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/model"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// demoTokens are the connection_init tokens the demo accepts.
var demoTokens = map[string]string{"alice-token": "alice", "bob-token": "bob"}

type config struct {
	Addr      string        // HTTP listen address
	DemoEvery time.Duration // pace of demo writes; 0 disables them
	Out       io.Writer
	// Redis, when set (host:port), runs this process as one instance of
	// several: a leased relay publisher (one instance publishes) and a
	// relay consumer group per instance feed the subscriptions (see
	// relayfeed.go). Instance names this instance (default host-pid).
	Redis, Instance string
	// ready, if set, receives the WebSocket URL once serving.
	ready func(url string)
}

func main() {
	cfg := config{Out: os.Stdout}
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "HTTP listen address")
	flag.DurationVar(&cfg.DemoEvery, "demo-every", 2*time.Second, "interval of demo writes (0: none)")
	flag.StringVar(&cfg.Redis, "redis", "", "Redis host:port: run as one of several instances fed by a relay")
	flag.StringVar(&cfg.Instance, "instance", "", "this instance's name with -redis (default host-pid)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "graphql-subscriptions:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts everything down in reverse order.
func run(ctx context.Context, cfg config) error {
	uri := os.Getenv("MONGODB_URI")
	if uri == "" {
		srv, err := embedded.Start(ctx, embedded.Config{})
		if err != nil {
			return fmt.Errorf("start embedded server: %w", err)
		}
		defer srv.Stop(context.WithoutCancel(ctx))
		uri = srv.URI()
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))

	books, err := booksModel(ctx, client.Database("library"))
	if err != nil {
		return err
	}
	res := &resolver{books: books}
	if cfg.Redis != "" {
		stopRelay, err := startRelay(ctx, cfg, books, res)
		if err != nil {
			return err
		}
		defer stopRelay()
	}
	schema, err := newSchema(res)
	if err != nil {
		return err
	}

	gql := &Handler{Schema: schema, Auth: TokenAuth(demoTokens)}
	mux := http.NewServeMux()
	mux.Handle("/graphql", gql)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	// WebSocket handlers run as long as their connection, and Shutdown
	// neither cancels nor waits for hijacked connections: serveCtx, the base
	// context of every request, is what ends them (on Ctrl-C, or if Serve
	// fails).
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	hs := &http.Server{Handler: mux, BaseContext: func(net.Listener) context.Context { return serveCtx }}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()

	url := "ws://" + ln.Addr().String() + "/graphql"
	fmt.Fprintf(cfg.Out, "GraphQL subscriptions at %s (subprotocol %s)\n", url, subprotocol)
	fmt.Fprintln(cfg.Out, `connection_init payload: {"token": "alice-token"} or {"token": "bob-token"}`)
	fmt.Fprintln(cfg.Out, `subscribe: subscription { bookChanged { op id book { title owner } } }`)
	if cfg.ready != nil {
		cfg.ready(url)
	}

	demoDone := make(chan error, 1)
	go func() { demoDone <- demoWrites(serveCtx, cfg, books) }()

	select {
	case err = <-serveErr:
	case <-ctx.Done():
	}
	stopServing()
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err = errors.Join(err, hs.Shutdown(shutCtx))
	// serveCtx is cancelled, so every connection and subscription is ending:
	// wait for them, so that no listener outlives the client and server
	// stopped by the deferred calls.
	gql.Wait()
	res.wait()
	if derr := <-demoDone; derr != nil && !errors.Is(derr, context.Canceled) {
		err = errors.Join(err, derr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// booksModel creates the books collection with change stream pre- and
// post-images, so that every event carries the book exactly as that change
// left it (or, for deletes, as it was): the per-subscriber owner filter
// needs it.
func booksModel(ctx context.Context, db *mongo.Database) (*model.Model[Book], error) {
	err := db.CreateCollection(ctx, "books", options.CreateCollection().
		SetChangeStreamPreAndPostImages(bson.D{{Key: "enabled", Value: true}}))
	var ce mongo.CommandError
	if err != nil && !(errors.As(err, &ce) && ce.Name == "NamespaceExists") {
		return nil, fmt.Errorf("create books collection: %w", err)
	}
	return model.New[Book](db.Collection("books")), nil
}

// demoWrites creates, renames and deletes books of alice and bob in turn.
func demoWrites(ctx context.Context, cfg config, books *model.Model[Book]) error {
	if cfg.DemoEvery <= 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	tick := time.NewTicker(cfg.DemoEvery)
	defer tick.Stop()
	owners := []string{"alice", "bob"}
	var last []any
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		owner := owners[i%2]
		var err error
		switch {
		case i%3 == 2 && len(last) > 0:
			if err = books.Delete(ctx, last[0]); err == nil {
				fmt.Fprintf(cfg.Out, "demo: deleted %s\n", hexID(last[0]))
			}
			last = last[1:]
		case i%3 == 1 && len(last) > 0:
			title := fmt.Sprintf("Book %d (2nd edition)", i)
			err = books.Update(ctx, last[len(last)-1], bson.D{{Key: "$set", Value: bson.D{{Key: "title", Value: title}}}})
			if err == nil {
				fmt.Fprintf(cfg.Out, "demo: retitled %s to %q\n", hexID(last[len(last)-1]), title)
			}
		default:
			var id any
			if id, err = books.Create(ctx, Book{Title: fmt.Sprintf("Book %d", i), Owner: owner}); err == nil {
				fmt.Fprintf(cfg.Out, "demo: created %s for %s\n", hexID(id), owner)
				last = append(last, id)
			}
		}
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("demo write: %w", err)
		}
	}
}

// hexID prints an ObjectID the way subscribers receive it.
func hexID(id any) string {
	if oid, ok := id.(bson.ObjectID); ok {
		return oid.Hex()
	}
	return fmt.Sprint(id)
}

// startRelay runs this instance's share of the relay: a publisher that
// publishes while it holds the lease (one instance at a time), and the
// feed of this instance's subscriptions. The returned func stops both.
func startRelay(ctx context.Context, cfg config, books *model.Model[Book], res *resolver) (func(), error) {
	instance := cfg.Instance
	if instance == "" {
		host, _ := os.Hostname()
		instance = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	rdb := redis.NewClient(&redis.Options{Addr: cfg.Redis})
	pub, err := relay.NewPublisher(relay.PublisherConfig{
		Collection: books.Collection(), Redis: rdb,
		// One partition: every instance reads every change anyway, and a
		// single stream keeps commit order across books, as the direct
		// listener does (partitions keep only each document's order).
		Partitions: 1,
		Lease:      redislease.New(rdb, ""), LeaseTTL: 5 * time.Second, LeaseHolder: instance,
		// The same images the subscriptions' own listeners would ask for.
		ListenOptions: []listen.Option{
			listen.WithFullDocument(options.WhenAvailable),
			listen.WithFullDocumentBeforeChange(options.WhenAvailable),
		},
	})
	if err != nil {
		rdb.Close()
		return nil, err
	}
	if err := pub.Start(ctx); err != nil {
		rdb.Close()
		return nil, err
	}
	coll := books.Collection()
	feed, err := startRelayFeed(ctx, rdb, coll.Database().Name()+"."+coll.Name(), "graphql-"+instance)
	if err != nil {
		_ = pub.Stop(context.WithoutCancel(ctx))
		rdb.Close()
		return nil, err
	}
	res.feed = feed
	fmt.Fprintf(cfg.Out, "instance %s: subscriptions fed by the relay on redis %s\n", instance, cfg.Redis)
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = feed.stop(sctx)
		_ = pub.Stop(sctx)
		rdb.Close()
	}, nil
}
