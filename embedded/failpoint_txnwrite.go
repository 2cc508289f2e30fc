package embedded

import "go.mongodb.org/mongo-driver/v2/bson"

// onPrimaryTransactionalWrite is mongod's failpoint in the write path of
// retryable writes, which the retryable-writes spec tests use to lose a
// reply or a statement. Each statement a retryable write executes (not one
// it replays from an earlier attempt) is one activation. When it fires the
// connection is closed (data.closeConnection, default true), so the client
// sees a network error and retries; with data.failBeforeCommitExceptionCode
// the statement is also not applied and the command stops there with that
// code, else the statement and the rest of the command are applied and only
// the reply is lost.
const onPrimaryTransactionalWrite = "onPrimaryTransactionalWrite"

// txnWriteAction is what a firing onPrimaryTransactionalWrite does.
type txnWriteAction struct {
	closeConn  bool
	failBefore *int32 // failBeforeCommitExceptionCode
}

func parseTxnWriteData(body bson.D, fp *failpoint) *commandError {
	dv, _ := lookup(body, "data")
	data, _ := dv.(bson.D)
	fp.act.closeConn = true
	for _, e := range data {
		switch e.Key {
		case "closeConnection":
			b, ok := e.Value.(bool)
			if !ok {
				return errorf(codeTypeMismatch, "TypeMismatch", "data.closeConnection must be a boolean")
			}
			fp.act.closeConn = b
		case "failBeforeCommitExceptionCode":
			n, ok := asInt64(e.Value)
			if !ok {
				return errorf(codeTypeMismatch, "TypeMismatch", "data.failBeforeCommitExceptionCode must be an integer")
			}
			c := int32(n)
			fp.act.errorCode = &c
		default:
			return errorf(codeBadValue, "BadValue", "unsupported onPrimaryTransactionalWrite data field %q", e.Key)
		}
	}
	return nil
}

// matchTxnWrite consumes one activation of onPrimaryTransactionalWrite for
// a statement about to be executed by a retryable write; nil when it does
// not fire.
func (f *failpoints) matchTxnWrite() *txnWriteAction {
	if f.armed.Load() == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fp := f.m[onPrimaryTransactionalWrite]
	if fp == nil || !f.activate(fp) {
		return nil
	}
	return &txnWriteAction{closeConn: fp.act.closeConn, failBefore: fp.act.errorCode}
}
