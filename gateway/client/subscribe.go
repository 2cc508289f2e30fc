package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/mongotide/mongotide/internal/ctxwait"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Handler handles one change of a Subscription. The subscription's cursor
// moves past the change only when it returns nil; an error ends the
// subscription (Err returns it, Cursor is still before the change), so
// that no change is skipped.
type Handler func(ctx context.Context, ch Change) error

// Subscription is a live stream of the caller's changes over server-sent
// events (GET /v1/changes?live=sse), made by Client.Subscribe. It
// reconnects by itself, from the cursor of the last change its handler
// took, so that nothing is lost or repeated: after a network error, a
// stream silent for longer than Config.HeartbeatTimeout, a 5xx, a 429, or
// the gateway's "end" event (it is stopping: the next connection may reach
// another instance). It never stops silently: it ends only by Stop (Err is
// then nil), by its handler's error, or by a terminal error that reopening
// would not cure, returned by Err: ErrUnauthorized, ErrForbidden,
// ErrCursorRejected, ErrCursorExpired (take a snapshot again), another
// 4xx, or a Config.Backoff that gave up.
type Subscription struct {
	c           *Client
	collections []string
	handler     Handler
	cancel      context.CancelFunc
	done        chan struct{}
	connected   chan struct{} // closed at the first "ready" event
	connOnce    sync.Once

	mu     sync.Mutex
	cursor string
	err    error

	delivered, reconnects, heartbeats atomic.Uint64
}

// SubscriptionStats are a Subscription's counters.
type SubscriptionStats struct {
	Delivered  uint64 // changes the handler took
	Reconnects uint64 // connections opened after the first
	Heartbeats uint64 // heartbeat comments received
}

// Subscribe streams the caller's changes of collections after since to h,
// one at a time and in order, until Stop. Without since it first asks the
// gateway for the current cursor (a plain pull, whose errors it returns:
// a bad token fails here, at once), so that every change committed after
// Subscribe returns is delivered (and possibly some committed just
// before, which the gateway's stream had not read yet: apply changes as
// upserts). ctx bounds that first call only; the
// subscription runs until Stop, Client.Close, or a terminal error (see
// Subscription). Errors it survives go to Config.OnError.
func (c *Client) Subscribe(ctx context.Context, collections []string, since string, h Handler) (*Subscription, error) {
	if h == nil {
		return nil, errors.New("gateway client: Subscribe needs a handler")
	}
	if _, err := pullQuery(collections, since, 0); err != nil {
		return nil, err
	}
	if since == "" {
		p, err := c.Changes(ctx, collections, "", 1)
		if err != nil {
			return nil, err
		}
		since = p.Cursor
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Subscription{
		c:           c,
		collections: append([]string(nil), collections...),
		handler:     h,
		cancel:      cancel,
		done:        make(chan struct{}),
		connected:   make(chan struct{}),
		cursor:      since,
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cancel()
		return nil, ErrClosed
	}
	c.subs[s] = struct{}{}
	c.mu.Unlock()
	go s.run(runCtx)
	return s, nil
}

// Stop ends the subscription and waits for its handler to return (bounded
// by ctx: it returns ctx.Err() then, and the rest ends in the background).
// It is idempotent; after it, Err is nil unless the subscription had
// already ended with an error. The handler's ctx is cancelled by it; a
// handler that wants to end its own subscription returns an error instead
// (Stop called from the handler would wait for the handler until ctx
// ends).
func (s *Subscription) Stop(ctx context.Context) error {
	s.cancel()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Closed is closed when the subscription has ended: by Stop, by its
// handler's error or by a terminal error (see Err).
func (s *Subscription) Closed() <-chan struct{} { return s.done }

// Connected is closed once the first stream is open (the gateway sent its
// "ready" event).
func (s *Subscription) Connected() <-chan struct{} { return s.connected }

// Err returns why the subscription ended: nil while it runs and after
// Stop; the handler's error, or a terminal error (errors.Is with
// ErrUnauthorized, ErrForbidden, ErrCursorRejected, ErrCursorExpired, ...).
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Cursor returns the cursor after the last change the handler took (the
// starting cursor before that): keep it to resume later with Subscribe or
// Changes.
func (s *Subscription) Cursor() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursor
}

// Stats returns the subscription's counters.
func (s *Subscription) Stats() SubscriptionStats {
	return SubscriptionStats{
		Delivered:  s.delivered.Load(),
		Reconnects: s.reconnects.Load(),
		Heartbeats: s.heartbeats.Load(),
	}
}

// errEnded is the gateway's "end" event: it is stopping, reconnect.
var errEnded = errors.New("gateway client: the gateway ended the stream (shutting down)")

// handlerError is a handler's error, which ends the subscription.
type handlerError struct{ err error }

func (e *handlerError) Error() string {
	return "gateway client: subscription handler: " + e.err.Error()
}
func (e *handlerError) Unwrap() error { return e.err }

// terminal says whether err ends a subscription: reconnecting would get
// the same answer (a 4xx other than 429, an answer that is not an event
// stream) or the handler refused a change.
func terminal(err error) bool {
	var he *handlerError
	if errors.As(err, &he) || errors.Is(err, ErrProtocol) {
		return true
	}
	var ae *APIError
	return errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 &&
		ae.Status != http.StatusTooManyRequests && ae.Status != http.StatusRequestTimeout
}

func (s *Subscription) run(ctx context.Context) {
	defer func() {
		s.c.mu.Lock()
		delete(s.c.subs, s)
		s.c.mu.Unlock()
		close(s.done)
	}()
	bo := s.c.cfg.Backoff()
	for first := true; ; first = false {
		if !first {
			s.reconnects.Add(1)
		}
		alive, err := s.stream(ctx)
		if ctx.Err() != nil {
			return // Stop
		}
		if terminal(err) {
			s.fail(err)
			return
		}
		if alive {
			bo.Reset() // a stream that worked: the next failure starts over
		}
		if err != errEnded {
			s.c.cfg.OnError(err)
		}
		d := bo.NextBackOff()
		if d == backoff.Stop {
			s.fail(fmt.Errorf("gateway client: subscription gave up reconnecting: %w", err))
			return
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.RetryAfter > d {
			d = ae.RetryAfter
		}
		if ctxwait.Sleep(ctx, d) != nil {
			return
		}
	}
}

func (s *Subscription) fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	s.c.cfg.Logger.Debug("gateway client: subscription ended", "err", err)
}

// stream runs one connection until it ends; alive says it delivered a
// change or a heartbeat. (A "ready" alone does not count: a stopping
// gateway answers "ready" then "end" at once, and the backoff must not
// start over for that.)
func (s *Subscription) stream(ctx context.Context) (alive bool, err error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The watchdog cuts a connection that stays silent: first until the
	// answer's headers (RequestTimeout), then between lines
	// (HeartbeatTimeout, heartbeats included). It is paused while the
	// handler runs, which reads nothing.
	var silent atomic.Bool
	limit := s.c.cfg.RequestTimeout
	watchdog := time.AfterFunc(limit, func() { silent.Store(true); cancel() })
	defer watchdog.Stop()
	cut := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if silent.Load() {
			return &netError{fmt.Errorf("the event stream was silent for %s (no event, no heartbeat)", limit)}
		}
		return &netError{err}
	}

	q, _ := pullQuery(s.collections, s.Cursor(), 0)
	q.Set("live", "sse")
	rq := request{method: "GET", path: "/v1/changes", query: q}
	req, err := s.c.newRequest(cctx, rq)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	res, err := s.c.cfg.HTTPClient.Do(req)
	if err != nil {
		return false, cut(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
		return false, newAPIError(rq.method, rq.path, res, b)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return false, protocolError("GET /v1/changes?live=sse answered %q, not text/event-stream", ct)
	}
	limit = s.c.cfg.HeartbeatTimeout
	watchdog.Reset(limit)
	rd := &sseReader{r: bufio.NewReader(res.Body), onLine: func() { watchdog.Reset(limit) }, onComment: func() { alive = true; s.heartbeats.Add(1) }}
	for {
		ev, err := rd.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the event stream ended without an end event")
			}
			return alive, cut(err)
		}
		switch ev.event {
		case "ready":
			s.connOnce.Do(func() { close(s.connected) })
		case "change":
			var raw bson.Raw
			if err := bson.UnmarshalExtJSON([]byte(ev.data), false, &raw); err != nil {
				return alive, protocolError("change event %q: %v", ev.data, err)
			}
			ch, err := decodeChange(raw)
			if err != nil {
				return alive, err
			}
			if ev.id == "" {
				return alive, protocolError("a change event without an id (its cursor)")
			}
			ch.Cursor = ev.id
			watchdog.Stop()
			herr := s.handler(ctx, ch)
			if ctx.Err() != nil {
				// Stopped while handling: the change may be half done;
				// the cursor stays before it.
				return alive, ctx.Err()
			}
			if herr != nil {
				return alive, &handlerError{herr}
			}
			s.mu.Lock()
			s.cursor = ev.id
			s.mu.Unlock()
			s.delivered.Add(1)
			alive = true
			watchdog.Reset(limit)
		case "end":
			return alive, errEnded
		case "error":
			var v struct {
				Code string `json:"code"`
			}
			_ = json.Unmarshal([]byte(ev.data), &v)
			e := &APIError{Method: rq.method, Path: rq.path + "?live=sse", Status: http.StatusServiceUnavailable, Code: v.Code, Message: "error event in the stream"}
			if v.Code == "cursor_expired" {
				e.Status = http.StatusGone
			}
			return alive, e
		}
		// Other events are ignored, as EventSource does.
	}
}

// sseEvent is one dispatched server-sent event.
type sseEvent struct{ event, id, data string }

// sseReader parses text/event-stream (the WHATWG rules the gateway's
// events need: fields, multi-line data, comments, CRLF or LF).
type sseReader struct {
	r         *bufio.Reader
	onLine    func() // each line read: the stream is alive
	onComment func()
}

func (p *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	var data []string
	for {
		line, err := p.r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		p.onLine()
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			if data == nil {
				ev = sseEvent{} // nothing to dispatch
				continue
			}
			ev.data = strings.Join(data, "\n")
			return ev, nil
		}
		if strings.HasPrefix(line, ":") {
			p.onComment()
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.event = value
		case "id":
			ev.id = value
		case "data":
			data = append(data, value)
		}
	}
}
