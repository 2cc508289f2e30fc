package listen

import (
	"context"
	"errors"
	"fmt"
	"github.com/mongotide/mongotide/internal/goid"
	"hash/fnv"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

type itemKind uint8

const (
	itemEvent itemKind = iota
	itemProgress
	itemHistoryLost
	itemSnapshot
)

// item is what flows from the shared stream into a listener's buffer.
type item struct {
	kind  itemKind
	ev    *parsedEvent // itemEvent
	token bson.Raw     // itemProgress
	raw   bson.Raw     // itemSnapshot: the document
	err   error        // itemHistoryLost
	gap   Gap          // itemHistoryLost
}

// deliverFunc decodes an item into the listener's type and calls its handler.
type deliverFunc func(ctx context.Context, it *item) error

// batchDeliverFunc is deliverFunc for a batch of events (ListenBatch).
type batchDeliverFunc func(ctx context.Context, its []*item) error

// delivery is how a listener calls its handler: one item at a time, and
// (ListenBatch) batches of events.
type delivery struct {
	one   deliverFunc
	batch batchDeliverFunc // nil: no batches
}

// core is one listener. Its run goroutine owns the checkpoint state; worker
// goroutines run the handler.
type core struct {
	cfg     Config
	coll    *mongo.Collection
	filter  *eventFilter
	deliver deliverFunc
	batch   batchDeliverFunc
	hub     *Hub
	// parent is the subscription's lifetime: it carries the values of the
	// ctx given to Listen but not its cancellation (that ctx bounds the
	// start only), and is cancelled when Stop gives up waiting (its own ctx
	// ended) or the subscription has ended. Handlers receive it.
	parent     context.Context
	cancelLife context.CancelFunc
	// own are the goroutines that run user code (see internal/goid).
	own goid.Set

	stream        *stream
	reconnectBase uint64

	ch       chan *item
	stopReq  chan struct{}
	stopOnce sync.Once
	killCh   chan error
	quit     chan struct{} // closed when run stops consuming ch
	abort    chan struct{} // closed to cut handler retries short
	done     chan struct{}
	err      error
	finalErr error // final checkpoint failure, returned by Unsubscribe

	errMu  sync.Mutex // serialises OnError calls
	halted atomic.Bool

	statsMu sync.Mutex
	stats   Stats
	savedAt time.Time
	lagFrom time.Time // wallTime of the last handled event, see noteLag
	lagDue  bool

	// Checkpoint state, owned by run.
	pending   bson.Raw
	pendingCT bson.Timestamp
	dirty     bool
	sinceSave int
	saved     bson.Raw
	lastCT    bson.Timestamp
	queue     []slot // in-flight and completed-but-uncommitted items, by seq
	// unfinished counts the events of queue not completed yet (read by
	// Stats from other goroutines).
	unfinished atomic.Int64
	// markers counts progress markers in ch (raised before the send,
	// lowered after the receive), so that Stats.Buffered counts events.
	markers   atomic.Int64
	base      uint64 // seq of queue[0]
	nextSeq   uint64
	stopAtSeq uint64 // invalidate under InvalidateStop: stop once committed
	stopAtErr error
	hasStopAt bool
}

type slot struct {
	done     bool
	progress bool
	token    bson.Raw
	ct       bson.Timestamp
}

type result struct {
	seq uint64
	err error // non-nil: handler exhausted under HandlerFailureStop
}

type task struct {
	seq uint64
	it  *item
}

func newCore(parent context.Context, coll *mongo.Collection, cfg Config, f *eventFilter, d delivery, hub *Hub) *core {
	life, cancel := context.WithCancel(context.WithoutCancel(parent))
	l := &core{
		cfg: cfg, coll: coll, filter: f, deliver: d.one, batch: d.batch, hub: hub, parent: life, cancelLife: cancel,
		ch:      make(chan *item, cfg.BufferSize),
		stopReq: make(chan struct{}),
		killCh:  make(chan error, 1),
		quit:    make(chan struct{}),
		abort:   make(chan struct{}),
		done:    make(chan struct{}),
		savedAt: time.Now(),
	}
	return l
}

func (l *core) accepts(ev *parsedEvent) bool {
	return ev.op == Invalidate || l.filter.accepts(ev)
}

func (l *core) wantsHandler(op OperationType) bool {
	return l.filter.ops == nil || l.filter.ops[op]
}

// offer queues it, applying the slow-listener policy when the buffer is full.
func (l *core) offer(ctx context.Context, it *item) {
	// A lone non-blocking send is the cheap common case; an item sent to a
	// listener that has just quit is dropped with its channel.
	select {
	case l.ch <- it:
		return
	default:
	}
	select {
	case <-l.quit:
		return
	default:
	}
	if l.cfg.SlowListener == SlowListenerFail {
		l.kill(fmt.Errorf("%w: %d events buffered", ErrSlowListener, cap(l.ch)))
		return
	}
	select {
	case l.ch <- it:
	case <-l.quit:
	case <-ctx.Done():
	}
}

// offerProgress never blocks: progress is advisory and a later event or
// progress marker carries it anyway. p is an itemProgress shared read-only
// by every listener it is offered to.
func (l *core) offerProgress(p *item) {
	if p == nil || p.token == nil {
		return
	}
	l.markers.Add(1)
	select {
	case l.ch <- p:
	default:
		l.markers.Add(-1)
	}
}

// received accounts for it, just taken from ch.
func (l *core) received(it *item) {
	if it != nil && it.kind == itemProgress {
		l.markers.Add(-1)
	}
}

func progressItem(token bson.Raw) *item {
	return &item{kind: itemProgress, token: token}
}

func (l *core) kill(err error) {
	select {
	case l.killCh <- err:
	default: // already dying
	}
}

func (l *core) report(err error) {
	l.statsMu.Lock()
	l.stats.Errors++
	l.statsMu.Unlock()
	l.cfg.Logger.Warn("listener error", "err", err)
	if l.cfg.OnError != nil {
		l.errMu.Lock()
		defer l.errMu.Unlock()
		l.cfg.OnError(err)
	}
}

func (l *core) requestStop() { l.stopOnce.Do(func() { close(l.stopReq) }) }

func (l *core) stopRequested() bool {
	select {
	case <-l.stopReq:
		return true
	default:
		return false
	}
}

// run is the listener's main loop.
func (l *core) run() {
	defer l.cancelLife()
	l.own.AddSelf()
	n := l.cfg.Concurrency
	perWorker := l.cfg.BufferSize/n + 1
	// With Concurrency 1 the handler runs on this goroutine: no worker, no
	// hand-offs, no results buffer (it matters with a thousand listeners on
	// one stream).
	nWorkers := n
	if n == 1 {
		nWorkers = 0
	}
	results := make(chan result, nWorkers*(perWorker+1))
	workers := make([]chan task, nWorkers)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = make(chan task, perWorker)
		wg.Add(1)
		go l.worker(workers[i], results, &wg)
	}
	ticker := time.NewTicker(l.cfg.CheckpointInterval)
	defer ticker.Stop()

	var reason error
	// submit hands a task to its worker; false means the loop must stop.
	submit := func(t task) bool {
		if nWorkers == 0 {
			if l.stopRequested() {
				return false
			}
			err := l.handle(t.it)
			if err == errAborted {
				reason = l.parent.Err() // nil after a Stop that did not give up
				return false
			}
			if err != nil {
				reason = err
				return false
			}
			l.complete(result{seq: t.seq})
			return true
		}
		w := 0
		if n > 1 && t.it.kind != itemHistoryLost {
			w = l.workerFor(t.it, n)
		}
		for {
			select {
			case workers[w] <- t:
				return true
			case r := <-results:
				if err := l.complete(r); err != nil {
					reason = err
					return false
				}
			case <-l.stopReq:
				return false
			case err := <-l.killCh:
				reason = err
				return false
			case <-l.parent.Done():
				reason = l.parent.Err()
				return false
			}
		}
	}

	// ListenBatch: events wait in pend until the channel is empty, the
	// batch is full or (BatchLinger) its linger ran out, then go to one
	// handler call. They are enqueued already, so the checkpoint cannot
	// pass them before that call succeeded; a stop drops them unhandled.
	var (
		pend    []task
		lingerT *time.Timer
		lingerC <-chan time.Time
		// lastBatch is when the last batch was handled: a batch lingers
		// only while the stream is busy (its first event came within a
		// linger of it), so a lone event after a quiet spell goes at once.
		lastBatch time.Time
	)
	flush := func() bool {
		if lingerT != nil {
			lingerT.Stop()
			lingerT, lingerC = nil, nil
		}
		if len(pend) == 0 {
			return true
		}
		if l.stopRequested() {
			return false
		}
		batch := pend
		pend = nil
		its := make([]*item, len(batch))
		for i, t := range batch {
			its[i] = t.it
		}
		err := l.handleBatch(its)
		if err == errAborted {
			reason = l.parent.Err() // nil after a Stop that did not give up
			return false
		}
		if err != nil {
			reason = err
			return false
		}
		for _, t := range batch {
			l.complete(result{seq: t.seq})
		}
		lastBatch = time.Now()
		return true
	}

	// take processes one buffered item; false means the loop must stop.
	take := func(it *item) bool {
		switch it.kind {
		case itemProgress:
			l.enqueue(it.token, bson.Timestamp{}, true)
		case itemEvent:
			seq := l.enqueue(it.ev.token, it.ev.clusterTime, false)
			if it.ev.op == Invalidate && l.cfg.Invalidate == InvalidateStop {
				l.hasStopAt, l.stopAtSeq = true, seq
				l.stopAtErr = fmt.Errorf("%w: collection %s.%s", ErrInvalidated, l.coll.Database().Name(), l.coll.Name())
			}
			if l.batch != nil && l.wantsHandler(it.ev.op) {
				pend = append(pend, task{seq: seq, it: it})
				if len(pend) >= l.cfg.BatchMax && !flush() {
					return false
				}
				break
			}
			if !submit(task{seq: seq, it: it}) {
				return false
			}
		case itemHistoryLost:
			// The batch before the gap is handled first.
			if !flush() {
				return false
			}
			if err := l.historyLost(it, submit); err != nil {
				if err != errLoopStop {
					reason = err
				}
				return false
			}
		}
		l.maybeCheckpoint(false)
		return true
	}

	// While items are queued, up to maxBurst of them are taken with a
	// single-channel receive, which is much cheaper than the full select
	// (with a thousand listeners on one stream the select was a fifth of
	// the CPU). Stop, kill and cancellation are still polled before each
	// item, so none of them waits behind the burst; results and the
	// checkpoint ticker wait at most maxBurst items.
	const maxBurst = 64
	burst := 0
loop:
	for {
		if l.hasStopAt && l.base > l.stopAtSeq {
			reason = l.stopAtErr
			break
		}
		if burst < maxBurst {
			var it *item
			select {
			case it = <-l.ch:
				l.received(it)
			default:
			}
			if it != nil {
				burst++
				if l.stopRequested() {
					break loop
				}
				select {
				case err := <-l.killCh:
					reason = err
					break loop
				default:
				}
				if err := l.parent.Err(); err != nil {
					reason = err
					break loop
				}
				if !take(it) {
					break loop
				}
				continue
			}
		}
		burst = 0
		if len(pend) > 0 {
			if l.cfg.BatchLinger <= 0 || (lingerC == nil && time.Since(lastBatch) > l.cfg.BatchLinger) {
				// Nothing more is ready: the batch goes now.
				if !flush() {
					break loop
				}
				l.maybeCheckpoint(false)
				continue
			}
			if lingerC == nil {
				lingerT = time.NewTimer(l.cfg.BatchLinger)
				lingerC = lingerT.C
			}
		}
		l.noteLag()
		select {
		case <-lingerC:
			lingerT, lingerC = nil, nil
			if !flush() {
				break loop
			}
			l.maybeCheckpoint(false)
		case <-l.stopReq:
			break loop
		case err := <-l.killCh:
			reason = err
			break loop
		case <-l.parent.Done():
			reason = l.parent.Err()
			break loop
		case r := <-results:
			if err := l.complete(r); err != nil {
				reason = err
				break loop
			}
			l.maybeCheckpoint(false)
		case <-ticker.C:
			l.maybeCheckpoint(true)
		case it := <-l.ch:
			l.received(it)
			if !take(it) {
				break loop
			}
		}
	}

	// Shut down: no new work, let in-flight handlers finish (retries are
	// cut short), record what completed, leave the stream, save.
	l.noteLag()
	l.halted.Store(true) // queued tasks are not started any more
	close(l.quit)
	close(l.abort)
	for _, w := range workers {
		close(w)
	}
	wg.Wait()
	close(results)
	for r := range results {
		if err := l.complete(r); err != nil && reason == nil {
			reason = err
		}
	}
	if l.stream != nil {
		l.hub.leave(l.stream, l)
	}
	l.finalErr = l.checkpoint()
	if reason != nil {
		l.report(reason)
	}
	l.err = reason
	close(l.done)
}

func (l *core) workerFor(it *item, n int) int {
	// Hash the _id value (type byte included) so that an event and a
	// snapshot of the same document land on the same worker.
	var src bson.Raw
	switch it.kind {
	case itemEvent:
		src = it.ev.docKey
	case itemSnapshot:
		src = it.raw
	}
	var key []byte
	if v, err := src.LookupErr("_id"); err == nil {
		key = append([]byte{byte(v.Type)}, v.Value...)
	}
	h := fnv.New32a()
	_, _ = h.Write(key)
	return int(h.Sum32() % uint32(n))
}

// enqueue assigns the next sequence number. Progress markers complete at
// once; they are committed when everything before them has completed.
func (l *core) enqueue(token bson.Raw, ct bson.Timestamp, done bool) uint64 {
	seq := l.nextSeq
	l.nextSeq++
	l.queue = append(l.queue, slot{done: done, progress: done, token: token, ct: ct})
	if done {
		l.advance()
	} else {
		l.unfinished.Add(1)
	}
	return seq
}

func (l *core) complete(r result) error {
	if r.err == errAborted {
		return nil
	}
	if r.err != nil {
		return r.err
	}
	i := int(r.seq - l.base)
	if i < 0 || i >= len(l.queue) {
		return nil
	}
	if !l.queue[i].done {
		l.unfinished.Add(-1)
	}
	l.queue[i].done = true
	l.advance()
	return nil
}

// advance commits the contiguous completed prefix.
func (l *core) advance() {
	k := 0
	for k < len(l.queue) && l.queue[k].done {
		s := l.queue[k]
		if s.token != nil {
			l.pending = s.token
			l.dirty = true
			if !s.progress {
				// Only handled events count toward CheckpointEvery; bare
				// progress is saved by the interval timer.
				l.sinceSave++
			}
		}
		if s.ct != (bson.Timestamp{}) {
			l.pendingCT = s.ct
		}
		k++
	}
	if k > 0 {
		l.queue = append(l.queue[:0], l.queue[k:]...)
		l.base += uint64(k)
		l.statsMu.Lock()
		moved := l.stats.HandledThrough != l.pendingCT
		l.stats.HandledThrough = l.pendingCT
		l.statsMu.Unlock()
		if moved && l.cfg.OnHandled != nil {
			l.cfg.OnHandled(l.pendingCT)
		}
	}
}

func (l *core) maybeCheckpoint(timer bool) {
	if !l.dirty || (!timer && l.sinceSave < l.cfg.CheckpointEvery) {
		return
	}
	if err := l.checkpoint(); err != nil {
		l.report(err)
	}
}

func (l *core) checkpoint() error {
	if !l.dirty || l.cfg.Store == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(l.parent), 10*time.Second)
	defer cancel()
	if err := l.cfg.Store.Save(ctx, l.cfg.StoreKey, l.pending); err != nil {
		return fmt.Errorf("listen: checkpoint %q: %w", l.cfg.StoreKey, err)
	}
	l.saved = l.pending
	l.dirty = false
	l.sinceSave = 0
	l.statsMu.Lock()
	l.savedAt = time.Now()
	l.stats.Checkpoints++
	l.statsMu.Unlock()
	return nil
}

func (l *core) worker(tasks <-chan task, results chan<- result, wg *sync.WaitGroup) {
	defer wg.Done()
	l.own.AddSelf()
	for t := range tasks {
		if l.halted.Load() || l.stopRequested() {
			// Another event already stopped the subscription: do not run
			// handlers past it.
			results <- result{seq: t.seq, err: errAborted}
			continue
		}
		err := l.handle(t.it)
		if err != nil {
			l.halted.Store(true)
			results <- result{seq: t.seq, err: err}
			continue
		}
		results <- result{seq: t.seq}
	}
}

// handle runs the handler for one item under the retry policy. It returns a
// non-nil error only when the subscription must stop.
func (l *core) handle(it *item) error {
	if it.kind == itemEvent && !l.wantsHandler(it.ev.op) {
		return nil // an invalidate the handler did not ask for
	}
	ok, err := l.attempt(func() error { return l.call(it) }, func(he *HandlerError) {
		switch it.kind {
		case itemEvent:
			he.Token, he.Raw = it.ev.token, it.ev.raw
		case itemSnapshot:
			he.Raw = it.raw
		}
	})
	if ok && it.kind != itemHistoryLost {
		l.delivered(it)
	}
	return err
}

// handleBatch is handle for a batch of events (ListenBatch): one handler
// call for all of them, retried as a whole.
func (l *core) handleBatch(its []*item) error {
	ok, err := l.attempt(func() error { return l.callBatch(its) }, func(he *HandlerError) {
		he.Token, he.Raw = batchToken(its)
	})
	if ok {
		for _, it := range its {
			l.delivered(it)
		}
	}
	return err
}

// attempt runs call under the retry policy. handled reports that call
// succeeded; err is non-nil only when the subscription must stop
// (errAborted when it is stopping anyway). name fills in the event of a
// HandlerError.
func (l *core) attempt(call func() error, name func(*HandlerError)) (handled bool, err error) {
	// The backoff is built on the first failure only: building one per
	// event showed up in the thousand-listener profile.
	var bo backoff.BackOff
	attempts := 0
	for {
		attempts++
		if l.cfg.gate != nil && !l.cfg.gate() {
			// The lease ran out: this listener may no longer deliver.
			// The event stays unhandled and uncheckpointed for the next
			// holder.
			return false, errAborted
		}
		err = call()
		if err == nil {
			return true, nil
		}
		var de *DecodeError
		if errors.As(err, &de) || attempts >= l.cfg.HandlerAttempts {
			break
		}
		if bo == nil {
			bo = l.cfg.HandlerBackoff()
		}
		wait := bo.NextBackOff()
		if wait < 0 {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
			continue
		case <-l.abort:
			t.Stop()
			return false, errAborted
		case <-l.stopReq:
			t.Stop()
			return false, errAborted
		case <-l.parent.Done():
			t.Stop()
			// Stopping mid-retry: the event stays unhandled and
			// uncheckpointed; a restart delivers it again.
			return false, errAborted
		}
	}
	he := &HandlerError{Attempts: attempts, Err: err}
	name(he)
	if l.cfg.HandlerFailure == HandlerFailureSkip {
		l.report(he)
		return false, nil
	}
	return false, he
}

var errAborted = errors.New("listen: stopped during handler retry")

func (l *core) call(it *item) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	if it.kind == itemHistoryLost {
		return l.cfg.GapHandler(l.parent, it.gap)
	}
	return l.deliver(l.parent, it)
}

// callBatch is call for a batch.
func (l *core) callBatch(its []*item) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return l.batch(l.parent, its)
}

// noteLag turns the last handled event's commit time into Stats.Lag. The
// run loop calls it when it goes idle or ends a burst, not per event:
// reading the clock per event and listener was a tenth of the CPU of a
// thousand-listener fan-out, and a burst is at most maxBurst events.
func (l *core) noteLag() {
	l.statsMu.Lock()
	defer l.statsMu.Unlock()
	if l.lagDue {
		l.stats.Lag = time.Since(l.lagFrom)
		l.lagDue = false
	}
}

func (l *core) delivered(it *item) {
	l.statsMu.Lock()
	defer l.statsMu.Unlock()
	l.stats.Delivered++
	if it.kind == itemEvent {
		l.stats.LastClusterTime = it.ev.clusterTime
		if !it.ev.wallTime.IsZero() {
			l.lagFrom, l.lagDue = it.ev.wallTime, true
		}
	}
}
