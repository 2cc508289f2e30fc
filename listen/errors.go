package listen

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// ErrHistoryLost is wrapped by Err() (or returned by Listen) when the server
// no longer holds the change history needed to resume (error 286
// ChangeStreamHistoryLost) and the HistoryLostPolicy is HistoryLostFail.
// Events between the last checkpoint and now are unrecoverable from the
// stream; see docs/listening.md for the runbook.
var ErrHistoryLost = errors.New("listen: change stream history lost (286)")

// ErrInvalidated is wrapped by Err() when the collection was dropped or
// renamed (an invalidate event) and the InvalidatePolicy is InvalidateStop.
var ErrInvalidated = errors.New("listen: change stream invalidated")

// ErrNotReplicaSet is returned by Listen when the server cannot run change
// streams because it is a standalone, not a replica set or sharded cluster.
var ErrNotReplicaSet = errors.New("listen: change streams need a replica set or sharded cluster")

// ErrSlowListener is wrapped by Err() when a listener with SlowListenerFail
// let its buffer fill up.
var ErrSlowListener = errors.New("listen: listener buffer full")

// ErrHandler is wrapped by Err() when a handler kept failing (after retries)
// under HandlerFailureStop, and by the errors passed to the error handler
// for each exhausted event.
var ErrHandler = errors.New("listen: handler failed")

// ErrInvalidConfig is returned by Listen (wrapped, with every offending
// option named) when an option's value is invalid.
var ErrInvalidConfig = errors.New("listen: invalid config")

// ErrReconnectGaveUp is wrapped by Err() when the reconnect backoff policy
// stopped retrying a resumable error.
var ErrReconnectGaveUp = errors.New("listen: gave up reconnecting")

// ErrorClass is how the engine reacts to a change-stream error.
type ErrorClass int

const (
	// Fatal errors end the subscription: bad pipeline, auth, not a replica
	// set, unknown server errors.
	Fatal ErrorClass = iota
	// Resumable errors reopen the stream from the last token: network
	// errors, a connection pool the driver cleared (after another
	// operation on the client lost its connection), errors labelled
	// ResumableChangeStreamError, not-primary and shutdown codes.
	Resumable
	// HistoryLost is error 286: the resume point fell out of the oplog.
	HistoryLost
)

func (c ErrorClass) String() string {
	switch c {
	case Resumable:
		return "resumable"
	case HistoryLost:
		return "history-lost"
	default:
		return "fatal"
	}
}

// resumableCodes are the server codes the change-streams spec lists as
// resumable for servers that do not send the ResumableChangeStreamError
// label, plus CursorNotFound.
var resumableCodes = [...]int32{6, 7, 43, 63, 89, 91, 133, 150, 189, 234, 262, 9001, 10107, 11600, 11602, 13388, 13435, 13436}

const (
	codeHistoryLost   = 286
	codeNotReplicaSet = 40573
	codeFatalStream   = 280
	labelResumable    = "ResumableChangeStreamError"
	labelNetworkError = "NetworkError"
	msgNotReplicaSet  = "only supported on replica sets"
)

// Classify says how the engine treats err.
func Classify(err error) ErrorClass {
	if err == nil {
		return Fatal
	}
	if errors.Is(err, mongo.ErrClientDisconnected) || errors.Is(err, context.Canceled) {
		return Fatal
	}
	if isRetryablePoolError(err) {
		return Resumable
	}
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		switch {
		case ce.Code == codeHistoryLost:
			return HistoryLost
		case ce.Code == codeFatalStream:
			return Fatal
		case ce.HasErrorLabel(labelResumable), ce.HasErrorLabel(labelNetworkError):
			return Resumable
		}
		for _, c := range resumableCodes {
			if ce.Code == c {
				return Resumable
			}
		}
		return Fatal
	}
	var se mongo.ServerError
	if errors.As(err, &se) {
		if se.HasErrorCode(codeHistoryLost) {
			return HistoryLost
		}
		if se.HasErrorLabel(labelResumable) {
			return Resumable
		}
		return Fatal
	}
	// Network errors, server selection timeouts (server down or restarting)
	// and anything else that did not come from the server: the server may
	// come back, so keep trying (the driver treats these as resumable too).
	return Resumable
}

// isRetryablePoolError reports a client-side connection-pool error the
// driver calls retryable: its pool was cleared (paused) after another
// operation met a network error, and resumes once the server's monitor
// checks it again. The driver hands it over as a CommandError with code 0
// and only the TransientTransactionError label, so without this check it
// would classify as Fatal, and a write failing on a shared client would end
// every stream on it.
func isRetryablePoolError(err error) bool {
	var rp interface{ Retryable() bool }
	return errors.As(err, &rp) && rp.Retryable()
}

func isNotReplicaSet(err error) bool {
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return ce.Code == codeNotReplicaSet || strings.Contains(ce.Message, msgNotReplicaSet)
	}
	return false
}

// ReconnectError is passed to the error handler each time the shared stream
// fails with a resumable error and is about to reopen.
type ReconnectError struct {
	// Attempt counts consecutive failures, from 1.
	Attempt int
	Err     error
}

func (e *ReconnectError) Error() string {
	return fmt.Sprintf("listen: change stream failed (attempt %d), reconnecting: %v", e.Attempt, e.Err)
}

func (e *ReconnectError) Unwrap() error { return e.Err }

// HandlerError reports an event the handler did not handle: after all
// retries under the retry policy, or because it did not decode.
type HandlerError struct {
	// Token is the event's resume token; the checkpoint does not move past
	// it unless the policy is HandlerFailureSkip.
	Token bson.Raw
	// Raw is the event (or snapshot document).
	Raw      bson.Raw
	Attempts int
	Err      error
}

func (e *HandlerError) Error() string {
	return fmt.Sprintf("%v after %d attempt(s) on event %s: %v", ErrHandler, e.Attempts, e.Token.String(), e.Err)
}

func (e *HandlerError) Unwrap() []error { return []error{ErrHandler, e.Err} }

// PanicError is a recovered handler panic, treated as a handler error.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("listen: handler panicked: %v", e.Value) }

// Gap is the stretch of history a listener could not see after error 286 under
// HistoryLostRestartFromNow or HistoryLostResnapshot.
type Gap struct {
	// FromToken is the last token the listener had handled (nil if none).
	FromToken bson.Raw
	// FromTime is the cluster time of the last handled event (zero if none).
	FromTime bson.Timestamp
	// ToToken is the token of the new stream's start position.
	ToToken bson.Raw
	// Err is the 286 error.
	Err error
}

// GapError is passed to the error handler when history was lost and the
// listener continued under a non-failing policy.
type GapError struct{ Gap Gap }

func (e *GapError) Error() string {
	return fmt.Sprintf("listen: history lost after cluster time %v (token %s); events before the restart at %s may be missing: %v",
		e.Gap.FromTime, e.Gap.FromToken.String(), e.Gap.ToToken.String(), e.Gap.Err)
}

func (e *GapError) Unwrap() []error { return []error{ErrHistoryLost, e.Gap.Err} }
