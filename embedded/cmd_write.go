package embedded

import (
	"context"
	"fmt"
	"strings"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// writeOptions are the fields shared by insert, update and delete.
type writeOptions struct {
	ordered bool
	vars    map[string]any
	// bypassEmptyTs keeps Timestamp(0, 0) values as they are
	// (bypassEmptyTsReplacement).
	bypassEmptyTs bool
	// bypassValidation skips validators (bypassDocumentValidation).
	bypassValidation bool
}

// parseWriteCommon handles a top-level field every write command accepts;
// handled is false when key is not one of them.
func parseWriteCommon(cmd, key string, v any, o *writeOptions) (handled bool, err error) {
	switch key {
	case "ordered":
		o.ordered, err = argBool(cmd, key, v)
		return true, err
	case "bypassDocumentValidation":
		o.bypassValidation, err = argBool(cmd, key, v)
		return true, err
	case "let":
		o.vars, err = parseLet(cmd, v)
		return true, err
	case "bypassEmptyTsReplacement":
		o.bypassEmptyTs, err = argBool(cmd, key, v)
		return true, err
	}
	return false, nil
}

func checkBatchSize(n int) error {
	if n < 1 || n > maxWriteBatchSize {
		return cmdError(codeInvalidLength, "InvalidLength",
			"Write batch sizes must be between 1 and %d. Got %d operations.", maxWriteBatchSize, n)
	}
	return nil
}

// writeReply assembles the reply of a write command.
type writeReply struct {
	n           int64
	nModified   int64
	upserted    bson.A
	writeErrors bson.A
}

// fail records the error of statement i; it returns a non-nil error when
// the error must fail the whole command instead.
func (w *writeReply) fail(i int, err error) error {
	we, ok := writeError(i, err)
	if !ok {
		return err
	}
	w.writeErrors = append(w.writeErrors, we)
	return nil
}

func (w *writeReply) body(withModified bool) bson.D {
	d := bson.D{{Key: "n", Value: int32OrInt64(w.n)}}
	if withModified {
		d = append(d, bson.E{Key: "nModified", Value: int32OrInt64(w.nModified)})
	}
	if len(w.upserted) > 0 {
		d = append(d, bson.E{Key: "upserted", Value: w.upserted})
	}
	if len(w.writeErrors) > 0 {
		d = append(d, bson.E{Key: "writeErrors", Value: w.writeErrors})
	}
	return d
}

// int32OrInt64 encodes a count as MongoDB's appendNumber does: int32 when it
// fits.
func int32OrInt64(n int64) any {
	if n >= -1<<31 && n < 1<<31 {
		return int32(n)
	}
	return n
}

// writeBatch is a parsed write command: insert, update and delete share
// this shape, and differ only in the array of statements and what they do.
type writeBatch[T any] struct {
	ns    engine.Namespace
	opts  writeOptions
	stmts []T
	retry *retryableWrite // nil unless a retryable write
}

// parseWriteBatch parses a write command whose statements are the documents
// of the array field, each parsed by parse (with its index, for error
// messages), and checks that the batch size is valid and the namespace
// writable, in that order.
func parseWriteBatch[T any](s *Server, req *request, cmd, field string, parse func(i int, d bson.D) (T, error)) (*writeBatch[T], error) {
	coll, err := collectionArg(req)
	if err != nil {
		return nil, err
	}
	b := &writeBatch[T]{opts: writeOptions{ordered: true}}
	haveStmts := false
	for _, e := range req.Body[1:] {
		if handled, err := parseWriteCommon(cmd, e.Key, e.Value, &b.opts); handled {
			if err != nil {
				return nil, err
			}
			continue
		}
		switch e.Key {
		case field:
			docs, err := argDocs(cmd, e.Key, e.Value)
			if err != nil {
				return nil, err
			}
			// A repeated field replaces the earlier one, as every
			// other field does.
			b.stmts = make([]T, 0, len(docs))
			for i, d := range docs {
				st, err := parse(i, d)
				if err != nil {
					return nil, err
				}
				b.stmts = append(b.stmts, st)
			}
			haveStmts = true
		default:
			if !isGenericField(e.Key) {
				return nil, unknownField(cmd, e.Key)
			}
		}
	}
	if !haveStmts {
		return nil, missingField(cmd, field)
	}
	if err := checkBatchSize(len(b.stmts)); err != nil {
		return nil, err
	}
	b.ns = nsOf(req, coll)
	b.retry = s.retryableWriteOf(req)
	if err := s.refuseViewWrite(b.ns); err != nil {
		return nil, err
	}
	if err := s.refuseCappedTxnWrite(req, b.ns); err != nil {
		return nil, err
	}
	return b, nil
}

// run executes the statements in order, recording each failure in w as a
// write error; an ordered batch stops at the first one. It returns an error
// only for a failure that must fail the whole command.
func (b *writeBatch[T]) run(w *writeReply, exec func(i int, st T) error) error {
	for i, st := range b.stmts {
		err := b.retry.exec(i, w, func() error { return exec(i, st) })
		if err == nil {
			continue
		}
		if fb, ok := err.(failedBeforeCommit); ok {
			return fb.commandError
		}
		if ferr := w.fail(i, err); ferr != nil {
			return ferr
		}
		if b.opts.ordered {
			break
		}
	}
	return nil
}

func cmdInsert(_ context.Context, s *Server, req *request) (bson.D, error) {
	b, err := parseWriteBatch(s, req, "insert", "documents", func(_ int, d bson.D) (bson.D, error) { return d, nil })
	if err != nil {
		return nil, err
	}
	ops := withoutValidation(s.ops(req), b.opts.bypassValidation)
	var w writeReply
	if err := b.run(&w, func(_ int, doc bson.D) error {
		if _, err := ops.Insert(b.ns, s.fillEmptyTimestamps(doc, b.opts.bypassEmptyTs)); err != nil {
			return err
		}
		w.n++
		return nil
	}); err != nil {
		return nil, err
	}
	return w.body(false), nil
}

// updateStatement is one element of update.updates.
type updateStatement struct {
	args engine.UpdateArgs
	hint any
	// consts are the statement's own variables (field "c").
	consts map[string]any
}

func parseUpdateStatement(i int, d bson.D) (updateStatement, error) {
	const cmd = "update"
	var st updateStatement
	haveQ, haveU := false, false
	path := func(f string) string { return fmt.Sprintf("updates.%d.%s", i, f) }
	var err error
	for _, e := range d {
		switch e.Key {
		case "q":
			if st.args.Filter, err = argDoc(cmd, path("q"), e.Value); err != nil {
				return st, err
			}
			haveQ = true
		case "u":
			switch u := e.Value.(type) {
			case bson.D:
				st.args.Update = u
			case bson.A:
				st.args.Update = u
			default:
				return st, wrongType(cmd, path("u"), e.Value, "object or array")
			}
			haveU = true
		case "multi":
			if st.args.Multi, err = argBool(cmd, path("multi"), e.Value); err != nil {
				return st, err
			}
		case "upsert":
			if st.args.Upsert, err = argBool(cmd, path("upsert"), e.Value); err != nil {
				return st, err
			}
		case "upsertSupplied":
			// Internal to sharded clusters; it never changes a
			// single node's result.
		case "arrayFilters":
			if e.Value == nil {
				continue
			}
			if st.args.ArrayFilters, err = argDocs(cmd, path("arrayFilters"), e.Value); err != nil {
				return st, err
			}
		case "hint":
			st.hint = e.Value
		case "collation":
			if st.args.Collation, err = collationArg(cmd, e.Value); err != nil {
				return st, err
			}
		case "sort":
			if st.args.Sort, err = argOptDoc(cmd, path("sort"), e.Value); err != nil {
				return st, err
			}
		case "c":
			if st.consts, err = parseLet(cmd, e.Value); err != nil {
				return st, err
			}
		default:
			return st, unknownField(cmd, "updates."+e.Key)
		}
	}
	if !haveQ {
		return st, missingField(cmd, path("q"))
	}
	if !haveU {
		return st, missingField(cmd, path("u"))
	}
	if len(st.args.Sort) > 0 && st.args.Multi {
		return st, cmdError(codeFailedToParse, "FailedToParse", "Cannot specify sort with multi=true")
	}
	return st, nil
}

// isReplacement reports whether an update document replaces the document
// (no operators) rather than modifying it.
func isReplacement(u any) bool {
	d, ok := u.(bson.D)
	return ok && (len(d) == 0 || !strings.HasPrefix(d[0].Key, "$"))
}

func cmdUpdate(_ context.Context, s *Server, req *request) (bson.D, error) {
	const cmd = "update"
	b, err := parseWriteBatch(s, req, cmd, "updates", parseUpdateStatement)
	if err != nil {
		return nil, err
	}
	ops := withoutValidation(s.ops(req), b.opts.bypassValidation)
	var w writeReply
	if err := b.run(&w, func(i int, st updateStatement) error {
		if err := s.checkHint(cmd, b.ns, st.hint); err != nil {
			return err
		}
		if st.args.Multi && isReplacement(st.args.Update) {
			return cmdError(codeFailedToParse, "FailedToParse", "multi update is not supported for replacement-style update")
		}
		args := st.args
		args.KeepEmptyTimestamps = b.opts.bypassEmptyTs
		if vars := mergeVars(b.opts.vars, st.consts); len(vars) > 0 {
			args.Filter = bindFilter(args.Filter, vars)
			args.Update = bindUpdate(args.Update, vars)
		}
		res, err := ops.Update(b.ns, args)
		if err != nil {
			return err
		}
		w.n += res.Matched
		w.nModified += res.Modified
		if res.UpsertedID != nil {
			w.n++
			w.upserted = append(w.upserted, bson.D{
				{Key: "index", Value: int32(i)},
				{Key: "_id", Value: res.UpsertedID},
			})
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return w.body(true), nil
}

// deleteStatement is one element of delete.deletes.
type deleteStatement struct {
	filter bson.D
	limit  int
	// collation is the statement's collation option (nil: none).
	collation bson.D
	hint      any
}

func parseDeleteStatement(i int, d bson.D) (deleteStatement, error) {
	const cmd = "delete"
	var st deleteStatement
	haveQ, haveLimit := false, false
	path := func(f string) string { return fmt.Sprintf("deletes.%d.%s", i, f) }
	var err error
	for _, e := range d {
		switch e.Key {
		case "q":
			if st.filter, err = argDoc(cmd, path("q"), e.Value); err != nil {
				return st, err
			}
			haveQ = true
		case "limit":
			n, err := argInt64(cmd, path("limit"), e.Value)
			if err != nil {
				return st, err
			}
			if n != 0 && n != 1 {
				return st, cmdError(codeFailedToParse, "FailedToParse",
					"The limit field in delete objects must be 0 or 1. Got %d", n)
			}
			st.limit = int(n)
			haveLimit = true
		case "hint":
			st.hint = e.Value
		case "collation":
			if st.collation, err = collationArg(cmd, e.Value); err != nil {
				return st, err
			}
		default:
			return st, unknownField(cmd, "deletes."+e.Key)
		}
	}
	if !haveQ {
		return st, missingField(cmd, path("q"))
	}
	if !haveLimit {
		return st, missingField(cmd, path("limit"))
	}
	return st, nil
}

func cmdDelete(_ context.Context, s *Server, req *request) (bson.D, error) {
	const cmd = "delete"
	b, err := parseWriteBatch(s, req, cmd, "deletes", parseDeleteStatement)
	if err != nil {
		return nil, err
	}
	ops := s.ops(req)
	var w writeReply
	if err := b.run(&w, func(_ int, st deleteStatement) error {
		if err := s.checkHint(cmd, b.ns, st.hint); err != nil {
			return err
		}
		n, err := deleteWith(ops, b.ns, bindFilter(st.filter, b.opts.vars), st.limit, st.collation)
		if err != nil {
			return err
		}
		w.n += n
		return nil
	}); err != nil {
		return nil, err
	}
	return w.body(false), nil
}
