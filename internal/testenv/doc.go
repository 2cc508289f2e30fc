// Package testenv gives tests a MongoDB to talk to: the server named by
// MONGOTIDE_TEST_URI when it is set (a real replica set), otherwise a fresh
// embedded server per test, stopped when the test ends.
//
//	client := testenv.Client(t)
//
// Tests that need embedded-only features (Stop/Start, a data directory) use
// StartEmbedded, which always starts an embedded server.
package testenv
