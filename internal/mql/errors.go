package mql

import "fmt"

// Error is a MongoDB-style error: a numeric code, its code name and a message.
// The server layer turns it into {ok: 0, code, codeName, errmsg}.
type Error struct {
	Code     int32
	CodeName string
	Message  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%d): %s", e.CodeName, e.Code, e.Message)
}

// Errorf builds an *Error with the given code and code name.
func Errorf(code int32, codeName, format string, args ...any) *Error {
	return &Error{Code: code, CodeName: codeName, Message: fmt.Sprintf(format, args...)}
}

// Common codes, named as the server names them.
const (
	CodeBadValue               int32 = 2
	CodeFailedToParse          int32 = 9
	CodeTypeMismatch           int32 = 14
	CodeInvalidOptions         int32 = 72
	CodeImmutableField         int32 = 66
	CodeInvalidPath            int32 = 52
	CodeDollarPrefixedField    int32 = 52
	CodeConflictingUpdateOps   int32 = 40
	CodeNoSuchKey              int32 = 4
	CodeLocation40324          int32 = 40324 // unrecognized pipeline stage name
	CodeQueryFeatureNotAllowed int32 = 224
)
