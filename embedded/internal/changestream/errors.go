package changestream

import (
	"fmt"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"github.com/mongotide/mongotide/internal/mql"
)

// Codes this package returns, named as MongoDB names them.
const (
	CodeBadValue              int32 = 2
	CodeFailedToParse         int32 = 9
	CodeTypeMismatch          int32 = 14
	CodeIllegalOperation      int32 = 20
	CodeNoMatchingDocument    int32 = 47
	CodeInvalidOptions        int32 = 72
	CodeInvalidNamespace      int32 = 73
	CodeInvalidResumeToken    int32 = 260
	CodeChangeStreamFatal     int32 = 280
	CodeChangeStreamHistory   int32 = 286
	CodeBSONObjectTooLarge    int32 = 10334
	CodeUnknownField          int32 = 40415
	CodeUnrecognizedStage     int32 = 40324
	CodeNotFirstStage         int32 = 40602
	CodeBadTokenData          int32 = 40647
	CodeBadTokenTypeBits      int32 = 40648
	CodeEmptyToken            int32 = 40649
	CodeMultipleResumeOptions int32 = 40674
	CodeStageNotDocument      int32 = 50808
	CodeKeyStringFormat       int32 = 50811
	CodeResumeAndStartAfter   int32 = 50865
	CodeSplitNotLast          int32 = 7182802
	CodeSplitSpecNotEmpty     int32 = 7182800
)

// LabelNonResumable is the error label MongoDB attaches to change-stream
// errors that a driver must not resume on.
const LabelNonResumable = "NonResumableChangeStreamError"

func errorf(code int32, codeName, format string, args ...any) *mql.Error {
	return mql.Errorf(code, codeName, format, args...)
}

// location names an error the way MongoDB names codes that have no symbolic
// name: "Location<code>".
func location(code int32, format string, args ...any) *mql.Error {
	return mql.Errorf(code, fmt.Sprintf("Location%d", code), format, args...)
}

func labelled(code int32, codeName string, labels []string, format string, args ...any) *engine.Error {
	return &engine.Error{Code: code, CodeName: codeName, Message: fmt.Sprintf(format, args...), Labels: labels}
}

// errHistoryLost is what MongoDB answers when the resume point has left the
// oplog.
func errHistoryLost() *engine.Error {
	return labelled(CodeChangeStreamHistory, "ChangeStreamHistoryLost", []string{LabelNonResumable},
		"Resume of change stream was not possible, as the resume point may no longer be in the oplog.")
}

func errFatal(format string, args ...any) *engine.Error {
	return labelled(CodeChangeStreamFatal, "ChangeStreamFatalError", []string{LabelNonResumable}, format, args...)
}
