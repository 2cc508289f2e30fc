// Package sync keeps a local MongoDB database and a remote one (Atlas) in
// step, in both directions, over change streams on the real collections, so
// every write syncs whoever made it.
//
//	s, err := sync.New(sync.Config{
//		Local:       localClient.Database("app"),
//		Remote:      atlasClient.Database("app"),
//		Collections: []string{"books", "authors"},
//	})
//	if err := s.Start(ctx); err != nil { ... }
//	defer s.Stop(ctx)
//
// Lifecycle, as in every mongotide package: Start's ctx bounds the start-up
// only; the syncer runs until Stop(ctx), which waits for in-flight changes
// and saves checkpoints, is idempotent, safe from its own callbacks, and
// bounded by its ctx; Done() is closed once it has stopped and Err() says
// why (always nil: a syncer survives every error, reporting each to
// Config.OnError).
//
// The app reads and writes the local database only; it is always there.
// Start does not wait for the remote: the first time a collection is synced
// it is bootstrapped (the remote's resume point is captured, the remote is
// copied in _id batches with a durable checkpoint, then its change stream is
// tailed from the captured point) as soon as the remote is reachable, and
// local changes upload by themselves, with backoff, whenever it is.
//
// Users' documents are never modified: versions (a hybrid logical clock plus
// a replica id) and checkpoints live in side collections whose names start
// with "_mongotide_sync". Both directions are state based and recognise
// echoes by content hash, so a change applied from one side is never sent
// back, under any interleaving. Concurrent edits are resolved by
// Config.Conflict: last writer wins by HLC (the default), a field-level
// merge (FieldMerge), remote wins, local wins, or a custom function; what a
// policy overwrites goes to the conflict log (Conflicts, RetryConflict,
// DismissConflict). docs/sync.md has the full design and the outcome of
// every pair of concurrent operations under every policy.
package sync
