// Package listen is mongotide's change-stream listener engine: typed
// handlers on top of the driver's Watch that never lose an event.
//
//	sub, err := listen.Listen[Book](ctx, coll,
//		func(ctx context.Context, id string, ev *listen.ChangeEvent[Book]) error { ... },
//		listen.WithOperationTypes(listen.Insert, listen.Update),
//		listen.WithResumeStore(store, "books-indexer"),
//	)
//	defer sub.Unsubscribe()
//
// (model.Model[T].ListenForChanges is the same with the collection bound.)
//
// Lifecycle, the same in every mongotide package: the ctx given to Listen
// bounds the start only (loading the checkpoint, opening the stream); the
// subscription then runs until Stop(ctx) or Unsubscribe() (which is
// Stop(context.Background())), or until an error it cannot survive. Stop is
// graceful (in-flight handlers finish, the final checkpoint is saved),
// idempotent, and safe from the subscription's own handlers and callbacks;
// Done() is closed once it has stopped and Err() says why (nil after Stop).
// Handlers receive a context with the values of Listen's ctx that is
// cancelled only when a Stop's ctx ends before they return.
//
// Options set one Config field each (WithX sets Config.X; callbacks are
// named On*: WithOnError, WithOnGap, WithOnHandled). An invalid value fails
// Listen with an error wrapping ErrInvalidConfig that names the option.
//
// Guarantees:
//
//   - At-least-once, in order per listener (per document with
//     WithConcurrency). A resume token is saved only after the handler
//     returned nil for its event and for every event before it; saves are
//     batched (CheckpointEvery events or CheckpointInterval) and done on
//     Unsubscribe. While the collection is idle, or while a filter hides
//     events, the server's postBatchResumeToken is checkpointed too, so a
//     quiet listener's token does not go stale.
//   - Gap-free start: the server stream is open before Listen returns.
//   - Reconnection above the driver's single automatic resume: resumable
//     errors reopen from the last token read, with exponential backoff and
//     jitter, forever by default; each is reported to the error handler.
//   - Never a silent stop: Done() is closed and Err() says why.
//
// Fan-out: listeners created through one Hub (model.Model has one) share a
// server stream when their server-side options match; see Hub. Each
// listener has a bounded buffer; SlowListenerBlock (default) makes the
// shared stream wait, SlowListenerFail ends the slow listener instead.
//
// Filters: WithOperationTypes and WithFilter run in process so that they do
// not split the shared stream. WithFilter is a query on document fields
// ({"published": true}), evaluated against fullDocument, else
// fullDocumentBeforeChange, else documentKey; it turns on updateLookup
// unless WithFullDocument says otherwise. It is equivalent to a server-side
// $match on "fullDocument.<field>" for inserts, replaces and looked-up
// updates. WithPipeline stages run on the server.
package listen
