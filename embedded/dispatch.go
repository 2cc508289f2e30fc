package embedded

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/wire"
	"github.com/mongotide/mongotide/internal/bsonx"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// result is what a command produced for the connection to send.
type result struct {
	// body is the complete reply document (ok, $clusterTime... included).
	body bson.D
	// closeConn asks the connection to close without replying (failpoint).
	closeConn bool
	// exhaust makes the connection send this reply with moreToCome and keep
	// streaming (awaitable hello with exhaustAllowed).
	exhaust bool
}

// decodeMsg turns an OP_MSG into a request: the body decoded, document
// sequences merged in as arrays, the command name and $db extracted.
//
// It decodes with bsonx.Decode, which copies binary values: parts of a
// command (documents, filters kept by cursors) outlive the message buffer.
func decodeMsg(m *wire.Msg) (*request, *commandError) {
	if ce := checkMsgSizes(m); ce != nil {
		return nil, ce
	}
	body, err := bsonx.Decode(m.Body)
	if err != nil {
		return nil, errorf(codeFailedToParse, "FailedToParse", "cannot decode the command document: %v", err)
	}
	for _, seq := range m.Sequences {
		for _, e := range body {
			if e.Key == seq.Identifier {
				return nil, errorf(codeFailedToParse, "FailedToParse",
					"duplicate field %q: it is both in the command body and an OP_MSG document sequence", seq.Identifier)
			}
		}
		arr := make(bson.A, 0, len(seq.Documents))
		for _, raw := range seq.Documents {
			d, err := bsonx.Decode(raw)
			if err != nil {
				return nil, errorf(codeFailedToParse, "FailedToParse", "cannot decode a document of sequence %q: %v", seq.Identifier, err)
			}
			arr = append(arr, d)
		}
		body = append(body, bson.E{Key: seq.Identifier, Value: arr})
	}
	if len(body) == 0 {
		return nil, errorf(codeFailedToParse, "FailedToParse", "empty command document: the first field must name the command")
	}
	req := &request{Name: body[0].Key, Body: body}
	dbv, ok := lookup(body, "$db")
	if !ok {
		return nil, errorf(codeMissingDB, "Location40571", "OP_MSG requests require a $db argument")
	}
	db, ok := dbv.(string)
	if !ok || db == "" {
		return nil, errorf(codeTypeMismatch, "TypeMismatch", "$db must be a non-empty string")
	}
	req.DB = db
	return req, nil
}

// commandNS is the namespace a command targets: "db.coll" when its first
// value names a collection (getMore: its collection field), else "db.$cmd".
func commandNS(req *request) string {
	if req.Name == "getMore" {
		if coll, ok := lookup(req.Body, "collection"); ok {
			if s, ok := coll.(string); ok {
				return req.DB + "." + s
			}
		}
	}
	if len(req.Body) > 0 {
		if coll, ok := req.Body[0].Value.(string); ok {
			return req.DB + "." + coll
		}
	}
	return req.DB + ".$cmd"
}

func lookup(d bson.D, key string) (any, bool) {
	for _, e := range d {
		if e.Key == key {
			return e.Value, true
		}
	}
	return nil, false
}

// errorResult is a reply for an error raised before the command ran.
func errorResult(ce *commandError) result {
	return result{body: append(bson.D{{Key: "ok", Value: 0.0}}, ce.body()...)}
}

// runCommand executes one decoded command with failpoints, sessions,
// retryable writes and transactions applied, builds the full reply, and
// counts it for serverStatus.
func (c *conn) runCommand(ctx context.Context, req *request, exhaustAllowed bool) result {
	start := time.Now()
	res := c.execCommand(ctx, req, exhaustAllowed)
	c.s.stats.count(req.Name, res)
	c.s.logCommand(ctx, c.id, req, res, time.Since(start))
	return res
}

func (c *conn) execCommand(ctx context.Context, req *request, exhaustAllowed bool) result {
	s := c.s
	req.Now = time.Now()
	h, ok := s.handlers[req.Name]
	if !ok {
		if ce := checkAPIVersion(req); ce != nil {
			// Under apiStrict, what is not in version 1 says so.
			return s.finishReply(nil, ce)
		}
		return s.finishReply(nil, unknownCommand(req.Name))
	}
	info, ce := parseSessionFields(req)
	if ce != nil {
		return s.finishReply(nil, ce)
	}

	if isHello(req.Name) && c.appName == "" {
		// Before failpoints: failCommand's appName must match the very
		// handshake that announces it.
		c.appName = clientAppName(req.Body)
	}
	if ce := c.checkAuthenticated(req.Name); ce != nil {
		return s.finishReply(nil, ce)
	}
	// The deadline covers a failpoint's block too, as on MongoDB.
	if maxMS, ok := maxTimeMS(req.Body); ok && maxMS > 0 && req.Name != "getMore" && !isHello(req.Name) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(maxMS)*time.Millisecond)
		defer cancel()
	}
	var wce bson.D
	var wceLabels []string // a failpoint's errorLabels for its writeConcernError
	if act := s.failpoints.match(req.Name, c.appName, func() string { return commandNS(req) }); act != nil {
		// MongoDB's order: close, then block, then fail.
		if act.closeConn {
			return result{closeConn: true}
		}
		if act.blockTime > 0 {
			t := time.NewTimer(act.blockTime)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return s.finishReply(nil, asCommandError(s.mapContextError(ctx, ctx.Err())))
			}
		}
		if act.errorCode != nil {
			fe := errorf(*act.errorCode, codeName(*act.errorCode), "Failing command due to 'failCommand' failpoint")
			fe.Extra = act.extra
			switch {
			case act.labels != nil:
				fe.Labels = append([]string{}, act.labels...)
			case req.Name == "getMore" && !act.afterCheckout:
				// failCommand fails getMore before it finds its cursor, so
				// MongoDB cannot tell it is a change stream: no label.
			default:
				s.addServerLabels(fe, req, info)
			}
			if act.afterCheckout {
				// An error inside getMore destroys the cursor, as on MongoDB.
				defer s.cursors.killForFailedGetMore(req)
			}
			return s.finishReply(nil, fe)
		}
		wce, wceLabels = act.wce, act.labels
	}

	if ce := s.checkConcerns(req); ce != nil {
		return s.finishReply(nil, ce)
	}
	if ce := checkAPIVersion(req); ce != nil {
		return s.finishReply(nil, ce)
	}
	op, ce := s.beginSession(ctx, req, info)
	if ce != nil {
		return s.finishReply(nil, ce)
	}
	var body bson.D
	var err error
	if op != nil && op.replay != nil {
		// Clipped: appending to the reply must never write into the
		// stored one's spare capacity.
		body = slices.Clip(op.replay)
	} else {
		body, err = s.callHandler(ctx, h, req)
		if err == nil {
			err = s.awaitDurable(req)
		}
		if err != nil {
			err = s.mapContextError(ctx, s.engineFailure(err))
		}
	}
	if op != nil {
		op.finish(body, err)
	}
	if req.dropConn {
		return result{closeConn: true}
	}
	if err != nil {
		ce := asCommandError(err)
		s.addServerLabels(ce, req, info)
		return s.finishReply(nil, ce)
	}
	if wce == nil {
		wce = unsatisfiedWriteConcern(req)
	}
	if wce != nil {
		body = append(body, bson.E{Key: "writeConcernError", Value: wce})
		if labels := wceErrorLabels(req, info, wce, wceLabels); len(labels) > 0 {
			body = append(body, bson.E{Key: "errorLabels", Value: labels})
		}
	}
	res := s.finishReplyAt(body, req.opTime)
	if code, ok := wceCode(wce); ok && containsCode(notPrimaryCodes, code) {
		res.body = append(res.body, s.topologyVersionElem())
	}
	res.exhaust = exhaustAllowed && isHello(req.Name) && isAwaitable(req.Body)
	return res
}

// callHandler runs a handler, turning a panic into an InternalError reply:
// one bad command must not take down the server and every other client.
func (s *Server) callHandler(ctx context.Context, h handler, req *request) (body bson.D, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("command handler panicked", "command", req.Name, "db", req.DB, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			body, err = nil, errorf(codeInternalError, "InternalError", "internal error while executing %s: %v", req.Name, p)
		}
	}()
	return h(ctx, s, req)
}

func (s *Server) mapContextError(ctx context.Context, err error) error {
	switch {
	case s.ctx.Err() != nil && errors.Is(err, context.Canceled):
		return errorf(11600, "InterruptedAtShutdown", "interrupted at shutdown")
	case errors.Is(err, context.DeadlineExceeded) || (ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded)):
		return errorf(codeMaxTimeMSExpired, "MaxTimeMSExpired", "operation exceeded time limit")
	}
	return err
}

// notPrimaryCodes are the NotPrimaryError category: a replica set member's
// replies carrying them also carry its topologyVersion. Shutdown errors (91,
// 11600) do not (mongod adds it to them only on shard servers), so drivers
// never take a shutdown for stale news and always clear their pool.
var notPrimaryCodes = []int32{189, 10107, 11602, 13435, 13436}

func (s *Server) topologyVersionElem() bson.E {
	return bson.E{Key: "topologyVersion", Value: bson.D{{Key: "processId", Value: s.processID}, {Key: "counter", Value: int64(0)}}}
}

func wceCode(wce bson.D) (int32, bool) {
	v, ok := lookup(wce, "code")
	if !ok {
		return 0, false
	}
	n, ok := asInt64(v)
	return int32(n), ok
}

func containsCode(codes []int32, c int32) bool {
	for _, x := range codes {
		if x == c {
			return true
		}
	}
	return false
}

// addServerLabels attaches the error labels MongoDB adds by itself.
func (s *Server) addServerLabels(ce *commandError, req *request, info sessionFields) {
	switch {
	case info.inTxn() && req.Name != "commitTransaction" && req.Name != "abortTransaction":
		if isTransientTxnError(ce.Code, false, false) {
			ce.addLabel(labelTransientTransaction)
		}
	case req.Name == "commitTransaction" || req.Name == "abortTransaction":
		if isTransientTxnError(ce.Code, true, false) {
			ce.addLabel(labelTransientTransaction)
		}
		if containsCode(retryableWriteCodes, ce.Code) || ce.Code == 50 {
			ce.addLabel(labelRetryableWrite)
		}
		if req.Name == "commitTransaction" && (containsCode(retryableWriteCodes, ce.Code) || ce.Code == 50) {
			ce.addLabel(labelUnknownTransactionCommit)
		}
	case info.isRetryableWrite(req.Name):
		if containsCode(retryableWriteCodes, ce.Code) {
			ce.addLabel(labelRetryableWrite)
		}
	case req.Name == "getMore":
		if s.cursors.isChangeStream(req) && containsCode(resumableChangeStreamCodes, ce.Code) {
			ce.addLabel(labelResumableChangeStream)
		}
	}
}

// finishReply builds the full reply: body (or error), ok, $clusterTime,
// operationTime.
func (s *Server) finishReply(body bson.D, ce *commandError) result {
	var out bson.D
	if ce != nil {
		out = make(bson.D, 0, 8)
		out = append(out, bson.E{Key: "ok", Value: 0.0})
		out = append(out, ce.body()...)
		if containsCode(notPrimaryCodes, ce.Code) {
			// As MongoDB does: drivers then see the error comes from the
			// current topology and do not mark the server unknown.
			out = append(out, s.topologyVersionElem())
		}
	} else {
		out = make(bson.D, 0, len(body)+3)
		out = append(out, body...)
		out = append(out, bson.E{Key: "ok", Value: 1.0})
	}
	return s.appendTimes(out, bson.Timestamp{})
}

// finishReplyAt is finishReply for a command that succeeded, with opTime
// (when not zero) as its operationTime.
func (s *Server) finishReplyAt(body bson.D, opTime bson.Timestamp) result {
	out := make(bson.D, 0, len(body)+3)
	out = append(out, body...)
	out = append(out, bson.E{Key: "ok", Value: 1.0})
	return s.appendTimes(out, opTime)
}

// appendTimes ends a reply with $clusterTime and operationTime (opTime, or
// the cluster time when zero).
func (s *Server) appendTimes(out bson.D, opTime bson.Timestamp) result {
	ts := s.engine.ClusterTime()
	if opTime.IsZero() {
		opTime = ts
	}
	out = append(out,
		bson.E{Key: "$clusterTime", Value: clusterTimeDoc(ts)},
		bson.E{Key: "operationTime", Value: opTime},
	)
	return result{body: out}
}

// clusterTimeDoc is the reply's $clusterTime,
// {clusterTime, signature: {hash: 20 zero bytes, keyId: 0}}, encoded up
// front: every reply carries it, and one small buffer is cheaper than
// bson.Marshal reflecting over two nested documents and a fresh hash.
func clusterTimeDoc(ts bson.Timestamp) bson.Raw {
	var zeroHash [20]byte
	b := make([]byte, 0, 96)
	doc, b := bsoncore.AppendDocumentStart(b)
	b = bsoncore.AppendTimestampElement(b, "clusterTime", ts.T, ts.I)
	sig, b := bsoncore.AppendDocumentElementStart(b, "signature")
	b = bsoncore.AppendBinaryElement(b, "hash", 0, zeroHash[:])
	b = bsoncore.AppendInt64Element(b, "keyId", 0)
	// AppendDocumentEnd fails only for an index outside b, impossible here.
	b, _ = bsoncore.AppendDocumentEnd(b, sig)
	b, _ = bsoncore.AppendDocumentEnd(b, doc)
	return bson.Raw(b)
}

func maxTimeMS(body bson.D) (int64, bool) {
	v, ok := lookup(body, "maxTimeMS")
	if !ok {
		return 0, false
	}
	return asInt64(v)
}

// asInt64 accepts the numeric BSON types drivers use for integer options.
func asInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		if n != float64(int64(n)) {
			return 0, false
		}
		return int64(n), true
	}
	return 0, false
}

// checkConcerns validates readConcern and writeConcern. Everything a single
// node can honour is accepted (majority is the same as local here); what it
// cannot is refused rather than ignored.
func (s *Server) checkConcerns(req *request) *commandError {
	if v, ok := lookup(req.Body, "readConcern"); ok {
		rc, ok := v.(bson.D)
		if !ok {
			return errorf(codeTypeMismatch, "TypeMismatch", "readConcern must be a document")
		}
		for _, e := range rc {
			switch e.Key {
			case "level":
				switch e.Value {
				case "local", "majority", "available", "linearizable", "snapshot":
				default:
					return errorf(codeFailedToParse, "FailedToParse", "readConcern.level %v is not a valid read concern level (local, majority, available, linearizable, snapshot)", e.Value)
				}
			case "afterClusterTime", "afterOpTime":
				// One node: every acknowledged write is already visible.
			case "atClusterTime":
				ts, ok := e.Value.(bson.Timestamp)
				if !ok {
					return errorf(codeTypeMismatch, "TypeMismatch", "readConcern.atClusterTime must be a timestamp")
				}
				// Reads outside transactions read the snapshot history
				// (readOps); a transaction starts at the latest state.
				if st, _ := lookup(req.Body, "startTransaction"); st == true {
					if now := s.engine.ClusterTime(); ts.Before(now) {
						return errorf(codeNotImplemented, "NotImplemented",
							"readConcern.atClusterTime %v is in the past (cluster time is %v): a transaction starting at an earlier snapshot is not supported by the embedded server", ts, now)
					}
				}
			case "provenance":
			default:
				return errorf(codeInvalidOptions, "InvalidOptions", "unknown readConcern field %q", e.Key)
			}
		}
	}
	if v, ok := lookup(req.Body, "writeConcern"); ok {
		wc, ok := v.(bson.D)
		if !ok {
			return errorf(codeTypeMismatch, "TypeMismatch", "writeConcern must be a document")
		}
		for _, e := range wc {
			switch e.Key {
			case "w":
				switch w := e.Value.(type) {
				case string:
					// Any tag is well formed; an unknown one is a
					// writeConcernError (unsatisfiedWriteConcern).
				default:
					n, ok := asInt64(w)
					if !ok || n < 0 {
						return errorf(codeFailedToParse, "FailedToParse", "writeConcern.w must be a non-negative number or \"majority\"")
					}
				}
			case "j", "wtimeout", "fsync", "wtimeoutMS", "provenance":
			default:
				return errorf(codeFailedToParse, "FailedToParse", "unrecognized write concern field: %s", e.Key)
			}
		}
	}
	return nil
}

// apiV1Commands are the commands of Stable API version 1 that this server
// implements; with apiStrict: true every other command is refused.
var apiV1Commands = map[string]bool{
	"abortTransaction": true, "aggregate": true, "collMod": true, "commitTransaction": true, "count": true,
	"create": true, "createIndexes": true, "delete": true, "drop": true, "dropDatabase": true,
	"dropIndexes": true, "endSessions": true, "explain": true, "find": true, "findAndModify": true, "getMore": true,
	"hello": true, "insert": true, "killCursors": true, "listCollections": true, "listDatabases": true,
	"listIndexes": true, "ping": true, "refreshSessions": true, "update": true, "bulkWrite": true,
}

// checkAPIVersion applies the Stable API fields: version "1" only, and
// apiStrict limits commands to that version's.
func checkAPIVersion(req *request) *commandError {
	v, ok := lookup(req.Body, "apiVersion")
	if !ok {
		for _, f := range []string{"apiStrict", "apiDeprecationErrors"} {
			if _, has := lookup(req.Body, f); has {
				return errorf(322, "APIVersionError", "Cannot pass in API parameter field %s without apiVersion", f)
			}
		}
		return nil
	}
	if v != "1" {
		return errorf(322, "APIVersionError", "API version must be \"1\", not %v", v)
	}
	if strict, _ := lookup(req.Body, "apiStrict"); strict == true && !apiV1Commands[req.Name] {
		return errorf(323, "APIStrictError", "Provided apiStrict:true, but the command %s is not in API Version 1", req.Name)
	} else if strict == true {
		return checkAPIStrictStages(req)
	}
	return nil
}
