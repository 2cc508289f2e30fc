// Package changestream implements MongoDB change streams over the embedded
// engine's oplog: the $changeStream aggregation stage and the stages allowed
// after it, event documents shaped and ordered as MongoDB 8.0 sends them,
// resume tokens, the postBatchResumeToken high-water mark, invalidation,
// pre- and post-images, and splitting of large events.
//
// A Stream is opened by the aggregate command handler and then driven by the
// server's cursor machinery through Next, PostBatchResumeToken and Close.
// Each oplog entry is read once per stream and turned into event bytes
// directly (no intermediate documents) unless the user supplied stages that
// need a decoded document.
//
// Errors are *mql.Error values carrying MongoDB's code and code name, except
// the two codes MongoDB labels NonResumableChangeStreamError (280 and 286),
// which are *engine.Error values so that the label reaches the client.
package changestream
