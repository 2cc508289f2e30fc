package listen

import (
	"context"
	"errors"
	"fmt"
	"github.com/mongotide/mongotide/lease"
	"io"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/mongotide/mongotide/resume"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// HandlerFailurePolicy is what happens when the handler still fails for an
// event after all retries (or the event does not decode).
type HandlerFailurePolicy int

const (
	// HandlerFailureStop ends the subscription; Err wraps ErrHandler. The
	// checkpoint stays before the event, so a restart retries it.
	HandlerFailureStop HandlerFailurePolicy = iota
	// HandlerFailureSkip reports the event to the error handler and moves on.
	HandlerFailureSkip
)

// HistoryLostPolicy is what happens on error 286 (the resume point is no
// longer in the server's oplog).
type HistoryLostPolicy int

const (
	// HistoryLostFail ends the subscription (or fails Listen) with
	// ErrHistoryLost. Nothing is skipped silently; an operator decides.
	HistoryLostFail HistoryLostPolicy = iota
	// HistoryLostRestartFromNow reopens the stream at the current time and
	// reports the gap (Config.OnGap and a *GapError to the error handler).
	HistoryLostRestartFromNow
	// HistoryLostResnapshot reopens the stream at the current time, then
	// delivers every current document of the collection as a Snapshot event
	// before the events that follow the reopen. Handlers must treat Snapshot
	// events as upserts; deletions inside the gap are not reported.
	HistoryLostResnapshot
)

// InvalidatePolicy is what happens after an invalidate event (the collection
// was dropped or renamed).
type InvalidatePolicy int

const (
	// InvalidateStop delivers the invalidate event and ends the subscription
	// with ErrInvalidated.
	InvalidateStop InvalidatePolicy = iota
	// InvalidateContinue delivers the invalidate event and keeps listening
	// on the collection name (startAfter the invalidate token), e.g. to
	// follow a collection that is dropped and recreated.
	InvalidateContinue
)

// SlowListenerPolicy is what the shared stream does when a listener's buffer
// is full.
type SlowListenerPolicy int

const (
	// SlowListenerBlock makes the shared stream wait for the slow listener.
	// Nothing is lost, but every listener sharing the stream (and the
	// server cursor) slows to the slowest one's pace.
	SlowListenerBlock SlowListenerPolicy = iota
	// SlowListenerFail ends the slow listener with ErrSlowListener so that
	// the others are not held back. Its checkpoint stays at the last handled
	// event, so a restart on the same store loses nothing.
	SlowListenerFail
)

// Handler handles one event. id is documentKey._id as a string (see
// DocumentID). Returning an error triggers the retry policy.
type Handler[T any] func(ctx context.Context, id string, ev *ChangeEvent[T]) error

// Config configures one subscription. Zero values take the stated defaults.
type Config struct {
	// OperationTypes delivered to the handler. Default: all.
	OperationTypes []OperationType
	// Filter is a query on document fields, evaluated in process against the
	// event's fullDocument, else its fullDocumentBeforeChange, else its
	// documentKey (so filters on _id work for deletes). Events without such a
	// document never match a filter on other fields. Default: none.
	Filter bson.D
	// Pipeline is appended to the server-side $changeStream pipeline.
	// Listeners only share a server stream when their pipelines are equal.
	Pipeline mongo.Pipeline
	// FullDocument is the server-side fullDocument option. Default: the
	// server default, except updateLookup when Filter is set (a filter
	// needs the document of update events).
	FullDocument options.FullDocument
	// FullDocumentBeforeChange is the server-side pre-image option.
	// Default: off.
	FullDocumentBeforeChange options.FullDocument
	// OnError receives every error the subscription survives
	// (reconnects, skipped events, failed checkpoints, gaps) and the error
	// that ends it. It runs on the listener's goroutine; keep it quick.
	OnError func(error)
	// OnGap is called (before OnError) when history was lost and the
	// listener continues under HistoryLostRestartFromNow/Resnapshot.
	OnGap func(Gap)
	// GapHandler, unlike OnGap, is a handler for the gap: work that must
	// be done before the listener moves past it (re-reading what changed
	// in it, flushing a cache). It runs after OnGap, under the handler
	// retry policy (HandlerAttempts, HandlerBackoff, HandlerFailure), with
	// the handlers' context, before any event after the gap is delivered.
	// The checkpoint moves past the gap only once it succeeded: a
	// subscription stopped (or a process killed) before then keeps the
	// checkpoint before the gap, so the next run meets the lost history
	// again and calls it again.
	GapHandler func(context.Context, Gap) error
	// Store and StoreKey enable checkpoints: with a stored token the stream
	// starts after it; tokens are saved only after the handler succeeded.
	Store    resume.Store
	StoreKey string
	// CheckpointEvery saves after this many handled events. Default 100.
	CheckpointEvery int
	// CheckpointInterval saves pending progress at least this often.
	// Default 1s.
	CheckpointInterval time.Duration
	// HandlerAttempts is how many times an event is tried. Default 3.
	HandlerAttempts int
	// HandlerBackoff returns the wait policy between attempts. Default:
	// exponential from 50ms, at most 2s.
	HandlerBackoff func() backoff.BackOff
	// HandlerFailure applies after the last attempt. Default Stop.
	HandlerFailure HandlerFailurePolicy
	// HistoryLost is the 286 policy. Default HistoryLostFail.
	HistoryLost HistoryLostPolicy
	// Invalidate is the invalidate policy. Default InvalidateStop.
	Invalidate InvalidatePolicy
	// Concurrency runs up to this many handlers at once, events of one
	// document always in order on one worker. The checkpoint only covers the
	// contiguous prefix of completed events. Default 1.
	Concurrency int
	// OnHandled, when set, is called with the cluster time of the last
	// event of the contiguous handled prefix each time that prefix moves
	// (every event at or before it was handled), on the listener's loop:
	// it must return quickly. Default: none.
	OnHandled func(bson.Timestamp)
	// BufferSize bounds the events queued for this listener. Default 256.
	BufferSize int
	// BatchMax (ListenBatch only) is the most events one handler call
	// gets. Default 100.
	BatchMax int
	// BatchLinger (ListenBatch only) is how long a batch that is not full
	// waits for more events before its handler call, while the stream is
	// busy: only when its first event came within BatchLinger of the
	// previous batch's handling (a lone event after a quiet spell goes at
	// once). Zero (the default) waits for nothing: a batch is what arrived
	// while the previous call ran, so batches grow with the load. A few
	// milliseconds trade that much latency under load for fewer, larger
	// calls at moderate rates.
	BatchLinger time.Duration
	// batching is set by ListenBatch.
	batching bool
	// SlowListener applies when the buffer is full. Default Block.
	SlowListener SlowListenerPolicy
	// ReconnectBackoff returns the reconnect policy for the shared stream.
	// Default: exponential from 100ms to 5s with jitter, retrying forever.
	// Only the first listener's policy of a shared stream is used.
	ReconnectBackoff func() backoff.BackOff
	// MaxAwaitTime bounds each getMore; idle progress (postBatchResumeToken)
	// is observed at this pace. Default 1s. Part of the sharing key.
	MaxAwaitTime time.Duration
	// Hub shares server streams between listeners. Default: a private hub
	// (no sharing). model.Model passes its own hub.
	Hub *Hub
	// Logger receives debug and warning logs. Default: discard.
	Logger *slog.Logger
	// Lease, LeaseName and LeaseTTL make the listener one of many
	// (WithLease): of all listeners with the same lease name, only the one
	// holding the lease delivers; the others stand by and take over, from
	// the shared resume store, when it dies or loses the lease. LeaseTTL
	// defaults to 10s; LeaseHolder names this listener in the lease
	// (default "<hostname>-<pid>-<random>").
	Lease       lease.Lease
	LeaseName   string
	LeaseTTL    time.Duration
	LeaseHolder string

	// gate, when set, is asked before every handler call; false leaves the
	// event unhandled and uncheckpointed (a leased listener whose lease
	// ran out).
	gate func() bool
}

// WithLease makes the listener one of many (see Config.Lease): only the
// holder of the lease name delivers. It needs WithResumeStore with a store
// shared by all of them, so a standby resumes where the holder stopped; a
// resume.FencedStore (every store of this module) also refuses the
// checkpoint saves of a holder that lost the lease to a successor.
func WithLease(l lease.Lease, name string) Option {
	return func(c *Config) { c.Lease, c.LeaseName = l, name }
}

// WithLeaseTTL sets Config.LeaseTTL: how long a dead holder keeps its
// standbys waiting (a standby takes over within about 1.3 x the TTL of the
// holder's death: the TTL, then its next acquire attempt).
func WithLeaseTTL(d time.Duration) Option { return func(c *Config) { c.LeaseTTL = d } }

// WithLeaseHolder sets Config.LeaseHolder.
func WithLeaseHolder(name string) Option { return func(c *Config) { c.LeaseHolder = name } }

// Option modifies a Config.
type Option func(*Config)

// WithOperationTypes delivers only these operation types.
func WithOperationTypes(types ...OperationType) Option {
	return func(c *Config) { c.OperationTypes = append(c.OperationTypes, types...) }
}

// WithFilter delivers only events whose document matches filter (see
// Config.Filter for which document is tested).
func WithFilter(filter bson.D) Option { return func(c *Config) { c.Filter = filter } }

// WithPipeline appends stages after $changeStream on the server.
func WithPipeline(p mongo.Pipeline) Option { return func(c *Config) { c.Pipeline = p } }

// WithFullDocument sets the server's fullDocument option.
func WithFullDocument(fd options.FullDocument) Option {
	return func(c *Config) { c.FullDocument = fd }
}

// WithFullDocumentBeforeChange sets the server's fullDocumentBeforeChange option.
func WithFullDocumentBeforeChange(fd options.FullDocument) Option {
	return func(c *Config) { c.FullDocumentBeforeChange = fd }
}

// WithOnError sets Config.OnError.
func WithOnError(f func(error)) Option { return func(c *Config) { c.OnError = f } }

// WithOnGap sets Config.OnGap.
func WithOnGap(f func(Gap)) Option { return func(c *Config) { c.OnGap = f } }

// WithGapHandler sets Config.GapHandler.
func WithGapHandler(f func(context.Context, Gap) error) Option {
	return func(c *Config) { c.GapHandler = f }
}

// WithResumeStore checkpoints to store under key (Config.Store and
// Config.StoreKey: one setting, a place to keep the token).
func WithResumeStore(store resume.Store, key string) Option {
	return func(c *Config) { c.Store, c.StoreKey = store, key }
}

// WithCheckpointEvery sets Config.CheckpointEvery.
func WithCheckpointEvery(n int) Option { return func(c *Config) { c.CheckpointEvery = n } }

// WithCheckpointInterval sets Config.CheckpointInterval.
func WithCheckpointInterval(d time.Duration) Option {
	return func(c *Config) { c.CheckpointInterval = d }
}

// WithHandlerAttempts sets Config.HandlerAttempts.
func WithHandlerAttempts(n int) Option { return func(c *Config) { c.HandlerAttempts = n } }

// WithHandlerBackoff sets Config.HandlerBackoff.
func WithHandlerBackoff(f func() backoff.BackOff) Option {
	return func(c *Config) { c.HandlerBackoff = f }
}

// WithHandlerFailurePolicy sets Config.HandlerFailure.
func WithHandlerFailurePolicy(p HandlerFailurePolicy) Option {
	return func(c *Config) { c.HandlerFailure = p }
}

// WithHistoryLostPolicy sets Config.HistoryLost.
func WithHistoryLostPolicy(p HistoryLostPolicy) Option { return func(c *Config) { c.HistoryLost = p } }

// WithInvalidatePolicy sets Config.Invalidate.
func WithInvalidatePolicy(p InvalidatePolicy) Option { return func(c *Config) { c.Invalidate = p } }

// WithConcurrency sets Config.Concurrency.
func WithConcurrency(n int) Option { return func(c *Config) { c.Concurrency = n } }

// WithOnHandled sets Config.OnHandled.
func WithOnHandled(f func(bson.Timestamp)) Option { return func(c *Config) { c.OnHandled = f } }

// WithBatch sets Config.BatchMax and Config.BatchLinger (ListenBatch only).
func WithBatch(max int, linger time.Duration) Option {
	return func(c *Config) { c.BatchMax, c.BatchLinger = max, linger }
}

// WithBufferSize sets Config.BufferSize.
func WithBufferSize(n int) Option { return func(c *Config) { c.BufferSize = n } }

// WithSlowListenerPolicy sets Config.SlowListener.
func WithSlowListenerPolicy(p SlowListenerPolicy) Option {
	return func(c *Config) { c.SlowListener = p }
}

// WithReconnectBackoff sets Config.ReconnectBackoff.
func WithReconnectBackoff(f func() backoff.BackOff) Option {
	return func(c *Config) { c.ReconnectBackoff = f }
}

// WithMaxAwaitTime sets Config.MaxAwaitTime.
func WithMaxAwaitTime(d time.Duration) Option { return func(c *Config) { c.MaxAwaitTime = d } }

// WithHub shares server streams through h (Config.Hub).
func WithHub(h *Hub) Option { return func(c *Config) { c.Hub = h } }

// WithLogger sets Config.Logger.
func WithLogger(l *slog.Logger) Option { return func(c *Config) { c.Logger = l } }

// DefaultReconnectBackoff is the default Config.ReconnectBackoff (and sync's
// default retry policy): exponential from 100ms to 5s with jitter, retrying
// forever.
func DefaultReconnectBackoff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.RandomizationFactor = 0.5
	b.MaxElapsedTime = 0
	return b
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = 100
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = time.Second
	}
	if c.HandlerAttempts == 0 {
		c.HandlerAttempts = 3
	}
	if c.HandlerBackoff == nil {
		c.HandlerBackoff = func() backoff.BackOff {
			b := backoff.NewExponentialBackOff()
			b.InitialInterval = 50 * time.Millisecond
			b.MaxInterval = 2 * time.Second
			b.MaxElapsedTime = 0
			return b
		}
	}
	if c.Concurrency == 0 {
		c.Concurrency = 1
	}
	if c.BufferSize == 0 {
		c.BufferSize = 256
	}
	if c.batching && c.BatchMax == 0 {
		c.BatchMax = 100
	}
	if c.ReconnectBackoff == nil {
		c.ReconnectBackoff = DefaultReconnectBackoff
	}
	if c.MaxAwaitTime == 0 {
		c.MaxAwaitTime = time.Second
	}
	if c.FullDocument == "" && len(c.Filter) > 0 {
		c.FullDocument = options.UpdateLookup
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Lease != nil {
		if c.LeaseTTL == 0 {
			c.LeaseTTL = 10 * time.Second
		}
		if c.LeaseHolder == "" {
			c.LeaseHolder = defaultHolder()
		}
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.CheckpointEvery < 0 {
		bad("WithCheckpointEvery: %d, must be >= 1", c.CheckpointEvery)
	}
	if c.CheckpointInterval < 0 {
		bad("WithCheckpointInterval: %v, must be > 0", c.CheckpointInterval)
	}
	if c.HandlerAttempts < 1 {
		bad("WithHandlerAttempts: %d, must be >= 1", c.HandlerAttempts)
	}
	if c.Concurrency < 1 {
		bad("WithConcurrency: %d, must be >= 1", c.Concurrency)
	}
	if c.BufferSize < 1 {
		bad("WithBufferSize: %d, must be >= 1", c.BufferSize)
	}
	switch {
	case !c.batching && (c.BatchMax != 0 || c.BatchLinger != 0):
		bad("WithBatch: only ListenBatch delivers batches")
	case c.batching && c.Concurrency != 1:
		bad("WithConcurrency: %d, ListenBatch runs one batch at a time (1)", c.Concurrency)
	case c.batching && (c.BatchMax < 1 || c.BatchLinger < 0):
		bad("WithBatch: max %d must be >= 1 and linger %v >= 0", c.BatchMax, c.BatchLinger)
	}
	if c.MaxAwaitTime < 0 {
		bad("WithMaxAwaitTime: %v, must be > 0", c.MaxAwaitTime)
	}
	if c.Lease != nil {
		if c.LeaseName == "" {
			bad("WithLease: empty lease name")
		}
		if c.Store == nil {
			bad("WithLease: needs WithResumeStore, with a store every holder shares (a standby resumes from the holder's checkpoints)")
		}
		if c.LeaseTTL < 10*time.Millisecond {
			bad("WithLeaseTTL: %v, must be >= 10ms", c.LeaseTTL)
		}
	}
	if (c.Store == nil) != (c.StoreKey == "") {
		bad("WithResumeStore: needs both a store and a non-empty key")
	}
	if c.StoreKey != "" {
		if err := resume.CheckKey(c.StoreKey); err != nil {
			bad("WithResumeStore: key: %v", err)
		}
	}
	for _, t := range c.OperationTypes {
		switch t {
		case Insert, Update, Replace, Delete, Drop, Rename, DropDatabase, Invalidate:
		default:
			bad("WithOperationTypes: unknown operation type %q", t)
		}
	}
	switch c.FullDocument {
	case "", options.Default, options.UpdateLookup, options.WhenAvailable, options.Required:
	default:
		bad("WithFullDocument: %q is not default, updateLookup, whenAvailable or required", c.FullDocument)
	}
	switch c.FullDocumentBeforeChange {
	case "", options.Off, options.WhenAvailable, options.Required:
	default:
		bad("WithFullDocumentBeforeChange: %q is not off, whenAvailable or required", c.FullDocumentBeforeChange)
	}
	if c.HistoryLost < HistoryLostFail || c.HistoryLost > HistoryLostResnapshot {
		bad("WithHistoryLostPolicy: unknown policy %d", c.HistoryLost)
	}
	if c.Invalidate < InvalidateStop || c.Invalidate > InvalidateContinue {
		bad("WithInvalidatePolicy: unknown policy %d", c.Invalidate)
	}
	if c.SlowListener < SlowListenerBlock || c.SlowListener > SlowListenerFail {
		bad("WithSlowListenerPolicy: unknown policy %d", c.SlowListener)
	}
	if c.HandlerFailure < HandlerFailureStop || c.HandlerFailure > HandlerFailureSkip {
		bad("WithHandlerFailurePolicy: unknown policy %d", c.HandlerFailure)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}
