package testenv

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/embedded/embeddedtest"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// EnvURI names the environment variable that points tests at a real server.
const EnvURI = "MONGOTIDE_TEST_URI"

// EnvLog, when set to a slog level name (debug, info, warn), routes embedded
// server logs to the test log.
const EnvLog = "MONGOTIDE_TEST_LOG"

// TestHeartbeatInterval is the heartbeat interval of clients made here
// (unless the options or URI set one): embeddedtest's, for the same reason.
const TestHeartbeatInterval = embeddedtest.HeartbeatInterval

// URI returns MONGOTIDE_TEST_URI when set, else the URI of a fresh embedded
// server that is stopped in tb.Cleanup.
func URI(tb testing.TB) string {
	tb.Helper()
	if uri := os.Getenv(EnvURI); uri != "" {
		return uri
	}
	return StartEmbedded(tb, embedded.Config{}).URI()
}

// Client returns a client connected to URI(tb), disconnected in tb.Cleanup.
func Client(tb testing.TB) *mongo.Client {
	tb.Helper()
	return ClientWith(tb, options.Client())
}

// ClientWith is Client with extra options (the URI is applied on top of
// opts).
func ClientWith(tb testing.TB, opts *options.ClientOptions) *mongo.Client {
	tb.Helper()
	return connect(tb, URI(tb), opts)
}

// Connect returns a client for uri with opts, disconnected in tb.Cleanup.
func Connect(tb testing.TB, uri string, opts *options.ClientOptions) *mongo.Client {
	tb.Helper()
	return connect(tb, uri, opts)
}

func connect(tb testing.TB, uri string, opts *options.ClientOptions) *mongo.Client {
	tb.Helper()
	if ts, ok := servers.Load(uri); ok {
		if opts != nil && opts.HeartbeatInterval == nil {
			opts.SetHeartbeatInterval(TestHeartbeatInterval)
		}
		return ts.(*embeddedtest.TestServer).Client(opts)
	}
	if opts == nil {
		opts = options.Client()
	}
	opts.ApplyURI(uri)
	if opts.HeartbeatInterval == nil {
		opts.SetHeartbeatInterval(TestHeartbeatInterval) // see embeddedtest.HeartbeatInterval
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		tb.Fatalf("testenv: connect to %s: %v", uri, err)
	}
	tb.Cleanup(func() {
		// Disconnect sends endSessions, which waits for a server: bounded
		// short so a test that stopped its server does not stall here.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := client.Disconnect(ctx); err != nil && !errors.Is(err, mongo.ErrClientDisconnected) {
			tb.Errorf("testenv: disconnect: %v", err)
		}
	})
	return client
}

// StartEmbedded starts an embedded server with cfg (always embedded, even
// when MONGOTIDE_TEST_URI is set) for tb, through embeddedtest.Server: it
// turns on cfg.EnableTestCommands (tests inject faults with
// configureFailPoint, as mongod test suites run with enableTestCommands),
// and when tb ends it quiesces the server, disconnects the clients Connect
// made for it, and stops it.
func StartEmbedded(tb testing.TB, cfg embedded.Config) *embedded.Server {
	tb.Helper()
	if cfg.Logger == nil {
		if lvl := os.Getenv(EnvLog); lvl != "" {
			var l slog.Level
			if err := l.UnmarshalText([]byte(lvl)); err != nil {
				tb.Fatalf("testenv: %s=%q is not a slog level: %v", EnvLog, lvl, err)
			}
			cfg.Logger = slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: l}))
		}
	}
	ts := embeddedtest.Server(tb, cfg)
	uri := ts.URI()
	servers.Store(uri, ts)
	tb.Cleanup(func() { servers.CompareAndDelete(uri, ts) })
	return ts.Embedded()
}

// servers maps the URI of each running StartEmbedded server to it, so
// Connect can leave its clients' disconnect to the server's cleanup (after
// Quiesce: prompt). Test-support state, for the life of the test binary.
var servers gosync.Map // string -> *embeddedtest.TestServer

// UsingExternal reports whether tests run against MONGOTIDE_TEST_URI.
func UsingExternal() bool { return os.Getenv(EnvURI) != "" }

// SkipIfExternal skips a test that needs the embedded server (restart, data
// directory, server internals) when MONGOTIDE_TEST_URI is set, naming why.
func SkipIfExternal(tb testing.TB, why string) {
	tb.Helper()
	if UsingExternal() {
		tb.Skipf("needs the embedded server (%s); %s is set", why, EnvURI)
	}
}

// MissingPrecondition skips tb naming what is missing (msg), except in CI
// (CI=true), where every precondition must hold and the test fails instead.
func MissingPrecondition(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
