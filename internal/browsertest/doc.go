// Package browsertest runs a test's page in headless Chromium: the shared
// part of the browser tests (the gateway's and the graphql-subscriptions
// example's). It finds the chromium binary (a missing one skips the test
// naming it, and fails it in CI: testenv.MissingPrecondition), serves the
// page with an endpoint the page reports to, starts Chromium on it in a
// process group of its own, and kills that group when the test ends,
// logging Chromium's stderr and the page's reports if the test failed.
//
// The page reports what it sees as a POST to /report of
// {"from": who, "n": sequence, "kind": kind, "data": any JSON}; the test
// waits for reports with Browser.Eventually, which fails at once when
// Chromium exits before the test killed it. No DevTools protocol: the page
// itself is the test's instrument.
//
// It is test support, imported only from _test.go files.
package browsertest
