package listen

import (
	"bytes"
	"context"
	"fmt"
	"github.com/mongotide/mongotide/internal/ctxwait"
	"github.com/mongotide/mongotide/internal/goid"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// stream owns one server change stream and fans its events out. Only its run
// goroutine touches cs (the driver's ChangeStream is not goroutine-safe),
// and every event is copied out of cs.Current before the next call.
type stream struct {
	hub       *Hub
	key       streamKey
	coll      *mongo.Collection
	pipeline  mongo.Pipeline
	fullDoc   options.FullDocument
	before    options.FullDocument
	maxAwait  time.Duration
	reconnect func() backoff.BackOff
	logger    *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu         sync.Mutex
	listeners  []*core // copy-on-write: dispatch reads a snapshot
	dispatched bool
	// opened is non-nil while the initial aggregate runs and closed when it
	// has finished; guarded by the hub's lock (see Hub.join).
	opened     chan struct{}
	closed     bool
	startToken bson.Raw

	reconnects atomic.Uint64
	own        goid.Set

	// Owned by the run goroutine (and by join before run starts).
	cs          *mongo.ChangeStream
	resumeToken bson.Raw

	// position mirrors resumeToken for other goroutines (a joining
	// listener's first checkpoint); written only through setResume.
	position atomic.Pointer[bson.Raw]
}

func newStream(h *Hub, key streamKey, coll *mongo.Collection, cfg *Config, startToken bson.Raw) *stream {
	ctx, cancel := context.WithCancel(context.Background())
	s := &stream{
		hub: h, key: key, coll: coll,
		pipeline:   cfg.Pipeline,
		fullDoc:    cfg.FullDocument,
		before:     cfg.FullDocumentBeforeChange,
		maxAwait:   cfg.MaxAwaitTime,
		reconnect:  cfg.ReconnectBackoff,
		logger:     cfg.Logger,
		ctx:        ctx,
		cancel:     cancel,
		done:       make(chan struct{}),
		startToken: startToken,
	}
	s.setResume(startToken)
	return s
}

func (s *stream) tryAdd(l *core, startToken bson.Raw) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if startToken != nil && (s.dispatched || !bytes.Equal(startToken, s.startToken)) {
		return false
	}
	// Appending in place is safe for snapshots taken earlier: they never
	// look past their own length, and remove always copies. (Copying here
	// made a thousand joins quadratic.)
	s.listeners = append(s.listeners, l)
	l.stream = s
	l.reconnectBase = s.reconnects.Load()
	return true
}

// remove reports whether l was the last listener (the stream is then closed
// to newcomers).
func (s *stream) remove(l *core) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.listeners, l)
	if i >= 0 {
		s.listeners = slices.Delete(slices.Clone(s.listeners), i, i+1)
	}
	if len(s.listeners) == 0 {
		s.closed = true
		return true
	}
	return false
}

func (s *stream) snapshot() []*core {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dispatched = true
	return s.listeners
}

func (s *stream) openInitial(ctx context.Context) error {
	// The caller's context bounds the initial aggregate; the stream's own
	// context takes over once run starts.
	return s.open(ctx, s.resumeToken)
}

func (s *stream) open(ctx context.Context, token bson.Raw) error {
	o := options.ChangeStream().SetMaxAwaitTime(s.maxAwait)
	if s.fullDoc != "" {
		o.SetFullDocument(s.fullDoc)
	}
	if s.before != "" {
		o.SetFullDocumentBeforeChange(s.before)
	}
	if token != nil {
		// startAfter resumes after ordinary events and after invalidates.
		o.SetStartAfter(token)
	}
	pipeline := s.pipeline
	if pipeline == nil {
		pipeline = mongo.Pipeline{}
	}
	cs, err := s.coll.Watch(ctx, pipeline, o)
	if err != nil {
		return err
	}
	s.cs = cs
	if t := cs.ResumeToken(); t != nil {
		s.setResume(clone(t))
	}
	return nil
}

// setResume moves the stream's position (run goroutine, or join before run).
func (s *stream) setResume(t bson.Raw) {
	s.resumeToken = t
	s.position.Store(&t)
}

// at is the stream's position as of now, for any goroutine: every event
// dispatched later is after it.
func (s *stream) at() bson.Raw {
	if p := s.position.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *stream) closeCS() {
	if s.cs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.cs.Close(ctx)
		cancel()
		s.cs = nil
	}
}

func (s *stream) run() {
	s.own.AddSelf() // it calls listeners' OnError (see internal/goid)
	defer close(s.done)
	defer s.closeCS()
	ctx := s.ctx
	bo := s.reconnect()
	attempt := 0
	var lastProgress bson.Raw

	// fail handles an error from open or next; it reports whether run
	// should continue.
	var split splitAssembler
	fail := func(err error) bool {
		s.closeCS()
		if pending, at := split.pending(); pending {
			// Re-read the partly received event from its start.
			s.setResume(at)
			split.reset()
		}
		if ctx.Err() != nil {
			return false
		}
		switch Classify(err) {
		case Resumable:
			attempt++
			s.reconnects.Add(1)
			s.logger.Warn("change stream failed, reconnecting", "ns", s.key.db+"."+s.key.coll, "attempt", attempt, "err", err)
			wait := bo.NextBackOff()
			if wait == backoff.Stop {
				s.failAll(fmt.Errorf("%w after %d attempt(s): %w", ErrReconnectGaveUp, attempt, err))
				return false
			}
			s.broadcastErr(&ReconnectError{Attempt: attempt, Err: err})
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return false
			case <-t.C:
			}
			return true
		case HistoryLost:
			return s.historyLost(ctx, err)
		default:
			s.failAll(err)
			return false
		}
	}

	// busy: the last getMore returned events, so the next one may wait
	// (fetchPause) to come back with more of them at once.
	busy := false
	for ctx.Err() == nil {
		if s.cs == nil {
			if err := s.open(ctx, s.resumeToken); err != nil {
				if !fail(err) {
					return
				}
				continue
			}
			attempt = 0
			bo.Reset()
		}
		if busy && s.cs.RemainingBatchLength() == 0 {
			busy = false
			if d := s.fetchPause(); d > 0 && ctxwait.Sleep(ctx, d) != nil {
				return
			}
		}
		if s.cs.TryNext(ctx) {
			busy = true
			before := s.resumeToken
			raw, err := split.add(clone(s.cs.Current), before)
			s.setResume(clone(s.cs.ResumeToken()))
			if err != nil {
				s.failAll(err)
				return
			}
			if raw == nil {
				continue // more fragments to come
			}
			ev := parseEvent(raw)
			s.dispatch(ctx, ev)
			if ev.op == Invalidate {
				// The server closed the cursor; continue after the
				// invalidate for listeners that want to (the others leave).
				s.closeCS()
				s.setResume(ev.token)
			}
			continue
		}
		if err := s.cs.Err(); err != nil {
			if !fail(err) {
				return
			}
			continue
		}
		if s.cs.ID() == 0 {
			s.closeCS()
			continue
		}
		if pending, _ := split.pending(); pending {
			continue // never checkpoint into the middle of an event
		}
		if pbrt := s.cs.ResumeToken(); pbrt != nil && !bytes.Equal(pbrt, lastProgress) {
			lastProgress = clone(pbrt)
			s.setResume(lastProgress)
			p := progressItem(lastProgress)
			for _, l := range s.snapshot() {
				l.offerProgress(p)
			}
		}
	}
}

// fetchPause is how long run waits, after a getMore that returned events,
// before the next one, so that a busy stream fetches many events per
// round trip instead of about one per write (a getMore returns as soon as
// one event is there). Only streams whose every listener is a ListenBatch
// with a linger wait, half the shortest linger: those listeners hold a
// batch open that long anyway, and a getMore halfway through still joins
// it, up to maxFetchPause. Any other listener makes it 0: its events go
// out at once.
func (s *stream) fetchPause() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d time.Duration
	for i, l := range s.listeners {
		if !l.cfg.batching || l.cfg.BatchLinger <= 0 {
			return 0
		}
		if half := l.cfg.BatchLinger / 2; i == 0 || half < d {
			d = half
		}
	}
	return min(d, maxFetchPause)
}

// maxFetchPause bounds fetchPause: a listener with a long linger must not
// keep the stream from the server (and from listeners that join it later)
// for that long. At 25 ms a busy stream already fetches dozens of events
// per getMore.
const maxFetchPause = 25 * time.Millisecond

// historyLost reopens from now and tells every listener, each of which
// applies its own policy.
func (s *stream) historyLost(ctx context.Context, cause error) bool {
	from := s.resumeToken
	s.setResume(nil)
	for {
		err := s.open(ctx, nil)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		if Classify(err) != Resumable {
			s.failAll(err)
			return false
		}
		s.broadcastErr(&ReconnectError{Attempt: 1, Err: err})
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
	it := &item{kind: itemHistoryLost, err: cause, gap: Gap{FromToken: from, ToToken: s.resumeToken, Err: cause}}
	for _, l := range s.snapshot() {
		l.offer(ctx, it)
	}
	return true
}

func (s *stream) dispatch(ctx context.Context, ev *parsedEvent) {
	it := &item{kind: itemEvent, ev: ev}
	var progress *item // one for all the listeners that skip ev
	ls := s.snapshot()
	ev.solo = len(ls) == 1
	for _, l := range ls {
		if l.accepts(ev) {
			l.offer(ctx, it)
		} else {
			// The listener does not want this event, but its checkpoint
			// may move past it: a heavily filtered listener must not keep
			// a stale token.
			if progress == nil {
				progress = progressItem(ev.token)
			}
			l.offerProgress(progress)
		}
	}
}

func (s *stream) broadcastErr(err error) {
	for _, l := range s.snapshot() {
		l.report(err)
	}
}

// failAll ends the stream for good: it is closed to newcomers first, so no
// listener can join a stream that will never deliver again.
func (s *stream) failAll(err error) {
	s.mu.Lock()
	s.closed = true
	ls := s.listeners
	s.mu.Unlock()
	for _, l := range ls {
		l.kill(err)
	}
}

// parsedEvent is an event copied out of the driver with the fields the
// fan-out needs. Listeners share it read-only.
type parsedEvent struct {
	raw         bson.Raw
	token       bson.Raw
	op          OperationType
	clusterTime bson.Timestamp
	wallTime    time.Time
	docKey      bson.Raw
	// solo is set before the event is offered when the stream has exactly
	// one listener: nobody else decodes it, so the listener decodes its
	// documents straight into its own values instead of deep-copying a
	// shared template (which with one listener is pure overhead).
	solo bool

	evalOnce sync.Once
	evalDoc  bson.D

	wireOnce sync.Once
	wireEv   *wireEvent
	wireErr  error

	idOnce sync.Once
	id     string

	typedMu sync.Mutex
	typed   []*typedDocs
	first   atomic.Pointer[typedDocs] // typed[0], once set
}

// typedDocs is an event's documents decoded into one listener type: a
// template shared read-only by the listeners of that type, which each get a
// deep copy (see deepcopy.go). It is never handed to a handler.
type typedDocs struct {
	t            reflect.Type
	full, before any // *T, nil when absent
	err          error
}

// docsFor returns the event's documents decoded into t, decoding them on the
// first call for t. Listeners of the same type wait for one decode rather
// than each running their own.
func (ev *parsedEvent) docsFor(t reflect.Type, decode func() (full, before any, err error)) *typedDocs {
	// Lock-free for the usual single document type: a thousand listeners
	// otherwise queue on typedMu for every event.
	if d := ev.first.Load(); d != nil && d.t == t {
		return d
	}
	ev.typedMu.Lock()
	defer ev.typedMu.Unlock()
	for _, d := range ev.typed {
		if d.t == t {
			return d
		}
	}
	d := &typedDocs{t: t}
	d.full, d.before, d.err = decode()
	ev.typed = append(ev.typed, d)
	if len(ev.typed) == 1 {
		ev.first.Store(d)
	}
	return d
}

// wire parses the event once for every listener. The result is shared
// read-only; decodeEvent copies what it hands to a handler.
func (ev *parsedEvent) wire() (*wireEvent, error) {
	ev.wireOnce.Do(func() {
		ev.wireEv, ev.wireErr = parseWire(ev.raw)
	})
	return ev.wireEv, ev.wireErr
}

// docID is DocumentID(docKey), computed once per event.
func (ev *parsedEvent) docID() string {
	ev.idOnce.Do(func() { ev.id = DocumentID(ev.docKey) })
	return ev.id
}

func parseEvent(raw bson.Raw) *parsedEvent {
	ev := &parsedEvent{raw: raw}
	// One pass over the event (five LookupErr scans cost four times as
	// much), kept for decodeEvent; a malformed event falls back to the
	// lenient lookups below and reports its error from wire().
	if w, err := parseWire(raw); err == nil {
		ev.token, ev.op, ev.clusterTime, ev.docKey = w.ID, w.OperationType, w.ClusterTime, w.DocumentKey
		if w.WallTime != 0 {
			ev.wallTime = time.UnixMilli(int64(w.WallTime))
		}
		ev.wireOnce.Do(func() { ev.wireEv = w })
		return ev
	}
	if v, err := raw.LookupErr("_id"); err == nil {
		if d, ok := v.DocumentOK(); ok {
			ev.token = bson.Raw(d)
		}
	}
	if v, err := raw.LookupErr("operationType"); err == nil {
		ev.op = OperationType(v.StringValue())
	}
	if v, err := raw.LookupErr("clusterTime"); err == nil {
		t, i, _ := v.TimestampOK()
		ev.clusterTime = bson.Timestamp{T: t, I: i}
	}
	if v, err := raw.LookupErr("wallTime"); err == nil {
		if dt, ok := v.DateTimeOK(); ok {
			ev.wallTime = time.UnixMilli(dt)
		}
	}
	if v, err := raw.LookupErr("documentKey"); err == nil {
		if d, ok := v.DocumentOK(); ok {
			ev.docKey = bson.Raw(d)
		}
	}
	return ev
}

// document returns the document a WithFilter is evaluated against (see
// Config.Filter), decoded once per event however many listeners filter.
func (ev *parsedEvent) document() bson.D {
	ev.evalOnce.Do(func() {
		for _, f := range []string{"fullDocument", "fullDocumentBeforeChange", "documentKey"} {
			v, err := ev.raw.LookupErr(f)
			if err != nil || v.Type != bson.TypeEmbeddedDocument {
				continue
			}
			var d bson.D
			if err := bson.Unmarshal(v.Value, &d); err == nil {
				ev.evalDoc = d
				return
			}
		}
	})
	return ev.evalDoc
}

func clone(b bson.Raw) bson.Raw {
	if b == nil {
		return nil
	}
	return bytes.Clone(b)
}
