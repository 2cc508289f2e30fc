package embeddedtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// DefaultEnvVar is the environment variable that, set to a connection
// string, makes the tests use that deployment instead of an embedded
// server.
const DefaultEnvVar = "MONGODB_TEST_URI"

// HeartbeatInterval is the heartbeat interval of the clients made here,
// unless their options set one: the driver's minimum. A driver Disconnect
// that races with its monitor's next check waits for that check (see
// embedded.Server.Quiesce); for clients of a server that cannot be
// quiesced (the shared one while other tests run, a real deployment) this
// bounds the wait.
const HeartbeatInterval = 500 * time.Millisecond

// cleanupTimeout bounds each cleanup step (a drop, a disconnect, a stop).
const cleanupTimeout = 30 * time.Second

// ErrClosed is returned (through tb.Fatal) by an Env used after Close.
var ErrClosed = errors.New("embeddedtest: environment closed")

// Config configures an Env. The zero value is valid.
type Config struct {
	// EnvVar names the environment variable that, when set to a connection
	// string, points the Env at that deployment instead of starting an
	// embedded server. It is read when the Env is first used. Default
	// DefaultEnvVar.
	EnvVar string
	// Server configures the embedded server. EnableTestCommands is always
	// turned on (FailPoint needs it).
	Server embedded.Config
	// ClientOptions, when set, returns the options every client starts
	// from (the URI is applied on top). Default: the driver's defaults,
	// with HeartbeatInterval.
	ClientOptions func() *options.ClientOptions
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.EnvVar == "" {
		c.EnvVar = DefaultEnvVar
	}
	c.Server.EnableTestCommands = true
	if c.ClientOptions == nil {
		c.ClientOptions = options.Client
	}
	return c
}

// Env is a MongoDB for a set of tests: the deployment named by the
// Config.EnvVar environment variable, or else an embedded server started on
// first use. Its methods are safe for concurrent use by parallel tests.
type Env struct {
	cfg    Config
	suffix string // random, so test binaries sharing a deployment do not collide
	seq    atomic.Uint64

	mu       sync.Mutex
	started  bool
	closed   bool
	startErr error
	uri      string
	external bool
	srv      *embedded.Server
	client   *mongo.Client
}

// New returns an Env; nothing starts until a test uses it.
func New(cfg Config) *Env {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return &Env{cfg: cfg.WithDefaults(), suffix: hex.EncodeToString(b[:])}
}

// start starts the server (or connects to the external deployment) once.
func (e *Env) start() (*mongo.Client, string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, "", ErrClosed
	}
	if e.started {
		return e.client, e.uri, e.startErr
	}
	e.started = true
	if uri := os.Getenv(e.cfg.EnvVar); uri != "" {
		e.uri, e.external = uri, true
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		srv, err := embedded.Start(ctx, e.cfg.Server)
		cancel()
		if err != nil {
			e.startErr = fmt.Errorf("embeddedtest: start embedded server: %w", err)
			return nil, "", e.startErr
		}
		e.srv, e.uri = srv, srv.URI()
	}
	e.client, e.startErr = connect(e.cfg, e.uri, nil)
	if e.startErr != nil && e.srv != nil {
		_ = e.srv.Stop(context.Background())
		e.srv = nil
	}
	return e.client, e.uri, e.startErr
}

// connect makes a client for uri from cfg's options and opts (nil: none).
func connect(cfg Config, uri string, opts *options.ClientOptions) (*mongo.Client, error) {
	if opts == nil {
		opts = cfg.ClientOptions()
	}
	opts.ApplyURI(uri)
	if opts.HeartbeatInterval == nil {
		opts.SetHeartbeatInterval(HeartbeatInterval)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("embeddedtest: connect to %s: %w", redact(uri), err)
	}
	return client, nil
}

// redact hides a connection string's password in messages.
func redact(uri string) string {
	at := strings.LastIndex(uri, "@")
	scheme := strings.Index(uri, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return uri
	}
	creds := uri[scheme+3 : at]
	if user, _, ok := strings.Cut(creds, ":"); ok {
		return uri[:scheme+3] + user + ":xxxxx" + uri[at:]
	}
	return uri
}

// must starts e or fails tb.
func (e *Env) must(tb testing.TB) (*mongo.Client, string) {
	tb.Helper()
	client, uri, err := e.start()
	if err != nil {
		tb.Fatal(err)
	}
	return client, uri
}

// External reports whether e uses the deployment its environment variable
// names (read at first use; before that, what the variable says now).
func (e *Env) External() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return e.external
	}
	return os.Getenv(e.cfg.EnvVar) != ""
}

// URI returns the connection string of e's deployment, starting it if
// needed.
func (e *Env) URI(tb testing.TB) string {
	tb.Helper()
	_, uri := e.must(tb)
	return uri
}

// Client returns e's shared client. Tests must not disconnect it: Close
// does.
func (e *Env) Client(tb testing.TB) *mongo.Client {
	tb.Helper()
	client, _ := e.must(tb)
	return client
}

// NewClient returns a client of its own for tb, made from opts (nil: the
// Config's options; the URI is applied on top), disconnected when tb ends.
// For client options a test needs (a read preference, a pool size, an
// appName to scope a failpoint to).
func (e *Env) NewClient(tb testing.TB, opts *options.ClientOptions) *mongo.Client {
	tb.Helper()
	_, uri := e.must(tb)
	client, err := connect(e.cfg, uri, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := client.Disconnect(ctx); err != nil {
			tb.Errorf("embeddedtest: disconnect: %v", err)
		}
	})
	return client
}

// Database returns a database unique to tb (named after it), on e's shared
// client, dropped when tb ends.
func (e *Env) Database(tb testing.TB) *mongo.Database {
	tb.Helper()
	client, _ := e.must(tb)
	db := client.Database(dbName(tb.Name(), e.seq.Add(1), e.suffix))
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := dropDatabase(ctx, db); err != nil {
			tb.Errorf("embeddedtest: drop database %s: %v", db.Name(), err)
		}
	})
	return db
}

// dropDatabase drops db, or, for a user not allowed dropDatabase (Atlas's
// readWriteAnyDatabase role allows dropping collections only), each of
// its collections: a database without collections does not exist.
func dropDatabase(ctx context.Context, db *mongo.Database) error {
	err := db.Drop(ctx)
	var ce mongo.CommandError
	if err == nil || !errors.As(err, &ce) || ce.Code != codeUnauthorized {
		return err
	}
	names, lerr := db.ListCollectionNames(ctx, bson.D{})
	if lerr != nil {
		return errors.Join(err, lerr)
	}
	for _, n := range names {
		if derr := db.Collection(n).Drop(ctx); derr != nil {
			return errors.Join(err, derr)
		}
	}
	return nil
}

// Server error codes handled here.
const (
	codeUnauthorized    = 13
	codeCommandNotFound = 59
)

// Open returns a database of its own on e's deployment, named after name
// (made unique and valid), and a func that drops it. It is Database for
// code without a testing.TB per test: a suite's setup (testify, Ginkgo),
// an Example, a demo program.
func (e *Env) Open(ctx context.Context, name string) (*mongo.Database, func(context.Context) error, error) {
	client, _, err := e.start()
	if err != nil {
		return nil, nil, err
	}
	db := client.Database(dbName(name, e.seq.Add(1), e.suffix))
	return db, db.Drop, nil
}

// maxDBName is MongoDB's limit on database names (64 bytes, less one).
const maxDBName = 63

// dbName makes a valid database name from a test name: characters MongoDB
// refuses in database names become '_', and the end of a long test name
// (its most specific part) is kept.
func dbName(test string, seq uint64, suffix string) string {
	tail := fmt.Sprintf("_%d_%s", seq, suffix)
	var b strings.Builder
	for _, r := range test {
		switch {
		case r == '/' || r == '\\' || r == '.' || r == ' ' || r == '"' || r == '$' || r == '*' ||
			r == '<' || r == '>' || r == ':' || r == '|' || r == '?' || r == 0 || r > 0x7e || r < 0x20:
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	name := b.String()
	if keep := maxDBName - len(tail); len(name) > keep {
		name = name[len(name)-keep:]
	}
	return name + tail
}

// FailPoint runs cmd, a configureFailPoint command, on e's deployment and
// turns the failpoint off when tb ends. On a deployment without test
// commands (Atlas; mongod without enableTestCommands) it skips tb, saying
// why. A failpoint acts on the whole
// server: on the shared one it can fail other tests' commands too, so
// either keep such tests from running in parallel with others, scope the
// failpoint (failCommand's data.appName, with a NewClient whose options set
// that appName), or give the test its own server (Server).
func (e *Env) FailPoint(tb testing.TB, cmd bson.D) {
	tb.Helper()
	client, _ := e.must(tb)
	failPoint(tb, client, cmd)
}

func failPoint(tb testing.TB, client *mongo.Client, cmd bson.D) {
	tb.Helper()
	if len(cmd) == 0 || cmd[0].Key != "configureFailPoint" {
		tb.Fatalf("embeddedtest: FailPoint needs a configureFailPoint command, got %v", cmd)
	}
	name := cmd[0].Value
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := client.Database("admin").RunCommand(ctx, cmd).Err(); err != nil {
		var ce mongo.CommandError
		if errors.As(err, &ce) && ce.Code == codeCommandNotFound {
			// A deployment without enableTestCommands (Atlas): the test
			// cannot run there, and says so.
			tb.Skipf("embeddedtest: the deployment has no failpoints (configureFailPoint: %v); the test needs a server with enableTestCommands", err)
		}
		tb.Fatalf("embeddedtest: configureFailPoint %v: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		off := bson.D{{Key: "configureFailPoint", Value: name}, {Key: "mode", Value: "off"}}
		if err := client.Database("admin").RunCommand(ctx, off).Err(); err != nil {
			tb.Errorf("embeddedtest: turn failpoint %v off: %v", name, err)
		}
	})
}

// Close disconnects the shared client and stops the embedded server (after
// quiescing it, so the disconnect is prompt). Idempotent; an Env used
// after Close fails the test with ErrClosed.
func (e *Env) Close(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	if e.srv != nil {
		e.srv.Quiesce()
	}
	var errs []error
	if e.client != nil {
		if err := e.client.Disconnect(ctx); err != nil {
			errs = append(errs, fmt.Errorf("embeddedtest: disconnect: %w", err))
		}
	}
	if e.srv != nil {
		if err := e.srv.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("embeddedtest: stop server: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Run runs the tests of m, then closes e. It returns the exit code for
// os.Exit: m's, or 1 when the tests passed but closing failed.
//
//	func TestMain(m *testing.M) { os.Exit(env.Run(m)) }
func (e *Env) Run(m *testing.M) int {
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
