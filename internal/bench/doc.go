// Package bench holds mongotide's performance measurements, shared by
// `mongotide bench` (one run, one table, every figure measured side by side on
// the same embedded server) and the `go test -bench` benchmarks of this
// package.
//
// Each measurement is a plain function taking a context and a *mongo.Client
// (or a URI) and returning numbers, so that the CLI and benchmarks agree on
// what is measured. Measurements create their own databases (named
// "bench_<what>_<n>") and leave them in place; they are meant for a scratch
// server.
package bench
