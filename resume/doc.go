// Package resume stores change-stream resume tokens so that a listener can
// pick up where it left off after a restart.
//
// A Store maps a caller-chosen key (one per logical listener, e.g.
// "books-indexer") to the last resume token whose event was fully handled.
// Tokens are stored byte-exact: what Save was given is what Load returns.
//
// Implementations in this module:
//
//   - NewMemoryStore: process-local, for tests and short-lived programs.
//   - NewFileStore: one file per key in a directory, written atomically
//     (temp file, fsync, rename, directory fsync).
//   - NewMongoStore: one document {_id: key, token, updatedAt} per key in a
//     collection of your choice.
//   - redisstore.New (package resume/redisstore): a Redis string per key.
//     It lives in its own package so that programs which never use Redis do
//     not link github.com/redis/go-redis.
//
// Every implementation passes the conformance suite in package
// resume/resumetest; custom stores should run it too.
package resume
