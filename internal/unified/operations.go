package unified

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// testState is the mutable state of one running test.
type testState struct {
	r          *Runner
	ents       *entityMap
	m          *matcher
	failpoints []failpoint
}

// failpoint is a fail point configured by a failPoint operation, disabled at
// the end of the test through the client that set it.
type failpoint struct {
	client *mongo.Client
	name   string
}

// opResult is what an operation produced.
type opResult struct {
	val    any   // a BSON value (document, array, number...) or nil
	null   bool  // the operation returned an explicit null (findOne and friends, no match)
	list   []any // iterable results (find, aggregate): root-level documents
	isList bool
	entity any // a driver object for saveResultAsEntity (change streams)
}

// runnerError is a problem of the test file or the runner (bad argument,
// unknown entity), never an operation error an expectError could match.
type runnerError struct{ err error }

func (e *runnerError) Error() string { return e.err.Error() }
func (e *runnerError) Unwrap() error { return e.err }

func badArg(format string, args ...any) error {
	return &runnerError{err: fmt.Errorf(format, args...)}
}

func unknownArg(op, key string) error {
	return skipf("unsupported argument %q for operation %s", key, op)
}

func isOperationField(k string) bool {
	switch k {
	case "name", "object", "arguments", "expectResult", "expectError", "saveResultAsEntity", "ignoreResultAndError":
		return true
	}
	return false
}

func (st *testState) runOperation(ctx context.Context, op bson.D) error {
	for _, e := range op {
		if !isOperationField(e.Key) {
			return skipf("unsupported operation field %q", e.Key)
		}
	}
	name, object := str(op, "name"), str(op, "object")
	var args bson.D
	if v, ok := lookup(op, "arguments"); ok {
		d, ok := v.(bson.D)
		if !ok {
			return fmt.Errorf("arguments: want a document, got %s", jsonString(v))
		}
		args = d
	}
	// The session argument applies to every entity operation.
	if sv, ok := lookup(args, "session"); ok {
		sid, _ := sv.(string)
		sess, err := st.ents.session(sid)
		if err != nil {
			return err
		}
		ctx = mongo.NewSessionContext(ctx, sess)
		args = without(args, "session")
	}

	var res opResult
	var opErr error
	if object == "testRunner" {
		opErr = st.runSpecial(ctx, name, args)
	} else {
		target, err := st.ents.get(object)
		if err != nil {
			return err
		}
		res, opErr = st.exec(ctx, name, target, args)
	}
	var skip *skipError
	var rerr *runnerError
	if errors.As(opErr, &skip) || errors.As(opErr, &rerr) {
		return opErr
	}

	if b, _ := lookup(op, "ignoreResultAndError"); b == true {
		return nil
	}
	if ev, ok := lookup(op, "expectError"); ok {
		ee, ok := ev.(bson.D)
		if !ok {
			return fmt.Errorf("expectError: want a document")
		}
		if opErr == nil {
			return fmt.Errorf("expected an error, got result %s", describeResult(res))
		}
		return st.checkError(ee, opErr, res)
	}
	if opErr != nil {
		return fmt.Errorf("unexpected error: %w", opErr)
	}
	if exp, ok := lookup(op, "expectResult"); ok {
		if err := st.matchResult(exp, res); err != nil {
			return fmt.Errorf("result: %w", err)
		}
	}
	if id := str(op, "saveResultAsEntity"); id != "" {
		var v any = res.val
		switch {
		case res.entity != nil:
			v = res.entity
		case res.isList:
			v = bson.A(res.list)
		}
		if v == nil {
			return fmt.Errorf("saveResultAsEntity %q: the operation returned no result", id)
		}
		if err := st.ents.add(id, v); err != nil {
			return err
		}
	}
	return nil
}

func (st *testState) matchResult(exp any, res opResult) error {
	if res.isList {
		return st.m.matchRootList(exp, res.list, "")
	}
	// Results that are documents (findOne, findOneAndX, write results,
	// change-stream events, command replies) are root-level documents.
	return st.m.match(exp, res.val, res.val != nil || res.entity != nil || res.null, true, "")
}

func describeResult(res opResult) string {
	switch {
	case res.isList:
		return jsonString(bson.A(res.list))
	case res.entity != nil:
		return fmt.Sprintf("%T", res.entity)
	}
	return jsonString(res.val)
}

// exec dispatches an entity operation on its target's type.
func (st *testState) exec(ctx context.Context, name string, target any, args bson.D) (opResult, error) {
	switch t := target.(type) {
	case *mongo.Collection:
		return st.collectionOp(ctx, name, t, args)
	case *mongo.Database:
		return st.databaseOp(ctx, name, t, args)
	case *clientEntity:
		return st.clientOp(ctx, name, t, args)
	case *mongo.ChangeStream:
		return st.changeStreamOp(ctx, name, t, args)
	case *mongo.Session:
		return st.sessionOp(ctx, name, t, args)
	}
	return opResult{}, skipf("unsupported operation %s on a %T entity", name, target)
}

func (st *testState) sessionOp(ctx context.Context, name string, s *mongo.Session, args bson.D) (opResult, error) {
	switch name {
	case "endSession":
		if len(args) > 0 {
			return opResult{}, unknownArg(name, args[0].Key)
		}
		s.EndSession(ctx)
		return opResult{}, nil
	}
	return opResult{}, skipf("unsupported operation %s", name)
}

func without(d bson.D, key string) bson.D {
	out := make(bson.D, 0, len(d))
	for _, e := range d {
		if e.Key != key {
			out = append(out, e)
		}
	}
	return out
}

// iterate drains a cursor into a list of root-level documents.
func iterate(ctx context.Context, cur *mongo.Cursor, err error) (opResult, error) {
	if err != nil {
		return opResult{}, err
	}
	defer cur.Close(context.WithoutCancel(ctx))
	res := opResult{isList: true, list: []any{}}
	for cur.Next(ctx) {
		res.list = append(res.list, rawToD(cur.Current))
	}
	return res, cur.Err()
}
