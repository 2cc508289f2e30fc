package engine

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Error is a MongoDB-style command or write error raised by the engine. The
// server turns it into {ok: 0, code, codeName, errmsg[, errorLabels]} or a
// writeErrors entry (with keyPattern and keyValue for duplicate keys).
// Errors from query evaluation are returned as *mql.Error unchanged.
type Error struct {
	Code     int32
	CodeName string
	Message  string
	// Labels are error labels such as "TransientTransactionError".
	Labels []string
	// KeyPattern and KeyValue are set for duplicate key errors (11000).
	KeyPattern bson.D
	KeyValue   bson.D
	// ErrInfo is set for document validation failures (121).
	ErrInfo bson.D
	// Extra are further reply fields (collMod's "violations").
	Extra bson.D
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%d): %s", e.CodeName, e.Code, e.Message)
}

// HasLabel reports whether the error carries label.
func (e *Error) HasLabel(label string) bool {
	for _, l := range e.Labels {
		if l == label {
			return true
		}
	}
	return false
}

// Codes the engine returns, named as MongoDB names them.
const (
	CodeBadValue                  int32 = 2
	CodeTypeMismatch              int32 = 14
	CodeFailedToParse             int32 = 9
	CodeNamespaceNotFound         int32 = 26
	CodeIndexNotFound             int32 = 27
	CodeNamespaceExists           int32 = 48
	CodeInvalidOptions            int32 = 72
	CodeInvalidNamespace          int32 = 73
	CodeIndexOptionsConflict      int32 = 85
	CodeIndexKeySpecsConflict     int32 = 86
	CodeWriteConflict             int32 = 112
	CodeSnapshotTooOld            int32 = 239
	CodeSnapshotUnavailable       int32 = 246
	CodeDocumentValidationFailure int32 = 121
	CodeIllegalOperation          int32 = 20
	CodeCannotCreateIndex         int32 = 67
	CodeImmutableField            int32 = 66
	CodeBSONObjectTooLarge        int32 = 10334
	CodeDuplicateKey              int32 = 11000
)

// LabelTransientTransactionError marks errors after which the whole
// transaction may be retried.
const LabelTransientTransactionError = "TransientTransactionError"

func errorf(code int32, codeName, format string, args ...any) *Error {
	return &Error{Code: code, CodeName: codeName, Message: fmt.Sprintf(format, args...)}
}
