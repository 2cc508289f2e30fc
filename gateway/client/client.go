package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/mongotide/mongotide/internal/ctxwait"
)

// ErrClosed is returned by every method of a Client after Close.
var ErrClosed = errors.New("gateway client: closed")

// Client calls one gateway's HTTP API (v1) with a bearer token. Make it
// with New; it is safe for concurrent use. Close stops its subscriptions.
type Client struct {
	cfg  Config
	base string // BaseURL without a trailing slash

	mu     sync.Mutex
	closed bool
	subs   map[*Subscription]struct{}
}

// New checks cfg (after WithDefaults) and returns a Client. It sends
// nothing: a wrong token shows at the first request.
func New(cfg Config) (*Client, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Client{
		cfg:  cfg,
		base: strings.TrimRight(cfg.BaseURL, "/"),
		subs: make(map[*Subscription]struct{}),
	}, nil
}

// Close stops every Subscription of the client (waiting for their
// handlers, bounded by ctx), then closes the HTTP client's idle
// connections. Later calls of the client's methods return ErrClosed. It is
// idempotent.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	subs := make([]*Subscription, 0, len(c.subs))
	for s := range c.subs {
		subs = append(subs, s)
	}
	c.mu.Unlock()
	var errs []error
	for _, s := range subs {
		errs = append(errs, s.Stop(ctx))
	}
	c.cfg.HTTPClient.CloseIdleConnections()
	return errors.Join(errs...)
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// request is one API call.
type request struct {
	method string
	path   string // escaped, from /v1/...
	query  url.Values
	body   []byte // JSON, or nil
	// retry: send it again after a network error, a 5xx or a 429.
	retry bool
	// wait is added to RequestTimeout (a long poll's own wait).
	wait time.Duration
	// header, if set, receives the successful answer's headers.
	header *http.Header
}

func (c *Client) newRequest(ctx context.Context, rq request) (*http.Request, error) {
	// Every answer in canonical extended JSON: relaxed writes an int64
	// that fits in 32 bits as a plain number, which reads back as an
	// int32, so a document would not be the server's (nor have its
	// version). Endpoints without documents ignore it.
	q := url.Values{"json": {"canonical"}}
	for k, v := range rq.query {
		q[k] = v
	}
	u := c.base + rq.path + "?" + q.Encode()
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, u, body)
	if err != nil {
		return nil, err
	}
	tok := c.cfg.Token
	if c.cfg.TokenSource != nil {
		if tok, err = c.cfg.TokenSource(ctx); err != nil {
			return nil, fmt.Errorf("gateway client: token source: %w", err)
		}
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if rq.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// do sends rq, retrying it as Config.Backoff and MaxRetries allow when
// rq.retry is set, and returns the body of its 2xx answer.
func (c *Client) do(ctx context.Context, rq request) ([]byte, error) {
	if c.isClosed() {
		return nil, ErrClosed
	}
	var bo backoff.BackOff
	for n := 0; ; n++ {
		b, err := c.attempt(ctx, rq)
		if err == nil || !rq.retry || !retryable(err) || n >= c.cfg.MaxRetries {
			return b, err
		}
		if bo == nil {
			bo = c.cfg.Backoff()
		}
		d := bo.NextBackOff()
		if d == backoff.Stop {
			return nil, err
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.RetryAfter > d {
			d = ae.RetryAfter
		}
		c.cfg.Logger.Debug("gateway client: retrying", "method", rq.method, "path", rq.path, "in", d, "err", err)
		if werr := ctxwait.Sleep(ctx, d); werr != nil {
			return nil, fmt.Errorf("%w (waiting to retry after: %w)", werr, err)
		}
	}
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

func (c *Client) attempt(ctx context.Context, rq request) ([]byte, error) {
	actx := ctx
	if c.cfg.RequestTimeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout+rq.wait)
		defer cancel()
	}
	req, err := c.newRequest(actx, rq)
	if err != nil {
		return nil, err
	}
	res, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &netError{err}
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
		return nil, newAPIError(rq.method, rq.path, res, b)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &netError{fmt.Errorf("reading the answer to %s %s: %w", rq.method, rq.path, err)}
	}
	if rq.header != nil {
		*rq.header = res.Header
	}
	return b, nil
}

// newAPIError reads the gateway's {"error": {"code", "message"}} body.
func newAPIError(method, path string, res *http.Response, body []byte) *APIError {
	e := &APIError{Method: method, Path: path, Status: res.StatusCode}
	var v struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil && v.Error.Code != "" {
		e.Code, e.Message = v.Error.Code, v.Error.Message
	} else {
		e.Message = strings.TrimSpace(string(body[:min(len(body), 200)]))
	}
	if s := res.Header.Get("Retry-After"); s != "" {
		if secs, err := strconv.Atoi(s); err == nil && secs >= 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		} else if t, err := http.ParseTime(s); err == nil {
			e.RetryAfter = max(time.Until(t), 0)
		}
	}
	return e
}

func protocolError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// Health calls GET /v1/health: nil when the gateway's process answers. It
// is not retried (it is a probe).
func (c *Client) Health(ctx context.Context) error {
	_, err := c.do(ctx, request{method: "GET", path: "/v1/health"})
	return err
}

// Ready calls GET /v1/ready: nil when the gateway is started, not
// stopping, reaches the database and has every change stream open;
// otherwise an *APIError wrapping ErrUnavailable whose Message lists the
// problems. It is not retried (it is a probe).
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.do(ctx, request{method: "GET", path: "/v1/ready"})
	return err
}

// Stats is GET /v1/stats: the gateway's counters (docs/gateway.md).
type Stats struct {
	StartedAt     time.Time `json:"started_at"`
	Requests      int64     `json:"requests"`
	Clients       int64     `json:"clients"`      // requests in progress
	LiveClients   int64     `json:"live_clients"` // long polls and SSE streams open
	ChangesServed int64     `json:"changes_served"`
	Refused       int64     `json:"refused"` // 401 and 403 answers
	// ServerStreams is how many change streams the gateway holds open on
	// the database: one per collection, whatever the number of clients.
	ServerStreams int                        `json:"server_streams"`
	Collections   map[string]CollectionStats `json:"collections"`
}

// CollectionStats describes one collection's shared stream.
type CollectionStats struct {
	State               string `json:"state"` // starting, open, failed, stopped
	Error               string `json:"error,omitempty"`
	Ring                int    `json:"ring"`
	Appended            uint64 `json:"appended"`
	Evicted             uint64 `json:"evicted"`
	HistoryReads        uint64 `json:"history_reads"`
	Gaps                uint64 `json:"gaps"`
	UnattributedDeletes uint64 `json:"unattributed_deletes"`
}

// Stats calls GET /v1/stats, which needs one of the gateway's admin roles
// (ErrForbidden otherwise).
func (c *Client) Stats(ctx context.Context) (*Stats, error) {
	b, err := c.do(ctx, request{method: "GET", path: "/v1/stats", retry: true})
	if err != nil {
		return nil, err
	}
	var s Stats
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, protocolError("stats: %v", err)
	}
	return &s, nil
}
