package embeddedtest

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// defaultEnv serves the package-level functions (see "State" in the
// package doc).
var defaultEnv = New(Config{})

// Default returns the Env behind the package-level functions.
func Default() *Env { return defaultEnv }

// Database returns a database unique to tb, dropped when tb ends, on the
// test binary's shared server (see Env.Database).
func Database(tb testing.TB) *mongo.Database {
	tb.Helper()
	return defaultEnv.Database(tb)
}

// Client returns the shared client of the test binary's server. Do not
// disconnect it (Run does).
func Client(tb testing.TB) *mongo.Client {
	tb.Helper()
	return defaultEnv.Client(tb)
}

// NewClient returns a client of tb's own, disconnected when tb ends (see
// Env.NewClient).
func NewClient(tb testing.TB, opts *options.ClientOptions) *mongo.Client {
	tb.Helper()
	return defaultEnv.NewClient(tb, opts)
}

// URI returns the connection string of the test binary's server.
func URI(tb testing.TB) string {
	tb.Helper()
	return defaultEnv.URI(tb)
}

// External reports whether the tests run against the deployment named by
// MONGODB_TEST_URI rather than an embedded server.
func External() bool { return defaultEnv.External() }

// FailPoint configures a failpoint on the test binary's server and turns it
// off when tb ends (see Env.FailPoint for its reach).
func FailPoint(tb testing.TB, cmd bson.D) {
	tb.Helper()
	defaultEnv.FailPoint(tb, cmd)
}

// Run runs m's tests, then stops the shared server:
//
//	func TestMain(m *testing.M) { os.Exit(embeddedtest.Run(m)) }
func Run(m *testing.M) int { return defaultEnv.Run(m) }
