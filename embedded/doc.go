// Package embedded runs an in-process MongoDB-compatible single-node replica
// set that the official Go driver (go.mongodb.org/mongo-driver/v2) talks to
// over TCP. It exists so that change-stream code, examples and tests run with
// zero infrastructure, and so that every test of mongotide exercises the real
// driver against a server that behaves like MongoDB.
//
//	srv, err := embedded.Start(ctx, embedded.Config{})
//	if err != nil { ... }
//	defer srv.Stop(ctx)
//	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
//
// Lifecycle, as in every mongotide package: Start's ctx bounds the start-up
// only; the server runs until Stop(ctx), which is idempotent and bounded by
// its ctx (the rest of the shutdown then finishes in the background); Done()
// is closed once it has stopped and Err() says what went wrong, if anything.
// Quiesce before disconnecting clients makes their Disconnect prompt (see
// Server.Quiesce); tests get all of this from package embeddedtest.
//
// See docs/embedded.md for what is supported.
package embedded
