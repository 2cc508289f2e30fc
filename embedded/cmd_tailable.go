package embedded

import (
	"context"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// codeQueryPlanKilled is QueryPlanKilled (175): the collection a cursor
// reads was dropped under it.
const codeQueryPlanKilled int32 = 175

// tailSource is a tailable cursor on a capped collection: each Next
// continues after the last document it examined, in insertion order, and
// an awaitData cursor waits for inserts when there is nothing new.
type tailSource struct {
	e     *engine.Engine
	ns    engine.Namespace
	uuid  []byte
	args  engine.TailArgs
	skip  int64
	limit int64 // 0: no limit
	sent  int64
	// opened is false until the first Next, which decides whether the
	// cursor lives at all (it dies on an empty collection, as on MongoDB:
	// it has no position to resume from).
	opened bool
}

func (t *tailSource) Next(ctx context.Context, n int, maxAwait time.Duration) ([]bson.Raw, bool, error) {
	var deadline time.Time
	if maxAwait > 0 {
		deadline = time.Now().Add(maxAwait)
	}
	for {
		// Ask for the notification before reading, so an insert between
		// the read and the wait is not missed.
		notify := t.e.OplogNotify()
		docs, done, err := t.read(n)
		if err != nil || done || len(docs) > 0 || maxAwait <= 0 {
			return docs, done, err
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil, false, nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, false, ctx.Err()
		case <-timer.C:
			return nil, false, nil
		case <-notify:
			timer.Stop()
		}
	}
}

// read returns the matching documents after the cursor's position.
func (t *tailSource) read(n int) ([]bson.Raw, bool, error) {
	args := t.args
	if n > 0 && t.skip == 0 {
		args.Max = n
	}
	if t.limit > 0 {
		left := int(t.limit - t.sent)
		if args.Max <= 0 || left < args.Max {
			args.Max = left
		}
	}
	res, err := t.e.TailCapped(t.ns, t.uuid, args)
	if err != nil {
		return nil, false, err
	}
	if res.Dropped {
		if !t.opened {
			return nil, true, nil
		}
		return nil, false, errorf(codeQueryPlanKilled, "QueryPlanKilled", "collection dropped. UUID: %x", t.uuid)
	}
	first := !t.opened
	t.opened = true
	if t.uuid == nil {
		t.uuid = t.e.CollectionUUID(t.ns)
	}
	if first && res.Pos == 0 {
		return nil, true, nil // empty collection: nothing to tail from
	}
	t.args.After = res.Pos
	docs := res.Docs
	for t.skip > 0 && len(docs) > 0 {
		docs, t.skip = docs[1:], t.skip-1
	}
	if n > 0 && len(docs) > n {
		// Only possible while skipping: rewind is impossible, so the
		// surplus is dropped from the cursor's view, as a limit would.
		docs = docs[:n]
	}
	t.sent += int64(len(docs))
	return docs, t.limit > 0 && t.sent >= t.limit, nil
}

func (t *tailSource) PostBatchResumeToken() bson.Raw { return nil }

func (t *tailSource) Close() {}

// tailOptions are find's tailable and awaitData flags.
type tailOptions struct {
	tailable, awaitData bool
}

// openTailable checks a tailable find the way MongoDB does and returns its
// source.
func (s *Server) openTailable(ns engine.Namespace, args engine.FindArgs, t tailOptions, singleBatch bool) (*tailSource, error) {
	if t.awaitData && !t.tailable {
		return nil, cmdError(codeFailedToParse, "FailedToParse", "Cannot set 'awaitData' without also setting 'tailable'")
	}
	if singleBatch {
		return nil, cmdError(codeBadValue, "BadValue", "cannot use tailable option with the 'singleBatch' option")
	}
	if len(args.Sort) > 0 && !(len(args.Sort) == 1 && args.Sort[0].Key == "$natural" && isOne(args.Sort[0].Value)) {
		return nil, cmdError(codeBadValue, "BadValue", "cannot use tailable option with a sort other than {$natural: 1}")
	}
	if v, err := s.viewOf(ns); err != nil {
		return nil, err
	} else if v != nil {
		return nil, cmdError(codeInvalidPipelineOperator, "InvalidPipelineOperator", "Namespace %s is a view, not a collection", ns)
	}
	if info, ok := s.engine.Collection(ns); ok && !info.Options.Capped {
		return nil, cmdError(codeBadValue, "BadValue", "error processing query: ns=%s tree: tailable cursor requested on non capped collection", ns)
	}
	return &tailSource{e: s.engine, ns: ns, skip: args.Skip, limit: args.Limit,
		args: engine.TailArgs{Filter: args.Filter, Projection: args.Projection}}, nil
}

// findTailable runs a find with tailable (and awaitData) set.
func (s *Server) findTailable(ctx context.Context, req *request, ns engine.Namespace, args engine.FindArgs, t tailOptions, copts cursorOptions) (bson.D, error) {
	if req.Txn != nil {
		return nil, cmdError(codeOperationNotSupportedInTransaction, "OperationNotSupportedInTransaction",
			"Cannot run a tailable cursor in a multi-document transaction")
	}
	src, err := s.openTailable(ns, args, t, copts.SingleBatch)
	if err != nil {
		return nil, err
	}
	// Tailable stays false: it marks change streams, whose getMore errors
	// carry ResumableChangeStreamError, which a find cursor's never do.
	copts.AwaitData = t.awaitData
	return s.newCursor(ctx, req, ns.String(), src, copts)
}

func isOne(v any) bool {
	n, ok := asInt64(v)
	return ok && n == 1
}

// codeInvalidPipelineOperator is InvalidPipelineOperator (168).
const codeInvalidPipelineOperator int32 = 168
