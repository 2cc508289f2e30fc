package embedded

import (
	"errors"
	"fmt"
	"slices"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// commandError is a command failure as MongoDB reports it:
// {ok: 0, errmsg, code, codeName[, errorLabels]}.
type commandError struct {
	Code     int32
	CodeName string
	Message  string
	Labels   []string
	// Extra fields follow codeName in the reply (keyPattern/keyValue for
	// duplicate keys).
	Extra bson.D
}

func (e *commandError) Error() string {
	return fmt.Sprintf("%s (%d): %s", e.CodeName, e.Code, e.Message)
}

// errorf builds a *commandError.
func errorf(code int32, codeName, format string, args ...any) *commandError {
	return &commandError{Code: code, CodeName: codeName, Message: fmt.Sprintf(format, args...)}
}

// Codes the core uses, named as MongoDB names them.
const (
	codeInternalError                  int32 = 1
	codeBadValue                       int32 = 2
	codeFailedToParse                  int32 = 9
	codeUnauthorized                   int32 = 13
	codeTypeMismatch                   int32 = 14
	codeIllegalOperation               int32 = 20
	codeNoSuchKey                      int32 = 4
	codeCursorNotFound                 int32 = 43
	codeCommandNotFound                int32 = 59
	codeInvalidOptions                 int32 = 72
	codeOperationFailed                int32 = 96
	codeMaxTimeMSExpired               int32 = 50
	codeNotImplemented                 int32 = 238
	codeTransactionTooOld              int32 = 225
	codeNoSuchTransaction              int32 = 251
	codeTransactionCommitted           int32 = 256
	codeCursorInUse                    int32 = 292
	codeUnsupportedOpQueryCommand      int32 = 352
	codeInvalidUUID                    int32 = 40
	codeConflictingOperationInProgress int32 = 117
	codeMissingDB                      int32 = 40571
	codeTxnNumberNotAllowed            int32 = 50768
)

// codeNames maps codes a failpoint may inject to their names, so the reply
// looks like MongoDB's.
var codeNames = map[int32]string{
	1: "InternalError", 2: "BadValue", 4: "NoSuchKey", 6: "HostUnreachable", 7: "HostNotFound",
	8: "UnknownError", 9: "FailedToParse", 11: "UserNotFound", 13: "Unauthorized", 14: "TypeMismatch",
	20: "IllegalOperation", 24: "LockTimeout", 26: "NamespaceNotFound", 43: "CursorNotFound",
	50: "MaxTimeMSExpired", 59: "CommandNotFound", 63: "StaleShardVersion", 72: "InvalidOptions",
	89: "NetworkTimeout", 91: "ShutdownInProgress", 96: "OperationFailed", 112: "WriteConflict",
	117: "ConflictingOperationInProgress", 133: "FailedToSatisfyReadPreference", 150: "StaleEpoch",
	175: "QueryPlanKilled", 189: "PrimarySteppedDown", 216: "ElectionInProgress", 225: "TransactionTooOld",
	234: "RetryChangeStream", 237: "CursorKilled", 251: "NoSuchTransaction", 256: "TransactionCommitted",
	262: "ExceededTimeLimit", 280: "ChangeStreamFatalError", 286: "ChangeStreamHistoryLost",
	9001: "SocketException", 10107: "NotWritablePrimary", 11000: "DuplicateKey", 11600: "InterruptedAtShutdown",
	11601: "Interrupted", 11602: "InterruptedDueToReplStateChange", 13388: "StaleConfig",
	13435: "NotPrimaryNoSecondaryOk", 13436: "NotPrimaryOrSecondary", 64: "WriteConcernFailed",
	100: "UnsatisfiableWriteConcern", 79: "UnknownReplWriteConcern", 50915: "BackupCursorOpenConflictWithCheckpoint",
}

func codeName(code int32) string {
	if n, ok := codeNames[code]; ok {
		return n
	}
	return fmt.Sprintf("Location%d", code)
}

// retryableWriteCodes get the RetryableWriteError label on retryable writes
// and commit/abortTransaction, as MongoDB 4.4+ attaches it.
var retryableWriteCodes = []int32{6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}

// resumableChangeStreamCodes get the ResumableChangeStreamError label on a
// failed getMore of a change-stream cursor.
var resumableChangeStreamCodes = []int32{6, 7, 89, 91, 133, 150, 189, 234, 262, 9001, 10107, 11600, 11602, 13388, 13435, 13436, 63}

// Error labels.
const (
	labelRetryableWrite           = "RetryableWriteError"
	labelTransientTransaction     = "TransientTransactionError"
	labelResumableChangeStream    = "ResumableChangeStreamError"
	labelUnknownTransactionCommit = "UnknownTransactionCommitResult"
)

// asCommandError converts any handler error into the reply error shape.
func asCommandError(err error) *commandError {
	var ce *commandError
	if errors.As(err, &ce) {
		return ce
	}
	var me *mql.Error
	if errors.As(err, &me) {
		return &commandError{Code: me.Code, CodeName: me.CodeName, Message: me.Message}
	}
	var ee *engine.Error
	if errors.As(err, &ee) {
		ce := &commandError{Code: ee.Code, CodeName: ee.CodeName, Message: ee.Message, Labels: slices.Clone(ee.Labels)}
		if ee.Code == engine.CodeDuplicateKey && ee.KeyPattern != nil {
			ce.Extra = bson.D{{Key: "keyPattern", Value: ee.KeyPattern}, {Key: "keyValue", Value: ee.KeyValue}}
		}
		ce.Extra = append(ce.Extra, ee.Extra...)
		if ee.ErrInfo != nil {
			ce.Extra = append(ce.Extra, bson.E{Key: "errInfo", Value: ee.ErrInfo})
		}
		return ce
	}
	if errors.Is(err, engine.ErrHistoryLost) {
		return errorf(286, "ChangeStreamHistoryLost", "%v", err)
	}
	return errorf(codeInternalError, "InternalError", "%v", err)
}

func (e *commandError) hasLabel(l string) bool { return slices.Contains(e.Labels, l) }

func (e *commandError) addLabel(l string) {
	if !e.hasLabel(l) {
		e.Labels = append(e.Labels, l)
	}
}

// errorBody is the reply body of a failed command (before ok is appended
// as the first field by the caller).
func (e *commandError) body() bson.D {
	d := bson.D{
		{Key: "errmsg", Value: e.Message},
		{Key: "code", Value: e.Code},
		{Key: "codeName", Value: e.CodeName},
	}
	d = append(d, e.Extra...)
	if len(e.Labels) > 0 {
		d = append(d, bson.E{Key: "errorLabels", Value: e.Labels})
	}
	return d
}
