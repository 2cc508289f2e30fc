// Command conformance runs the official Go driver's own integration suites
// against a fresh embedded server and prints how many of their tests pass:
//
//	driver unified: P passed, F failed, S skipped
//	driver classic: P passed, F failed, S skipped
//
// "unified" is the driver's unified spec runner (TestUnifiedSpec in
// internal/integration/unified) over the spec directories embedded is meant to
// serve; "classic" is the driver's hand-written tests in internal/integration
// for change streams, collections, databases, cursors, sessions, index views,
// the client, errors, retryable reads/writes prose and causal consistency.
//
// The driver's test files ship in its module (go.mongodb.org/mongo-driver/v2
// at the version go.mod requires); each run works in a fresh writable copy
// of it in -out, built with GOWORK=off, whose testdata/specifications/source is a
// symlink to the spec JSON (MONGOTIDE_DRIVER_SPEC_DIR, default
// ../shared/driver-spec/source next to the repository). Nothing of the driver
// is edited and nothing is written into the repository. Skips come only from
// the driver itself: a test's own server-version, topology or auth
// requirements and the driver's known-failure list.
//
// Each failure's name and first error line go to conformance.log, the failing
// test names to conformance-failures.txt and the two lines (with the date) to
// conformance-lines.txt, all in -out. The exit status is 1 when either line's
// pass rate, passed/(passed+failed), is below -min (percent), so that `make
// conformance` guards against regressions while the rate is raised.
package main
