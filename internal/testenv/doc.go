// Package testenv is mongotide's own thin layer over embedded/embeddedtest:
// the server named by MONGOTIDE_TEST_URI when it is set (a real replica
// set), otherwise a fresh embedded server per test (embeddedtest.Server),
// stopped when the test ends; plus Eventually, the one way tests wait.
//
//	client := testenv.Client(t)
//
// Tests that need embedded-only features (Stop/Start, a data directory) use
// StartEmbedded, which always starts an embedded server. Applications use
// embeddedtest directly (docs/testing.md).
package testenv
