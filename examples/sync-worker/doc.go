// Command sync-worker is a background worker that keeps a local MongoDB
// database and a remote one in step with mongotide's sync package: it
// bootstraps the local side from the remote, replicates changes both ways
// over change streams, logs each synced document and a periodic status
// (online, pending changes per collection, lag), and stops cleanly on
// SIGINT or SIGTERM, saving its checkpoints.
//
//	go run ./examples/sync-worker
//
// By default it starts two embedded servers, one playing the local database
// and one the remote (Atlas), and writes demo notes on both so that
// something visibly syncs. Point it at real servers with -local-uri and
// -remote-uri (or MONGODB_LOCAL_URI and MONGODB_REMOTE_URI).
package main
