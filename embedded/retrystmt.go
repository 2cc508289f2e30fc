package embedded

import (
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// stmtRecord is what one executed statement of a retryable write added to
// its command's reply.
type stmtRecord struct {
	n, nModified int64
	upserted     bson.A
}

// executedStmts are the statements a retryable write executed, by index,
// under txnNumber. mongod records each statement of a retryable write as it
// commits, so that a retry after a partial failure (the connection lost
// midway, onPrimaryTransactionalWrite) applies only the statements that did
// not commit and reports the others' results without applying them again.
type executedStmts struct {
	txnNumber int64
	byIndex   map[int]stmtRecord
}

// retryableWrite is a retryable write command in progress: its statements
// are recorded in its session (whose lock the command holds).
type retryableWrite struct {
	s    *Server
	req  *request
	sess *session
}

// retryableWriteOf returns the retryable write req is, or nil: a command
// with a session and a txnNumber outside a multi-document transaction.
func (s *Server) retryableWriteOf(req *request) *retryableWrite {
	if req.Session == nil || req.Txn != nil {
		return nil
	}
	if _, ok := lookup(req.Body, "txnNumber"); !ok {
		return nil
	}
	if _, ok := lookup(req.Body, "autocommit"); ok {
		return nil
	}
	return &retryableWrite{s: s, req: req, sess: req.Session}
}

// failedBeforeCommit is onPrimaryTransactionalWrite's
// failBeforeCommitExceptionCode: it fails the whole command, not one
// statement, so nothing of this attempt is replayed on a retry.
type failedBeforeCommit struct{ *commandError }

// exec runs statement i through f, which adds its result to w. A statement
// this write already executed (an earlier attempt) is not run again: its
// recorded result is added instead. Otherwise onPrimaryTransactionalWrite
// gets one activation first. With r nil (not a retryable write) exec is f.
func (r *retryableWrite) exec(i int, w *writeReply, f func() error) error {
	if r == nil {
		return f()
	}
	done := r.sess.stmts
	if done.byIndex != nil && done.txnNumber == r.sess.txnNumber {
		if rec, ok := done.byIndex[i]; ok {
			w.n += rec.n
			w.nModified += rec.nModified
			w.upserted = append(w.upserted, rec.upserted...)
			return nil
		}
	} else {
		r.sess.stmts = executedStmts{txnNumber: r.sess.txnNumber, byIndex: map[int]stmtRecord{}}
	}
	if act := r.s.failpoints.matchTxnWrite(); act != nil {
		if act.closeConn {
			r.req.dropConn = true
		}
		if act.failBefore != nil {
			code := *act.failBefore
			return failedBeforeCommit{errorf(code, codeName(code),
				"Failing write for txnNumber %d due to failpoint. The write must not be reflected.", r.sess.txnNumber)}
		}
	}
	n, nModified, upserted := w.n, w.nModified, len(w.upserted)
	if err := f(); err != nil {
		return err
	}
	r.sess.stmts.byIndex[i] = stmtRecord{
		n: w.n - n, nModified: w.nModified - nModified, upserted: slices.Clone(w.upserted[upserted:]),
	}
	return nil
}
