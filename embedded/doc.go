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
// See docs/embedded.md for what is supported.
package embedded
