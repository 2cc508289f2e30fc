package embedded

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// session is a logical session (lsid). Commands that need its state
// (retryable writes, transactions) run under mu, one at a time; plain
// commands only touch lastUse, so reads on a session never queue.
type session struct {
	key  string   // lsid.id bytes
	lsid bson.Raw // the whole lsid document, carried by transaction oplog entries

	lastUse atomic.Int64 // unix nanoseconds

	mu sync.Mutex
	// txnNumber is the highest txnNumber seen (-1: none yet).
	txnNumber int64
	// retryReply is the reply of the retryable write numbered txnNumber,
	// once it succeeded: a retry with the same number gets it back without
	// applying the write again.
	retryReply bson.D
	// stmts are the statements of the retryable write numbered txnNumber
	// that were applied (retrystmt.go).
	stmts executedStmts
	// txn is the multi-document transaction numbered txnNumber, if any.
	txn        *engine.Txn
	txnState   txnState
	txnStarted time.Time
	// commitTS is the commit time of transaction txnNumber once it
	// committed: a retried commit answers it as its operationTime again.
	commitTS bson.Timestamp
}

// txnHandle is the engine transaction a command runs in: nil outside a
// multi-document transaction.
type txnHandle = *engine.Txn

type txnState uint8

const (
	txnNone txnState = iota
	txnInProgress
	txnCommitted
	txnAborted
)

func (s *session) touch(now time.Time) { s.lastUse.Store(now.UnixNano()) }

// abortTxnLocked aborts an in-progress transaction; s.mu must be held.
func (s *session) abortTxnLocked() {
	if s.txnState == txnInProgress && s.txn != nil {
		s.txn.Abort()
		s.txnState = txnAborted
	}
}

// sessionTable maps lsid.id to sessions.
type sessionTable struct {
	mu sync.Mutex
	m  map[string]*session
}

func newSessionTable() *sessionTable { return &sessionTable{m: make(map[string]*session)} }

func (t *sessionTable) get(key string, lsid bson.D) *session {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.m[key]; ok {
		return s
	}
	raw, _ := bson.Marshal(lsid) // lsid was decoded from valid BSON
	s := &session{key: key, lsid: raw, txnNumber: -1}
	t.m[key] = s
	return s
}

// end forgets a session, aborting its transaction; it reports whether the
// session existed.
func (t *sessionTable) end(key string) bool {
	t.mu.Lock()
	s, ok := t.m[key]
	delete(t.m, key)
	t.mu.Unlock()
	if ok {
		s.mu.Lock()
		s.abortTxnLocked()
		s.mu.Unlock()
	}
	return ok
}

// expire ends sessions unused since before cutoff and returns their keys.
func (t *sessionTable) expire(cutoff time.Time) []string {
	t.mu.Lock()
	var keys []string
	for k, s := range t.m {
		if s.lastUse.Load() < cutoff.UnixNano() {
			keys = append(keys, k)
		}
	}
	t.mu.Unlock()
	for _, k := range keys {
		t.end(k)
	}
	return keys
}

func (t *sessionTable) abortAll() {
	t.mu.Lock()
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	t.mu.Unlock()
	for _, k := range keys {
		t.end(k)
	}
}

// abortStaleTxns aborts transactions running longer than limit, like
// MongoDB's transactionLifetimeLimitSeconds. A session busy with a command
// is skipped and looked at again next time.
func (t *sessionTable) abortStaleTxns(cutoff time.Time) {
	t.mu.Lock()
	var candidates []*session
	for _, s := range t.m {
		candidates = append(candidates, s)
	}
	t.mu.Unlock()
	for _, s := range candidates {
		if !s.mu.TryLock() {
			continue
		}
		if s.txnState == txnInProgress && s.txnStarted.Before(cutoff) {
			s.abortTxnLocked()
		}
		s.mu.Unlock()
	}
}

// sessionFields are the session-related fields of a command.
type sessionFields struct {
	hasLSID    bool
	lsid       bson.D
	key        string
	hasTxnNum  bool
	txnNumber  int64
	autocommit *bool
	startTxn   bool
	hasRC      bool
	hasWC      bool
}

// inTxn reports whether the command belongs to a multi-document transaction.
func (f sessionFields) inTxn() bool { return f.hasTxnNum && f.autocommit != nil && !*f.autocommit }

// retryableWriteCommands are the commands drivers retry with a txnNumber.
var retryableWriteCommands = map[string]bool{
	"insert": true, "update": true, "delete": true, "findAndModify": true, "findandmodify": true, "bulkWrite": true,
}

// isRetryableWrite reports whether the command is a retryable write.
func (f sessionFields) isRetryableWrite(name string) bool {
	return f.hasLSID && f.hasTxnNum && f.autocommit == nil && retryableWriteCommands[name]
}

func parseSessionFields(req *request) (sessionFields, *commandError) {
	var f sessionFields
	for _, e := range req.Body {
		switch e.Key {
		case "lsid":
			d, ok := e.Value.(bson.D)
			if !ok {
				return f, errorf(codeTypeMismatch, "TypeMismatch", "lsid must be a document, not %T", e.Value)
			}
			idv, ok := lookup(d, "id")
			bin, isBin := idv.(bson.Binary)
			if !ok || !isBin || bin.Subtype != 4 || len(bin.Data) != 16 {
				return f, errorf(codeInvalidUUID, "InvalidUUID", "lsid.id must be a UUID (binary subtype 4, 16 bytes)")
			}
			f.hasLSID, f.lsid, f.key = true, d, string(bin.Data)
		case "txnNumber":
			n, ok := e.Value.(int64)
			if !ok {
				return f, errorf(codeTypeMismatch, "TypeMismatch", "txnNumber must be a 64-bit integer (long), not %T", e.Value)
			}
			if n < 0 {
				return f, errorf(codeBadValue, "BadValue", "txnNumber %d is negative", n)
			}
			f.hasTxnNum, f.txnNumber = true, n
		case "autocommit":
			b, ok := e.Value.(bool)
			if !ok {
				return f, errorf(codeTypeMismatch, "TypeMismatch", "autocommit must be a boolean")
			}
			if b {
				return f, errorf(codeInvalidOptions, "InvalidOptions", "autocommit may only be specified as false")
			}
			f.autocommit = &b
		case "startTransaction":
			b, ok := e.Value.(bool)
			if !ok || !b {
				return f, errorf(codeInvalidOptions, "InvalidOptions", "startTransaction may only be specified as true")
			}
			f.startTxn = true
		case "readConcern":
			if d, ok := e.Value.(bson.D); ok && len(d) > 0 {
				f.hasRC = true
			}
		case "writeConcern":
			f.hasWC = true
		}
	}
	if f.hasTxnNum && !f.hasLSID {
		return f, errorf(codeInvalidOptions, "InvalidOptions", "txnNumber requires a session (lsid)")
	}
	if f.autocommit != nil && !f.hasTxnNum {
		return f, errorf(codeInvalidOptions, "InvalidOptions", "autocommit requires a txnNumber")
	}
	if f.startTxn && f.autocommit == nil {
		return f, errorf(codeInvalidOptions, "InvalidOptions", "startTransaction requires autocommit: false")
	}
	return f, nil
}

// sessionOp is a command holding its session's lock.
type sessionOp struct {
	s    *Server
	sess *session
	req  *request
	info sessionFields
	// replay, when set, is the stored reply to return instead of running
	// the command again.
	replay bson.D
}

// beginSession attaches the session to req and, for retryable writes and
// transactions, locks it and applies the txnNumber rules. The returned op
// (nil when no lock is held) must be finished.
func (s *Server) beginSession(_ context.Context, req *request, f sessionFields) (*sessionOp, *commandError) {
	if !f.hasLSID {
		return nil, nil
	}
	sess := s.sessions.get(f.key, f.lsid)
	sess.touch(req.Now)
	req.Session = sess
	if !f.hasTxnNum {
		return nil, nil
	}
	sess.mu.Lock()
	op := &sessionOp{s: s, sess: sess, req: req, info: f}
	var ce *commandError
	if f.inTxn() {
		ce = op.beginTxn()
	} else {
		ce = op.beginRetryableWrite()
	}
	if ce != nil {
		sess.mu.Unlock()
		return nil, ce
	}
	return op, nil
}

func (op *sessionOp) beginRetryableWrite() *commandError {
	sess, f, name := op.sess, op.info, op.req.Name
	if !retryableWriteCommands[name] {
		return errorf(codeTxnNumberNotAllowed, "Location50768",
			"txnNumber may only be provided for multi-document transactions and retryable write commands, not '%s'", name)
	}
	switch {
	case f.txnNumber < sess.txnNumber:
		return errorf(codeTransactionTooOld, "TransactionTooOld",
			"Retryable write with txnNumber %d is prohibited on session because a newer retryable write with txnNumber %d has already started on this session",
			f.txnNumber, sess.txnNumber)
	case f.txnNumber == sess.txnNumber:
		if sess.txnState != txnNone {
			return errorf(codeIllegalOperation, "IllegalOperation",
				"txnNumber %d was used by a multi-document transaction on this session; it cannot be reused for a retryable write", f.txnNumber)
		}
		op.replay = sess.retryReply
	default:
		sess.abortTxnLocked()
		sess.txnNumber = f.txnNumber
		sess.retryReply = nil
		sess.txn = nil
		sess.txnState = txnNone
	}
	return nil
}

// finish records the outcome and releases the session.
func (op *sessionOp) finish(body bson.D, err error) {
	defer op.sess.mu.Unlock()
	if op.info.inTxn() {
		op.finishTxn(body, err)
		return
	}
	if err == nil && op.replay == nil {
		op.sess.retryReply = body
	}
}

// lsidKeys extracts the lsid.id keys from an endSessions/killSessions array.
func lsidKeys(v any) ([]string, *commandError) {
	arr, ok := v.(bson.A)
	if !ok {
		return nil, errorf(codeTypeMismatch, "TypeMismatch", "expected an array of session ids (lsid documents)")
	}
	keys := make([]string, 0, len(arr))
	for _, x := range arr {
		d, ok := x.(bson.D)
		if !ok {
			return nil, errorf(codeTypeMismatch, "TypeMismatch", "session ids must be documents {id: UUID}")
		}
		if len(d) == 0 { // killSessions: [] or [{}] means all sessions
			continue
		}
		idv, _ := lookup(d, "id")
		bin, ok := idv.(bson.Binary)
		if !ok || bin.Subtype != 4 || len(bin.Data) != 16 {
			return nil, errorf(codeInvalidUUID, "InvalidUUID", "session id must be a UUID (binary subtype 4, 16 bytes)")
		}
		keys = append(keys, string(bin.Data))
	}
	return keys, nil
}

// cmdEndSessions ends sessions (endSessions and killSessions): their
// transactions are aborted and their cursors killed.
func cmdEndSessions(_ context.Context, s *Server, req *request) (bson.D, error) {
	keys, ce := lsidKeys(req.Body[0].Value)
	if ce != nil {
		return nil, ce
	}
	for _, k := range keys {
		s.sessions.end(k)
		s.cursors.killSession(k)
	}
	return bson.D{}, nil
}

func cmdRefreshSessions(_ context.Context, s *Server, req *request) (bson.D, error) {
	keys, ce := lsidKeys(req.Body[0].Value)
	if ce != nil {
		return nil, ce
	}
	s.sessions.mu.Lock()
	for _, k := range keys {
		if sess, ok := s.sessions.m[k]; ok {
			sess.touch(req.Now)
		}
	}
	s.sessions.mu.Unlock()
	return bson.D{}, nil
}

// cmdKillAllSessions ends every session (test harnesses send it between
// tests to abort leftover transactions).
func cmdKillAllSessions(_ context.Context, s *Server, req *request) (bson.D, error) {
	if _, ok := req.Body[0].Value.(bson.A); !ok {
		return nil, errorf(codeTypeMismatch, "TypeMismatch", "killAllSessions expects an array of user patterns")
	}
	s.sessions.mu.Lock()
	keys := make([]string, 0, len(s.sessions.m))
	for k := range s.sessions.m {
		keys = append(keys, k)
	}
	s.sessions.mu.Unlock()
	for _, k := range keys {
		s.sessions.end(k)
		s.cursors.killSession(k)
	}
	return bson.D{}, nil
}
