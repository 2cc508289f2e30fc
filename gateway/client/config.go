package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Config configures a Client. The zero values of optional fields are
// replaced by WithDefaults; New calls it.
type Config struct {
	// BaseURL is the gateway's address, e.g. "https://sync.example.com"
	// (a path prefix is kept: "https://example.com/gw" calls
	// "https://example.com/gw/v1/changes"). Required; http or https.
	BaseURL string
	// Token is the bearer token sent with every request. Exactly one of
	// Token and TokenSource is required.
	Token string
	// TokenSource returns the bearer token; it is called before every
	// request (and every reconnection of a Subscription), so that a token
	// refreshed by the application is picked up. Keep it fast: cache the
	// token and refresh it ahead of its expiry. An error fails the request
	// without sending it.
	TokenSource func(ctx context.Context) (string, error)
	// HTTPClient sends the requests. Its Timeout must be zero (or longer
	// than the longest long poll): live requests stay open. Default: a
	// client of its own, with a clone of http.DefaultTransport, whose idle
	// connections Close releases.
	HTTPClient *http.Client
	// RequestTimeout bounds each attempt of a request that is not live (a
	// long poll gets its own wait on top). Default 30 s.
	RequestTimeout time.Duration
	// Backoff returns the policy between retries: of a request that failed
	// on the network, with a 5xx or a 429 (whose Retry-After is waited out
	// when longer), and of a Subscription's reconnections. A policy that
	// returns backoff.Stop ends the retries with the last error. Default:
	// exponential from 100 ms to 5 s with jitter, never giving up (attempts
	// of a request are bounded by MaxRetries instead).
	Backoff func() backoff.BackOff
	// MaxRetries is how many times a request is retried after its first
	// attempt (a Subscription reconnects without this bound: it ends only
	// on a terminal error, a Backoff that stops, or Stop). Default 4;
	// negative: no retry.
	MaxRetries int
	// HeartbeatTimeout is how long a Subscription's stream may stay silent
	// (no change, no heartbeat) before it is taken for dead and reopened.
	// Make it a few times the gateway's Config.Heartbeat. Default 45 s
	// (three times the gateway's default of 15 s).
	HeartbeatTimeout time.Duration
	// OnError receives every error a Subscription survives (it reconnects
	// after them); terminal errors are returned by Subscription.Err.
	// Default: logged at debug level.
	OnError func(err error)
	// ClientID names this device to the gateway in every Push (the
	// clientId): with the token's owner it makes the replica id of its
	// edits, so an edit on top of the device's own earlier write is not a
	// conflict. 1 to 64 of A-Z a-z 0-9 . _ ~ -; keep it stable per device
	// (store it). Default "": each push is an ephemeral replica of its own.
	ClientID string
	// UserAgent is sent as User-Agent (default "mongotide-gateway-client").
	UserAgent string
	// Logger receives debug logs (default: discard).
	Logger *slog.Logger
}

// DefaultBackoff is the default Config.Backoff: exponential from 100 ms to
// 5 s with jitter, never giving up.
func DefaultBackoff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.RandomizationFactor = 0.5
	b.MaxElapsedTime = 0
	b.Reset()
	return b
}

// WithDefaults returns a copy of c with every unset optional field set.
func (c Config) WithDefaults() Config {
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.Backoff == nil {
		c.Backoff = DefaultBackoff
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 4
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = 45 * time.Second
	}
	if c.UserAgent == "" {
		c.UserAgent = "mongotide-gateway-client"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.OnError == nil {
		log := c.Logger
		c.OnError = func(err error) { log.Debug("gateway client: retrying", "err", err) }
	}
	return c
}

func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(c.BaseURL)
	switch {
	case c.BaseURL == "":
		return bad("BaseURL is required")
	case err != nil:
		return bad("BaseURL %q: %v", c.BaseURL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("BaseURL %q: the scheme must be http or https", c.BaseURL)
	case u.Host == "":
		return bad("BaseURL %q has no host", c.BaseURL)
	case u.RawQuery != "" || u.Fragment != "":
		return bad("BaseURL %q must not have a query or fragment", c.BaseURL)
	}
	switch {
	case c.Token == "" && c.TokenSource == nil:
		return bad("Token or TokenSource is required")
	case c.Token != "" && c.TokenSource != nil:
		return bad("Token and TokenSource exclude each other")
	case c.HTTPClient.Timeout != 0 && c.HTTPClient.Timeout < 2*time.Minute:
		return bad("HTTPClient.Timeout %s would cut live requests: leave it zero (RequestTimeout bounds the others)", c.HTTPClient.Timeout)
	case c.RequestTimeout < 0:
		return bad("RequestTimeout must not be negative")
	case c.HeartbeatTimeout < 0:
		return bad("HeartbeatTimeout must not be negative")
	case c.ClientID != "" && !ClientIDPattern.MatchString(c.ClientID):
		return bad("ClientID %q: 1 to 64 of A-Z a-z 0-9 . _ ~ -", c.ClientID)
	}
	return nil
}

// ClientIDPattern is what the gateway accepts as a clientId.
var ClientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,64}$`)

// Sentinel errors. Errors of the gateway's answers are *APIError values
// that wrap the sentinel of their status (errors.Is(err, ErrUnauthorized))
// and carry the server's error body (errors.As(err, &apiErr)).
var (
	// ErrInvalidConfig is wrapped by New's errors, which name the field.
	ErrInvalidConfig = errors.New("gateway client: invalid config")
	// ErrUnauthorized: 401, the token is missing, invalid or expired.
	ErrUnauthorized = errors.New("gateway client: unauthorized")
	// ErrForbidden: 403, no rule or no role for the collection or endpoint.
	ErrForbidden = errors.New("gateway client: forbidden")
	// ErrNotFound: 404, no such document of the caller's (another owner's
	// document looks the same), or no such endpoint.
	ErrNotFound = errors.New("gateway client: not found")
	// ErrBadRequest: 400 other than a cursor, 413 (body too large).
	ErrBadRequest = errors.New("gateway client: bad request")
	// ErrCursorRejected: 400 bad_cursor, the cursor is not one this
	// deployment issued for this token's owner and this exact collection
	// list (another key, another owner, another list of collections).
	ErrCursorRejected = errors.New("gateway client: cursor rejected")
	// ErrCursorExpired: 410 cursor_expired (or an SSE error event with that
	// code), the database's history no longer reaches back to the cursor:
	// take a snapshot again.
	ErrCursorExpired = errors.New("gateway client: cursor expired, take a snapshot again")
	// ErrRateLimited: 429, after the retries (APIError.RetryAfter says how
	// long the gateway asked to wait).
	ErrRateLimited = errors.New("gateway client: rate limited")
	// ErrUnavailable: 503 (not started, stopping, a change stream down, the
	// database unreachable), or any other 5xx, after the retries.
	ErrUnavailable = errors.New("gateway client: unavailable")
	// ErrProtocol: the answer is not what the API documents (not JSON,
	// missing fields, results not matching the operations).
	ErrProtocol = errors.New("gateway client: unexpected answer")
)

// APIError is an error answer of the gateway: its status and the body
// {"error": {"code", "message"}}. It unwraps to the sentinel of its status.
type APIError struct {
	Method, Path string
	Status       int
	// Code and Message are the server's ("bad_cursor", "forbidden", ...);
	// empty when the body was not the gateway's JSON error (a proxy's
	// page: Message then holds the start of the body).
	Code, Message string
	// RetryAfter is the Retry-After header of a 429 or 503, or 0.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("gateway client: %s %s: %d", e.Method, e.Path, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap returns the sentinel error of the status (and code).
func (e *APIError) Unwrap() error {
	switch {
	case e.Status == http.StatusUnauthorized:
		return ErrUnauthorized
	case e.Status == http.StatusForbidden:
		return ErrForbidden
	case e.Status == http.StatusNotFound:
		return ErrNotFound
	case e.Status == http.StatusGone || e.Code == "cursor_expired":
		return ErrCursorExpired
	case e.Code == "bad_cursor":
		return ErrCursorRejected
	case e.Status == http.StatusTooManyRequests:
		return ErrRateLimited
	case e.Status >= 500:
		return ErrUnavailable
	case e.Status >= 400:
		return ErrBadRequest
	}
	return ErrProtocol
}

// retryable says whether a request that got this error may be sent again:
// a network error, a 5xx or a 429. The gateway's reads change nothing, and
// a push is sent again with the same operation ids, which the gateway
// answers with their first result.
func retryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500 || ae.Status == http.StatusTooManyRequests
	}
	var ne *netError
	return errors.As(err, &ne)
}

// netError marks a failure to get an answer at all (connection refused,
// reset, timed out, the body cut short).
type netError struct{ err error }

func (e *netError) Error() string { return "gateway client: " + e.err.Error() }
func (e *netError) Unwrap() error { return e.err }
