package embedded

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// This file is the contract between the server core (wire protocol,
// connections, sessions, transactions, failpoints, cursors: server.go,
// conn.go, session.go, cursor.go, failpoint.go ...) and the command handlers
// (cmd_*.go). Keep it small and stable.

// request is one decoded command as a handler sees it.
type request struct {
	// Name is the command name: the first key of the command document,
	// exactly as the client sent it.
	Name string
	// DB is the target database ($db).
	DB string
	// Body is the whole command document. OP_MSG document sequences
	// (kind-1 sections such as "documents", "updates", "deletes") have been
	// merged into it as arrays under their identifiers.
	Body bson.D
	// Session is the logical session named by lsid, or nil.
	Session *session
	// Txn is non-nil while the command runs inside a multi-document
	// transaction; handlers then read and write through it instead of
	// auto-committing.
	Txn txnHandle
	// Now is when the command started executing.
	Now time.Time
	// opTime, set by a handler, is the reply's operationTime: the time of
	// the write the command made (a transaction's commit), as on MongoDB.
	// Zero: the cluster time when the reply is made. (That is later than
	// the command's own write when another write committed in between: a
	// client matching change events with its own writes by operationTime
	// then took that other write for its own.)
	opTime bson.Timestamp
	// dropConn, set by a handler, closes the connection instead of
	// replying once the command has run (onPrimaryTransactionalWrite: the
	// client sees a network error whatever the command did).
	dropConn bool
}

// handler executes one command. It returns the reply body WITHOUT "ok",
// "operationTime" and "$clusterTime" (the core adds them). A returned error
// that is a *mql.Error or *commandError becomes {ok: 0, errmsg, code,
// codeName[, errorLabels]}; any other error becomes InternalError (code 1).
type handler func(ctx context.Context, s *Server, req *request) (bson.D, error)

// cursorSource feeds a server-side cursor (find, aggregate, listCollections,
// listIndexes, change streams). The core owns cursor ids, batching by
// batchSize and the 16 MiB reply limit, getMore/killCursors and reaping.
type cursorSource interface {
	// Next returns up to n documents (n <= 0 means "as many as fit").
	// Tailable sources (change streams) wait up to maxAwait for the first
	// document; others never wait. done reports that the source is
	// exhausted (the cursor id becomes 0).
	Next(ctx context.Context, n int, maxAwait time.Duration) (docs []bson.Raw, done bool, err error)
	// PostBatchResumeToken is the change-stream high-water mark after the
	// last Next, or nil for ordinary cursors.
	PostBatchResumeToken() bson.Raw
	// Close releases the source. It is called once.
	Close()
}
