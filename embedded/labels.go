package embedded

import "go.mongodb.org/mongo-driver/v2/bson"

// transientTxnCodes always get the TransientTransactionError label inside
// a transaction: the transaction failed with no lasting effect, so running
// it again from the start is safe. They are mongod's list in
// isTransientTransactionError: WriteConflict, LockTimeout,
// PreparedTransactionInProgress, the snapshot errors (SnapshotTooOld,
// StaleChunkHistory, SnapshotUnavailable) and the retargeting errors
// (StaleShardVersion, StaleEpoch, StaleDbVersion, StaleConfig).
var transientTxnCodes = []int32{112, 24, 267, 239, 241, 246, 63, 150, 249, 13388}

// isTransientTxnError reports whether a transaction command's error gets
// TransientTransactionError, following mongod: NoSuchTransaction does on
// commitTransaction/abortTransaction only without a writeConcernError (the
// commit may be durable then), and on every other statement the retryable
// errors (network, not primary, shutdown) do too.
func isTransientTxnError(code int32, commitOrAbort, hasWCE bool) bool {
	if containsCode(transientTxnCodes, code) {
		return true
	}
	if commitOrAbort {
		return code == codeNoSuchTransaction && !hasWCE
	}
	return code == codeNoSuchTransaction || containsCode(retryableWriteCodes, code)
}

// wceErrorLabels are the errorLabels of a successful reply carrying a
// writeConcernError. A failpoint's data.errorLabels replace the server's
// own, as on mongod; otherwise a retryable code on a retryable write or
// commit/abortTransaction gets RetryableWriteError, and on
// commitTransaction also UnknownTransactionCommitResult (the commit may or
// may not have been applied).
func wceErrorLabels(req *request, info sessionFields, wce bson.D, failpointLabels []string) []string {
	if failpointLabels != nil {
		return failpointLabels
	}
	if _, has := lookup(wce, "errorLabels"); has {
		return nil
	}
	code, ok := wceCode(wce)
	if !ok || !containsCode(retryableWriteCodes, code) {
		return nil
	}
	switch {
	case req.Name == "commitTransaction":
		return []string{labelRetryableWrite, labelUnknownTransactionCommit}
	case req.Name == "abortTransaction" || info.isRetryableWrite(req.Name):
		return []string{labelRetryableWrite}
	}
	return nil
}
