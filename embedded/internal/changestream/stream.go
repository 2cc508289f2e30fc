package changestream

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// oplog is what a stream needs from the engine.
type oplog interface {
	OplogRead(after engine.Position, max int) ([]engine.Entry, error)
	OplogLast() engine.Position
	OplogNotify() <-chan struct{}
	FindByID(ns engine.Namespace, id any) (bson.Raw, bool)
}

var _ oplog = (*engine.Engine)(nil)

const (
	// readChunk is how many oplog entries a stream reads at a time.
	readChunk = 512
	// maxScanPerNext bounds the entries one Next examines, so that a
	// selective stream over a long backlog still answers promptly (with an
	// empty batch and an advanced postBatchResumeToken, as MongoDB does).
	maxScanPerNext = 64 * 1024
)

// output is one document ready to be returned.
type output struct {
	doc bson.Raw
	tok token
	// last marks the invalidate event: the stream ends after it.
	last bool
}

// Stream is an open change stream. Next, PostBatchResumeToken and Close may
// be called from different goroutines; Next calls are serialized.
type Stream struct {
	log   oplog
	scope Scope
	kind  scopeKind
	spec  spec
	user  userStages

	// scanLimit is maxScanPerNext (tests lower it).
	scanLimit int

	closed    chan struct{}
	closeOnce sync.Once

	mu sync.Mutex
	// after is the position of the last entry taken from the oplog.
	after engine.Position
	// buf holds entries read but not yet turned into events.
	buf []engine.Entry
	// pending holds documents built but not yet returned.
	pending []output
	// resume, when set, is the event token the stream resumes from: the
	// event at that position is not returned again (or only its fragments
	// after the token's).
	resume *token
	// hwm is the postBatchResumeToken, guarded by hwmMu so that reading it
	// never waits for a blocked Next.
	hwmMu  sync.Mutex
	hwm    token
	hwmRaw bson.Raw
	// stopped is set once an invalidate was queued: nothing after it is
	// read. done is set once it was returned.
	stopped bool
	done    bool
	// err is an error met while building a batch that already had
	// documents; it is returned by the next call, so that the events
	// before the failing one are delivered first.
	err error
}

// Open validates a $changeStream stage (spec is the stage's document) and
// the stages after it, and positions the stream: after the newest oplog
// entry, or at resumeAfter / startAfter / startAtOperationTime. Every error
// MongoDB raises when the aggregate command runs is returned here, with
// MongoDB's code.
func Open(eng *engine.Engine, scope Scope, specDoc bson.D, stages []bson.D) (*Stream, error) {
	if eng == nil {
		return nil, errors.New("changestream: Open needs an engine")
	}
	return open(eng, scope, specDoc, stages)
}

func open(log oplog, scope Scope, specDoc bson.D, stages []bson.D) (*Stream, error) {
	if err := liteParseStages(stages); err != nil {
		return nil, err
	}
	sp, err := parseSpec(specDoc)
	if err != nil {
		return nil, err
	}
	kind, err := checkScope(scope, &sp)
	if err != nil {
		return nil, err
	}
	if err := sp.resolveTokens(); err != nil {
		return nil, err
	}
	user, err := parseStages(stages)
	if err != nil {
		return nil, err
	}
	s := &Stream{log: log, scope: scope, kind: kind, spec: sp, user: user, scanLimit: maxScanPerNext, closed: make(chan struct{})}

	start := sp.resumeAfter
	if start == nil {
		start = sp.startAfter
	}
	switch {
	case start != nil:
		if start.frag > 0 && !user.split {
			return nil, errFatal("Attempting to resume from a split event fragment, but the " +
				"$changeStreamSplitLargeEvent stage is not present in the pipeline")
		}
		switch start.kind {
		case kindEvent:
			// Re-read the event itself: it is not returned again, but an
			// invalidate it causes is, and a split event may continue.
			t := *start
			s.resume = &t
			s.after = prevPos(start.pos)
		default:
			s.after = start.pos
		}
		s.setHWM(*start)
	case sp.startAtOperationTime != nil:
		s.after = engine.Before(*sp.startAtOperationTime)
		s.setHWM(token{pos: s.after, kind: kindHighWater})
	default:
		s.after = log.OplogLast()
		s.setHWM(token{pos: s.after, kind: kindHighWater})
	}

	// Check now that the history is there, so the aggregate itself fails.
	entries, err := log.OplogRead(s.after, readChunk)
	if err != nil {
		if errors.Is(err, engine.ErrHistoryLost) {
			return nil, errHistoryLost()
		}
		return nil, err
	}
	s.buf = entries
	return s, nil
}

func (s *Stream) setHWM(t token) {
	s.hwmMu.Lock()
	s.hwm = t
	s.hwmRaw = nil
	s.hwmMu.Unlock()
}

// PostBatchResumeToken returns the high-water mark after the last Next: the
// token of the last event returned when the batch ended on an event, else a
// token for "every oplog entry up to the last one examined".
func (s *Stream) PostBatchResumeToken() bson.Raw {
	s.hwmMu.Lock()
	defer s.hwmMu.Unlock()
	if s.hwmRaw == nil {
		s.hwmRaw = s.hwm.raw()
	}
	return s.hwmRaw
}

// Close releases the stream and wakes a Next that is waiting. It is
// idempotent.
func (s *Stream) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// Next returns up to n events (n <= 0: as many as fit in 16 MiB), waiting up
// to maxAwait for the first one. done reports that the stream has ended (an
// invalidate was returned, or the stream was closed).
func (s *Stream) Next(ctx context.Context, n int, maxAwait time.Duration) (docs []bson.Raw, done bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-s.closed:
			return nil, true, nil
		default:
		}
		if s.done {
			return nil, true, nil
		}
		if err := s.err; err != nil {
			return nil, false, err
		}
		// Take the notification channel before reading so that an append
		// between the read and the wait is not missed.
		notify := s.log.OplogNotify()
		docs, more, err := s.fill(n)
		if err != nil {
			if len(docs) == 0 {
				return nil, false, err
			}
			s.err = err
		}
		if len(docs) > 0 || more || s.done || maxAwait <= 0 {
			// An empty batch with more to scan returns at once, with the
			// high-water mark advanced, as MongoDB does.
			return docs, s.done, nil
		}
		if timer == nil {
			timer = time.NewTimer(maxAwait)
		}
		select {
		case <-notify:
		case <-timer.C:
			return nil, false, nil
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-s.closed:
			return nil, true, nil
		}
	}
}

// fill returns the documents that are ready, up to n and the batch size
// limit, reading and transforming oplog entries as needed. more reports
// that it stopped scanning before reaching the end of the oplog.
func (s *Stream) fill(n int) (docs []bson.Raw, more bool, err error) {
	var (
		size, scanned int
		hwm           token
		moved         bool
	)
	defer func() {
		if moved {
			s.setHWM(hwm)
		}
	}()
	for n <= 0 || len(docs) < n {
		if len(s.pending) > 0 {
			o := s.pending[0]
			// Each event also costs its array element's header in the
			// reply (type byte, index key, NUL): counting documents only,
			// a stream about 15,000 1-KiB events behind built a reply over
			// the 16 MiB + 16 KiB limit and its getMore failed
			// (BSONObjectTooLarge) instead of returning a shorter batch.
			cost := len(o.doc) + batchElemOverhead
			if len(docs) > 0 && size+cost > maxBatchBytes {
				break
			}
			s.pending[0] = output{}
			s.pending = s.pending[1:]
			docs = append(docs, o.doc)
			size += cost
			hwm, moved = o.tok, true
			if o.last {
				s.done = true
				break
			}
			continue
		}
		if s.stopped {
			break
		}
		if scanned >= s.scanLimit {
			more = true
			break
		}
		if len(s.buf) == 0 {
			entries, err := s.log.OplogRead(s.after, readChunk)
			if err != nil {
				if errors.Is(err, engine.ErrHistoryLost) {
					// The stream fell behind the capped oplog: what MongoDB
					// answers on the getMore of such a stream.
					return docs, false, errHistoryLost()
				}
				return docs, false, err
			}
			if len(entries) == 0 {
				break
			}
			s.buf = entries
		}
		e := &s.buf[0]
		scanned++
		before := len(s.pending)
		if err := s.process(e); err != nil {
			s.pending = s.pending[:before]
			return docs, false, err
		}
		pos := e.Pos
		s.after = pos
		s.buf[0] = engine.Entry{} // let the entry's documents be collected
		s.buf = s.buf[1:]
		if len(s.pending) == before {
			hwm, moved = token{pos: pos, kind: kindHighWater}, true
		}
	}
	if len(s.pending) == 0 {
		s.pending = nil
	}
	return docs, more, nil
}

// process turns one oplog entry into the documents this stream returns for
// it, appended to pending: none, the event (or its fragments), and possibly
// an invalidate.
func (s *Stream) process(e *engine.Entry) error {
	match, invalidates := s.matchEntry(e)
	if r := s.resume; r != nil {
		switch c := e.Pos.Compare(r.pos); {
		case c > 0:
			// The oplog went past the resumed event without it: the event
			// was lost (a crash or a repair dropped it), so resuming would
			// silently skip history. MongoDB fails such a resume the same way.
			return errFatal("cannot resume stream; the resume token was not found. %s", r.raw())
		case c == 0 && !match:
			s.resume = nil // another stream's event: resume after it
		}
	}
	if !match {
		return nil
	}
	var skipEvent bool
	var skipFrags uint32
	if r := s.resume; r != nil {
		switch c := e.Pos.Compare(r.pos); {
		case c == 0:
			skipEvent = r.frag == 0
			skipFrags = r.frag
			s.resume = nil
		case c > 0:
			s.resume = nil
		}
	}

	first := len(s.pending)
	if !skipEvent {
		tok := token{pos: e.Pos, kind: kindEvent}
		ev, err := appendEvent(make([]byte, 0, eventSizeHint(e)), e, tok, &s.spec, s.log.FindByID)
		if err != nil {
			return err
		}
		out, keep, err := s.user.apply(bson.Raw(ev), tok)
		if err != nil {
			return err
		}
		if keep {
			switch {
			case s.user.split && len(out) > maxChangeEventSize:
				frags, err := splitEvent(out, tok, skipFrags)
				if err != nil {
					return err
				}
				s.pending = append(s.pending, frags...)
			case skipFrags > 0:
				return errFatal("Attempted to resume from a split event fragment, but the event in the " +
					"resumed stream was not large enough to be split")
			default:
				if err := checkSize(out, tok); err != nil {
					return err
				}
				s.pending = append(s.pending, output{doc: out, tok: tok})
			}
		}
	}
	if invalidates {
		s.stopped = true
		tok := token{pos: e.Pos, kind: kindInvalidate}
		inv, keep, err := s.user.apply(bson.Raw(appendInvalidate(make([]byte, 0, 128), e)), tok)
		if err != nil {
			return err
		}
		if keep {
			s.pending = append(s.pending, output{doc: inv, tok: tok, last: true})
		} else {
			// A $match may hide the invalidate, but the stream still ends.
			if n := len(s.pending); n > first {
				s.pending[n-1].last = true
			} else {
				s.done = true
			}
		}
	}
	return nil
}

// eventSizeHint is a capacity that usually fits the whole event.
func eventSizeHint(e *engine.Entry) int {
	// The document counts for updates too: updateLookup and post-images
	// are about its size.
	n := 256 + len(e.DocumentKey) + len(e.Document) + len(e.PreImage) + len(e.LSID)
	if e.UpdateDescription != nil {
		n += 64 * (len(e.UpdateDescription.UpdatedFields) + len(e.UpdateDescription.RemovedFields))
	}
	return n
}
