package embedded

import (
	"bytes"
	"context"
	"math"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// ops is where a handler reads and writes: the command's transaction, or
// the auto-committing engine.
func (s *Server) ops(req *request) engine.Ops {
	if req.Txn != nil {
		return req.Txn
	}
	return s.engine
}

// txnLifetimeLimit is MongoDB's default transactionLifetimeLimitSeconds:
// an open transaction older than this is aborted.
const txnLifetimeLimit = 60 * time.Second

// coreNotInTxn are core commands MongoDB refuses inside a transaction (the
// session commands would also wait on the lock their own command holds).
var coreNotInTxn = map[string]bool{
	"endSessions": true, "killSessions": true, "killAllSessions": true, "refreshSessions": true,
	"configureFailPoint": true, "hello": true, "isMaster": true, "ismaster": true, "ping": true,
	"buildInfo": true, "buildinfo": true, "serverStatus": true, "replSetGetStatus": true,
}

func noSuchTxn(format string, args ...any) *commandError {
	ce := errorf(codeNoSuchTransaction, "NoSuchTransaction", format, args...)
	ce.Labels = []string{labelTransientTransaction}
	return ce
}

// beginTxn applies the transaction rules for a command with autocommit:
// false; the session lock is held.
func (op *sessionOp) beginTxn() *commandError {
	sess, f, name := op.sess, op.info, op.req.Name
	if coreNotInTxn[name] {
		return errorf(263, "OperationNotSupportedInTransaction", "Cannot run '%s' in a multi-document transaction.", name)
	}
	if f.txnNumber < sess.txnNumber {
		return errorf(codeTransactionTooOld, "TransactionTooOld",
			"Cannot start transaction %d on session because a newer transaction %d has already started", f.txnNumber, sess.txnNumber)
	}
	if f.startTxn {
		if f.txnNumber == sess.txnNumber {
			if sess.txnState == txnCommitted {
				return errorf(codeTransactionCommitted, "TransactionCommitted",
					"Transaction with { txnNumber: %d } has been committed", f.txnNumber)
			}
			return errorf(codeConflictingOperationInProgress, "ConflictingOperationInProgress",
				"Transaction %d has already been started on this session", f.txnNumber)
		}
		if name == "commitTransaction" || name == "abortTransaction" {
			return errorf(codeInvalidOptions, "InvalidOptions", "%s cannot start a transaction", name)
		}
		if ce := checkTxnReadConcern(op.req.Body); ce != nil {
			return ce
		}
		sess.abortTxnLocked()
		n := f.txnNumber
		sess.txnNumber = n
		sess.retryReply = nil
		sess.txn = op.s.engine.Begin(engine.TxnMeta{LSID: sess.lsid, TxnNumber: &n})
		sess.txnState = txnInProgress
		sess.txnStarted = op.req.Now
		op.req.Txn = sess.txn
		return nil
	}
	if name == "commitTransaction" && (f.txnNumber > sess.txnNumber || sess.txnState == txnNone) &&
		op.s.txnCommitted(sess.lsid, f.txnNumber) {
		// A retried commit of a transaction this server committed before
		// a restart (the session table did not survive it; the oplog
		// did): it succeeds again, as MongoDB's persisted transaction
		// table makes it.
		sess.txnNumber, sess.txnState, sess.commitTS = f.txnNumber, txnCommitted, bson.Timestamp{}
		op.replay = bson.D{}
		return nil
	}
	if f.txnNumber != sess.txnNumber || sess.txnState == txnNone {
		return noSuchTxn("Given transaction number %d does not match any in-progress transactions. The active transaction number is %d",
			f.txnNumber, sess.txnNumber)
	}
	switch sess.txnState {
	case txnCommitted:
		switch name {
		case "commitTransaction":
			op.replay = bson.D{} // a retried commit succeeds again
			op.req.opTime = sess.commitTS
			return nil
		case "abortTransaction":
			return errorf(codeTransactionCommitted, "TransactionCommitted",
				"Cannot abort transaction %d: it has been committed", f.txnNumber)
		}
		return errorf(codeTransactionCommitted, "TransactionCommitted",
			"Transaction with { txnNumber: %d } has been committed", f.txnNumber)
	case txnAborted:
		return noSuchTxn("Transaction with { txnNumber: %d } has been aborted", f.txnNumber)
	}
	if f.hasRC {
		return errorf(codeInvalidOptions, "InvalidOptions", "Only the first command in a transaction may specify a readConcern")
	}
	if f.hasWC && name != "commitTransaction" && name != "abortTransaction" {
		return errorf(codeInvalidOptions, "InvalidOptions", "Cannot set write concern after starting a transaction")
	}
	op.req.Txn = sess.txn
	return nil
}

func checkTxnReadConcern(body bson.D) *commandError {
	v, ok := lookup(body, "readConcern")
	if !ok {
		return nil
	}
	d, _ := v.(bson.D)
	lv, ok := lookup(d, "level")
	if !ok {
		return nil
	}
	switch lv {
	case "local", "majority", "snapshot":
		return nil
	}
	return errorf(codeInvalidOptions, "InvalidOptions", "read concern level %v is not supported in a transaction (use local, majority or snapshot)", lv)
}

// finishTxn: a failed command aborts the transaction, as on MongoDB.
func (op *sessionOp) finishTxn(body bson.D, err error) {
	sess := op.sess
	if op.replay != nil || sess.txnState != txnInProgress {
		return
	}
	failed := err != nil
	if !failed {
		if we, ok := lookup(body, "writeErrors"); ok {
			if a, ok := we.(bson.A); ok && len(a) > 0 {
				failed = true
			}
		}
	}
	if failed && op.req.Name != "commitTransaction" {
		sess.abortTxnLocked()
	}
}

// cmdCommitTransaction commits the session's transaction (the session lock
// is held by the dispatcher; beginTxn checked the state).
func cmdCommitTransaction(_ context.Context, s *Server, req *request) (bson.D, error) {
	if req.Session == nil || req.Txn == nil {
		return nil, errorf(codeInvalidOptions, "InvalidOptions", "commitTransaction must be run within a transaction (lsid, txnNumber and autocommit: false)")
	}
	if req.DB != "admin" {
		return nil, errorf(codeUnauthorized, "Unauthorized", "commitTransaction may only be run against the admin database")
	}
	sess := req.Session
	ts, err := req.Txn.Commit()
	if err != nil {
		sess.txnState = txnAborted
		return nil, err
	}
	sess.txnState, sess.commitTS, req.opTime = txnCommitted, ts, ts
	return bson.D{}, nil
}

// cmdAbortTransaction aborts the session's transaction.
func cmdAbortTransaction(_ context.Context, s *Server, req *request) (bson.D, error) {
	if req.Session == nil || req.Txn == nil {
		return nil, errorf(codeInvalidOptions, "InvalidOptions", "abortTransaction must be run within a transaction (lsid, txnNumber and autocommit: false)")
	}
	if req.DB != "admin" {
		return nil, errorf(codeUnauthorized, "Unauthorized", "abortTransaction may only be run against the admin database")
	}
	req.Session.abortTxnLocked()
	return bson.D{}, nil
}

// txnCommitted reports whether the retained oplog holds a commit of
// transaction txnNumber of session lsid. A commit older than the oplog
// window is not found.
func (s *Server) txnCommitted(lsid bson.Raw, txnNumber int64) bool {
	first := s.engine.OplogFirst()
	if first == (engine.Position{}) {
		return false
	}
	// Just before first: OplogRead returns entries after a position.
	after := first
	switch {
	case after.Index > 0:
		after.Index--
	case after.TS.I > 0:
		after.TS.I--
		after.Index = math.MaxUint32
	default:
		after.TS.T--
		after.TS.I = math.MaxUint32
		after.Index = math.MaxUint32
	}
	for {
		entries, err := s.engine.OplogRead(after, 1024)
		if err != nil || len(entries) == 0 {
			return false
		}
		for _, e := range entries {
			if e.TxnNumber != nil && *e.TxnNumber == txnNumber && bytes.Equal(e.LSID, lsid) {
				return true
			}
		}
		after = entries[len(entries)-1].Pos
	}
}
