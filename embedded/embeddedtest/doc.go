// Package embeddedtest gives Go tests a MongoDB in milliseconds: what
// mongodb-memory-server is for Node, without downloading or spawning a
// mongod. Tests talk to it with the official driver over TCP, exactly as
// they would to a real deployment.
//
//	func TestSignup(t *testing.T) {
//		t.Parallel()
//		db := embeddedtest.Database(t) // unique to the test, dropped at its end
//		...
//	}
//
//	func TestMain(m *testing.M) { os.Exit(embeddedtest.Run(m)) }
//
// # One server per test binary
//
// Database, Client and FailPoint share one embedded replica set per test
// binary (an Env), started on first use (about a millisecond) and stopped
// by Run after the last test. Each Database is unique to its test, so
// parallel tests do not see each other's data, and it is dropped when the
// test ends. Set the environment variable MONGODB_TEST_URI (or the one
// Config.EnvVar names) to a connection string and the same tests run,
// unchanged, against that deployment instead: a local mongod, a replica set
// in CI, Atlas.
//
// Tests that need a server of their own (a data directory, a restart, a
// server option, failpoints that must not touch other tests) use Server,
// which always starts an embedded server and stops it when the test ends.
//
// # Lifecycle
//
// Everything a function here starts is stopped by the test's Cleanup, or,
// for the shared server, by Run (or Env.Close). Clients are disconnected
// before their server stops, after Server.Quiesce, so neither waits out the
// driver's heartbeat. Without Run the shared server lives until the test
// binary exits, which is harmless but shows up in goroutine leak checks.
//
// # State
//
// The package-level functions use one default Env, the only package-level
// state here: a test binary has one set of tests, and the point is that
// they share one server. Programs that want several, or their own Config,
// make them with New.
package embeddedtest
