package embedded

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Cursor batching limits, as MongoDB applies them.
const (
	defaultFirstBatch = 101
	// maxReplyDocBytes bounds the documents of one batch: one batch stays
	// under the 16 MiB BSON limit with room for the reply envelope.
	maxReplyDocBytes = 16*1024*1024 - 16*1024
	// defaultAwait is how long a getMore on an awaitData cursor waits for
	// data when it names no maxTimeMS.
	defaultAwait = time.Second
)

// cursorOptions are the cursor-related options of the command that opens a
// cursor (see notes: the contract with the command handlers).
type cursorOptions struct {
	// BatchSize is the first batch's size: -1 when the command gave none
	// (MongoDB's default of 101 documents), 0 for an empty first batch.
	BatchSize int
	// SingleBatch closes the cursor after the first batch.
	SingleBatch bool
	// Tailable marks sources that may wait in Next (change streams).
	Tailable bool
	// AwaitData makes getMore wait up to its maxTimeMS (default 1s).
	AwaitData bool
	// Comment is the opening command's comment.
	Comment any
}

// cursor is a server-side cursor.
type cursor struct {
	id   int64
	ns   string
	src  cursorSource
	opts cursorOptions
	// connID is the connection that last used the cursor: if it drops, the
	// client cannot continue (drivers send no killCursors after a network
	// error), so the cursor is reaped.
	connID  int64
	session string // lsid key, "" without a session

	// Guarded by the registry's mutex.
	lastUse time.Time
	inUse   bool
	killed  bool

	// Owned by whoever holds inUse.
	pending []bson.Raw // documents fetched but not yet returned (size limit)
	done    bool       // the source is exhausted
}

// cursorRegistry owns every open cursor.
type cursorRegistry struct {
	s  *Server
	mu sync.Mutex
	m  map[int64]*cursor
}

func newCursorRegistry(s *Server) *cursorRegistry {
	return &cursorRegistry{s: s, m: make(map[int64]*cursor)}
}

func (r *cursorRegistry) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// newID returns a fresh positive, unpredictable cursor id (MongoDB's are
// random too). The registry lock must be held.
func (r *cursorRegistry) newID() int64 {
	for {
		id := rand.Int64N(1<<62) + 1
		if _, taken := r.m[id]; !taken {
			return id
		}
	}
}

// newCursor runs the first batch of src and, unless it is exhausted or
// single-batch, registers a cursor for getMore. It returns the whole reply
// body {cursor: {firstBatch, [postBatchResumeToken,] id, ns}}.
func (s *Server) newCursor(ctx context.Context, req *request, ns string, src cursorSource, opts cursorOptions) (bson.D, error) {
	cur := &cursor{ns: ns, src: src, opts: opts}
	if c := connFrom(ctx); c != nil {
		cur.connID = c.id
	}
	if req != nil && req.Session != nil {
		cur.session = req.Session.key
	}
	n := opts.BatchSize
	if n < 0 {
		n = defaultFirstBatch
	}
	var docs []bson.Raw
	if n > 0 {
		var err error
		if docs, err = cur.fill(ctx, n, 0); err != nil {
			src.Close()
			return nil, err
		}
	}
	pbrt := cur.postBatchResumeToken(docs)
	id := int64(0)
	if (cur.done && len(cur.pending) == 0) || opts.SingleBatch {
		src.Close()
	} else {
		r := s.cursors
		r.mu.Lock()
		id = r.newID()
		cur.id = id
		cur.lastUse = time.Now()
		r.m[id] = cur
		r.mu.Unlock()
	}
	return cursorReply(id, ns, "firstBatch", docs, pbrt), nil
}

func cursorReply(id int64, ns, batchKey string, docs []bson.Raw, pbrt bson.Raw) bson.D {
	if docs == nil {
		docs = []bson.Raw{}
	}
	c := bson.D{{Key: batchKey, Value: docs}}
	if pbrt != nil {
		c = append(c, bson.E{Key: "postBatchResumeToken", Value: pbrt})
	}
	c = append(c, bson.E{Key: "id", Value: id}, bson.E{Key: "ns", Value: ns})
	return bson.D{{Key: "cursor", Value: c}}
}

// fill returns the next batch: at most n documents (n <= 0: as many as
// fit) and at most maxReplyDocBytes (but always at least one document when
// any is available). Documents beyond the size limit wait in pending.
func (c *cursor) fill(ctx context.Context, n int, wait time.Duration) ([]bson.Raw, error) {
	var out []bson.Raw
	size := 0
	take := func(d bson.Raw) bool {
		if len(out) > 0 && size+len(d) > maxReplyDocBytes {
			return false
		}
		out = append(out, d)
		size += len(d)
		return true
	}
	for len(c.pending) > 0 && (n <= 0 || len(out) < n) {
		if !take(c.pending[0]) {
			return out, nil
		}
		c.pending = c.pending[1:]
	}
	// Held-back documents make a batch of their own: asking the source for
	// more could fail after they left pending, and lose them.
	if len(out) > 0 || c.done {
		return out, nil
	}
	docs, done, err := c.src.Next(ctx, max(n, 0), wait)
	if err != nil {
		return nil, err
	}
	c.done = done
	for i, d := range docs {
		if !take(d) {
			c.pending = append(c.pending, docs[i:]...)
			break
		}
	}
	return out, nil
}

// postBatchResumeToken is the source's high-water mark, unless documents are
// held back: then it is the token of the last returned event, so a resume
// cannot skip the held-back ones.
func (c *cursor) postBatchResumeToken(batch []bson.Raw) bson.Raw {
	pbrt := c.src.PostBatchResumeToken()
	if pbrt == nil || len(c.pending) == 0 {
		return pbrt
	}
	if len(batch) > 0 {
		if v, err := batch[len(batch)-1].LookupErr("_id"); err == nil {
			if d, ok := v.DocumentOK(); ok {
				return bson.Raw(d)
			}
		}
	}
	return nil
}

// checkout marks a cursor in use by a getMore.
func (r *cursorRegistry) checkout(id int64, ns string, connID int64, sessKey string) (*cursor, *commandError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.m[id]
	if !ok {
		return nil, errorf(codeCursorNotFound, "CursorNotFound", "cursor id %d not found", id)
	}
	if c.ns != ns {
		return nil, errorf(codeUnauthorized, "Unauthorized", "Requested getMore on namespace '%s', but cursor belongs to a different namespace %s", ns, c.ns)
	}
	if c.session != "" && sessKey != "" && c.session != sessKey {
		return nil, errorf(50738, "Location50738", "Cannot run getMore on cursor %d, which was created in a different session", id)
	}
	if c.inUse {
		return nil, errorf(codeCursorInUse, "CursorInUse", "cursor id %d is already in use", id)
	}
	c.inUse = true
	c.connID = connID
	return c, nil
}

// release returns a cursor after a getMore; an exhausted or killed cursor
// is removed and closed.
func (r *cursorRegistry) release(c *cursor, remove bool) {
	r.mu.Lock()
	c.inUse = false
	c.lastUse = time.Now()
	closeIt := remove || c.killed
	if closeIt {
		if r.m[c.id] == c {
			delete(r.m, c.id)
		}
	}
	r.mu.Unlock()
	if closeIt {
		c.src.Close()
	}
}

// kill removes a cursor; an in-use cursor is closed by its getMore.
func (r *cursorRegistry) kill(id int64) bool {
	r.mu.Lock()
	c, ok := r.m[id]
	if ok {
		delete(r.m, id)
		c.killed = true
	}
	inUse := ok && c.inUse
	r.mu.Unlock()
	if ok && !inUse {
		c.src.Close()
	}
	return ok
}

func (r *cursorRegistry) killWhere(pred func(*cursor) bool) int {
	r.mu.Lock()
	var victims []*cursor
	for id, c := range r.m {
		if pred(c) {
			delete(r.m, id)
			c.killed = true
			if !c.inUse {
				victims = append(victims, c)
			}
		}
	}
	r.mu.Unlock()
	for _, c := range victims {
		c.src.Close()
	}
	return len(victims)
}

// reapConn kills the cursors a dropped connection used last.
func (r *cursorRegistry) reapConn(connID int64) {
	if n := r.killWhere(func(c *cursor) bool { return c.connID == connID }); n > 0 {
		r.s.logger.Debug("reaped cursors of a closed connection", "conn", connID, "cursors", n)
	}
}

func (r *cursorRegistry) killSession(key string) {
	r.killWhere(func(c *cursor) bool { return c.session == key })
}

func (r *cursorRegistry) expire(cutoff time.Time) {
	r.killWhere(func(c *cursor) bool { return !c.inUse && c.lastUse.Before(cutoff) })
}

func (r *cursorRegistry) killAll() { r.killWhere(func(*cursor) bool { return true }) }

// isChangeStream reports whether the getMore in req targets a tailable
// (change-stream) cursor.
func (r *cursorRegistry) isChangeStream(req *request) bool {
	id, ok := req.Body[0].Value.(int64)
	if !ok {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.m[id]
	return ok && c.opts.Tailable
}

// killForFailedGetMore kills the cursor of a getMore that a failpoint
// failed (MongoDB destroys a cursor whose getMore throws).
func (r *cursorRegistry) killForFailedGetMore(req *request) {
	if id, ok := req.Body[0].Value.(int64); ok {
		r.kill(id)
	}
}

func getMoreNS(req *request) (string, *commandError) {
	v, ok := lookup(req.Body, "collection")
	coll, isStr := v.(string)
	if !ok || !isStr || coll == "" {
		return "", errorf(codeTypeMismatch, "TypeMismatch", "getMore requires 'collection' (a non-empty string)")
	}
	return req.DB + "." + coll, nil
}

// cmdGetMore returns the next batch of a cursor.
func cmdGetMore(ctx context.Context, s *Server, req *request) (bson.D, error) {
	id, ok := req.Body[0].Value.(int64)
	if !ok {
		return nil, errorf(codeTypeMismatch, "TypeMismatch", "Field 'getMore' must be of type long in: getMore (got %T)", req.Body[0].Value)
	}
	ns, ce := getMoreNS(req)
	if ce != nil {
		return nil, ce
	}
	n := 0
	if v, ok := lookup(req.Body, "batchSize"); ok {
		bs, ok := asInt64(v)
		if !ok || bs < 0 {
			return nil, errorf(codeBadValue, "BadValue", "batchSize must be a non-negative integer")
		}
		n = int(bs)
	}
	var connID int64
	if c := connFrom(ctx); c != nil {
		connID = c.id
	}
	sessKey := ""
	if req.Session != nil {
		sessKey = req.Session.key
	}
	cur, ce := s.cursors.checkout(id, ns, connID, sessKey)
	if ce != nil {
		return nil, ce
	}
	wait := time.Duration(0)
	if cur.opts.AwaitData {
		wait = defaultAwait
		if ms, ok := maxTimeMS(req.Body); ok && ms > 0 {
			wait = time.Duration(ms) * time.Millisecond
		}
	}
	docs, err := cur.fill(ctx, n, wait)
	if err != nil {
		s.cursors.release(cur, true) // a failed getMore destroys its cursor
		return nil, err
	}
	pbrt := cur.postBatchResumeToken(docs)
	exhausted := cur.done && len(cur.pending) == 0
	outID := id
	if exhausted {
		outID = 0
	}
	s.cursors.release(cur, exhausted)
	return cursorReply(outID, ns, "nextBatch", docs, pbrt), nil
}

// cmdKillCursors kills cursors by id.
func cmdKillCursors(_ context.Context, s *Server, req *request) (bson.D, error) {
	if _, ok := req.Body[0].Value.(string); !ok {
		return nil, errorf(codeTypeMismatch, "TypeMismatch", "killCursors must name a collection (string)")
	}
	v, ok := lookup(req.Body, "cursors")
	arr, isArr := v.(bson.A)
	if !ok || !isArr {
		return nil, errorf(codeTypeMismatch, "TypeMismatch", "killCursors requires 'cursors' (an array of cursor ids)")
	}
	killed, notFound := bson.A{}, bson.A{}
	for _, x := range arr {
		id, ok := x.(int64)
		if !ok {
			return nil, errorf(codeTypeMismatch, "TypeMismatch", "killCursors: cursor ids must be of type long")
		}
		if s.cursors.kill(id) {
			killed = append(killed, id)
		} else {
			notFound = append(notFound, id)
		}
	}
	return bson.D{
		{Key: "cursorsKilled", Value: killed},
		{Key: "cursorsNotFound", Value: notFound},
		{Key: "cursorsAlive", Value: bson.A{}},
		{Key: "cursorsUnknown", Value: bson.A{}},
	}, nil
}
