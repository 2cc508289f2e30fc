package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	graphql "github.com/graph-gophers/graphql-go"
)

// The graphql-transport-ws protocol
// (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md), which
// graphql-go does not ship: it only turns a subscription into a channel.
const subprotocol = "graphql-transport-ws"

// Close codes defined by the protocol.
const (
	closeBadRequest   websocket.StatusCode = 4400
	closeUnauthorized websocket.StatusCode = 4401
	closeForbidden    websocket.StatusCode = 4403
	closeSubprotocol  websocket.StatusCode = 4406
	closeInitTimeout  websocket.StatusCode = 4408
	closeDuplicateID  websocket.StatusCode = 4409
	closeTooManyInits websocket.StatusCode = 4429
)

const (
	defaultInitTimeout  = 3 * time.Second
	defaultWriteTimeout = 5 * time.Second
	// maxWriteTimeout caps Handler.WriteTimeout (see newSchema).
	maxWriteTimeout = 30 * time.Second
)

type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type subscribePayload struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

// Authenticator maps a connection_init payload to the caller's identity,
// or an error that rejects the connection (close 4403).
type Authenticator func(ctx context.Context, payload json.RawMessage) (owner string, err error)

// TokenAuth accepts {"token": "..."} payloads whose token is a key of
// tokens, naming its owner. Real servers verify a session or JWT here.
func TokenAuth(tokens map[string]string) Authenticator {
	return func(_ context.Context, payload json.RawMessage) (string, error) {
		var p struct {
			Token string `json:"token"`
		}
		if len(payload) > 0 {
			if err := json.Unmarshal(payload, &p); err != nil {
				return "", fmt.Errorf("connection_init payload: %w", err)
			}
		}
		owner, ok := tokens[p.Token]
		if !ok {
			return "", errors.New("unknown token")
		}
		return owner, nil
	}
}

// Handler serves GraphQL subscriptions over WebSocket.
type Handler struct {
	Schema *graphql.Schema
	Auth   Authenticator
	// InitTimeout is how long a client may take to send connection_init.
	// Default 3s.
	InitTimeout time.Duration
	// WriteTimeout is how long a message may take to reach a client; a
	// client that does not keep up is disconnected. Default 5s, at most 30s.
	WriteTimeout time.Duration
	// Logger receives connection errors. Default: discard.
	Logger *slog.Logger

	conns sync.WaitGroup
}

// Wait blocks until every connection handler has returned. http.Server's
// Shutdown does not wait for WebSocket (hijacked) connections; call Wait
// after it, once the server's base context is cancelled.
func (h *Handler) Wait() { h.conns.Wait() }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.conns.Add(1)
	defer h.conns.Done()
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{subprotocol}})
	if err != nil {
		return // Accept already wrote the HTTP error
	}
	if c.Subprotocol() != subprotocol {
		c.Close(closeSubprotocol, "Subprotocol not acceptable")
		return
	}
	logger := h.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	initTimeout := h.InitTimeout
	if initTimeout == 0 {
		initTimeout = defaultInitTimeout
	}
	// The connection's context ends when the client goes away or the server
	// shuts down; every subscription derives from it, so a disconnect stops
	// all of the connection's listeners.
	ctx, cancel := context.WithCancel(r.Context())
	conn := &connection{h: h, c: c, ctx: ctx, subs: map[string]context.CancelFunc{}, logger: logger}
	err = conn.serve(initTimeout)
	cancel()
	conn.wg.Wait() // no subscription goroutine outlives the connection
	var ce closeError
	if errors.As(err, &ce) {
		c.Close(ce.code, ce.reason)
		return
	}
	// A client close or a server shutdown is the normal end; anything else
	// (a broken network, a write timeout) is worth a log line.
	if websocket.CloseStatus(err) == -1 && !errors.Is(err, context.Canceled) {
		logger.Debug("graphql-ws connection", "err", err)
	}
	c.CloseNow()
}

// closeError ends a connection with a protocol close code.
type closeError struct {
	code   websocket.StatusCode
	reason string
}

func (e closeError) Error() string { return fmt.Sprintf("close %d: %s", e.code, e.reason) }

type connection struct {
	h      *Handler
	c      *websocket.Conn
	ctx    context.Context
	logger *slog.Logger
	owner  string // set once connection_init was accepted

	mu   sync.Mutex
	subs map[string]context.CancelFunc
	wg   sync.WaitGroup
}

func (cn *connection) serve(initTimeout time.Duration) error {
	// A client that never sends connection_init is closed with 4408.
	initTimer := time.AfterFunc(initTimeout, func() {
		cn.mu.Lock()
		late := cn.owner == ""
		cn.mu.Unlock()
		if late {
			cn.c.Close(closeInitTimeout, "Connection initialisation timeout")
		}
	})
	defer initTimer.Stop()

	for {
		_, data, err := cn.c.Read(cn.ctx)
		if err != nil {
			return err
		}
		var m message
		if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
			return closeError{closeBadRequest, "Invalid message received"}
		}
		switch m.Type {
		case "connection_init":
			if err := cn.init(m.Payload); err != nil {
				return err
			}
		case "ping":
			if err := cn.send(message{Type: "pong"}); err != nil {
				return err
			}
		case "pong":
		case "subscribe":
			if err := cn.subscribe(m); err != nil {
				return err
			}
		case "complete":
			cn.mu.Lock()
			if stop, ok := cn.subs[m.ID]; ok {
				stop()
				delete(cn.subs, m.ID)
			}
			cn.mu.Unlock()
		default:
			return closeError{closeBadRequest, fmt.Sprintf("Unexpected message type %q", m.Type)}
		}
	}
}

func (cn *connection) init(payload json.RawMessage) error {
	cn.mu.Lock()
	initialised := cn.owner != ""
	cn.mu.Unlock()
	if initialised {
		return closeError{closeTooManyInits, "Too many initialisation requests"}
	}
	owner, err := cn.h.Auth(cn.ctx, payload)
	if err != nil || owner == "" {
		return closeError{closeForbidden, "Forbidden"}
	}
	cn.mu.Lock()
	cn.owner = owner
	cn.mu.Unlock()
	return cn.send(message{Type: "connection_ack"})
}

func (cn *connection) subscribe(m message) error {
	cn.mu.Lock()
	owner := cn.owner
	_, dup := cn.subs[m.ID]
	cn.mu.Unlock()
	if owner == "" {
		return closeError{closeUnauthorized, "Unauthorized"}
	}
	if m.ID == "" {
		return closeError{closeBadRequest, "Invalid message received"}
	}
	if dup {
		return closeError{closeDuplicateID, "Subscriber for " + m.ID + " already exists"}
	}
	var p subscribePayload
	if err := json.Unmarshal(m.Payload, &p); err != nil || p.Query == "" {
		return closeError{closeBadRequest, "Invalid message received"}
	}
	// Errors found before execution go in an "error" message, per protocol.
	if errs := cn.h.Schema.ValidateWithVariables(p.Query, p.Variables); len(errs) > 0 {
		b, _ := json.Marshal(errs)
		return cn.send(message{ID: m.ID, Type: "error", Payload: b})
	}

	ctx, stop := context.WithCancel(withOwner(cn.ctx, owner))
	results, err := cn.h.Schema.Subscribe(ctx, p.Query, p.OperationName, p.Variables)
	if err != nil {
		stop()
		b, _ := json.Marshal([]map[string]string{{"message": err.Error()}})
		return cn.send(message{ID: m.ID, Type: "error", Payload: b})
	}
	cn.mu.Lock()
	cn.subs[m.ID] = stop
	cn.mu.Unlock()

	cn.wg.Add(1)
	go func() {
		defer cn.wg.Done()
		defer stop()
		for r := range results {
			b, err := json.Marshal(r)
			if err == nil {
				err = cn.send(message{ID: m.ID, Type: "next", Payload: b})
			}
			if err != nil {
				cn.logger.Debug("graphql-ws send", "id", m.ID, "err", err)
				return
			}
		}
		// The results channel closed: either the client sent complete (no
		// reply is due then) or the server ended the stream (tell it).
		cn.mu.Lock()
		_, clientOpen := cn.subs[m.ID]
		delete(cn.subs, m.ID)
		cn.mu.Unlock()
		if clientOpen && cn.ctx.Err() == nil {
			_ = cn.send(message{ID: m.ID, Type: "complete"})
		}
	}()
	return nil
}

func (cn *connection) send(m message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	timeout := min(cmp.Or(cn.h.WriteTimeout, defaultWriteTimeout), maxWriteTimeout)
	ctx, cancel := context.WithTimeout(cn.ctx, timeout)
	defer cancel()
	return cn.c.Write(ctx, websocket.MessageText, b)
}
