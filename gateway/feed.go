package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/mongotide/mongotide/internal/ctxwait"
	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/resume"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// entry is one change of a collection as the shared stream read it, for
// every owner: scoping happens when a client reads it.
type entry struct {
	pos    position
	op     listen.OperationType
	id     bson.RawValue
	after  bson.Raw // post-image (looked up for updates); nil when gone
	before bson.Raw // pre-image when the collection records them
	// afterOwner and beforeOwner are the rule's owner field in after and
	// before, read once per change instead of once per reader (ok: the
	// field is there and is a string).
	afterOwner, beforeOwner     string
	afterOwnerOK, beforeOwnerOK bool
}

// feedOps are the events a feed keeps; collection-level events (drop,
// rename, invalidate) carry no document to scope and are not served.
var feedOps = []listen.OperationType{listen.Insert, listen.Update, listen.Replace, listen.Delete}

// feed is one collection's shared change stream and its ring of recent
// changes. Every client of the collection reads the ring; none opens a
// server cursor while its position is in it.
type feed struct {
	name string
	rule Rule
	coll *mongo.Collection
	size int

	mu sync.Mutex
	// ring holds the latest changes, oldest first, in stream order.
	ring []entry
	// floor: every event after it is in ring (see position). It starts at
	// a cluster time read after the stream opened, then follows evictions.
	floor position
	// wake is closed (and replaced) whenever ring grows or the feed ends,
	// waking live requests.
	wake  chan struct{}
	state string // "starting", "open", "failed", "stopped"
	err   error
	sub   *listen.Subscription
	// closed: stop was called; a reopen racing it stops what it opened.
	closed bool
	// present reads the database's cluster time for now, shared by the
	// gateway's feeds (nil in unit tests of a bare feed: read directly).
	present *presentClock
	// hub and onError are start's, kept for reopen.
	hub     *listen.Hub
	onError func(error)
	// owners wakes live requests per owner (nil in unit tests of a bare
	// feed).
	owners *ownerWake

	appended, evicted, historyOpens, unattributed, gaps, reopens atomic.Uint64
}

func newFeed(name string, rule Rule, coll *mongo.Collection, size int) *feed {
	return &feed{name: name, rule: rule, coll: coll, size: size, wake: make(chan struct{}), state: "starting"}
}

// start opens the shared stream. The floor is a cluster time read after
// the stream is open: every event committed after it reaches the ring.
func (f *feed) start(ctx context.Context, hub *listen.Hub, onError func(error)) error {
	f.mu.Lock()
	f.hub, f.onError = hub, onError
	f.mu.Unlock()
	sub, err := f.subscribe(ctx, nil)
	if err != nil {
		f.setState("failed", err)
		return fmt.Errorf("gateway: change stream of %q: %w", f.name, err)
	}
	t, err := clusterTime(ctx, f.coll)
	if err != nil {
		_ = sub.Stop(context.WithoutCancel(ctx))
		f.setState("failed", err)
		return fmt.Errorf("gateway: cluster time for %q: %w", f.name, err)
	}
	f.mu.Lock()
	f.floor = position{T: t}
	f.mu.Unlock()
	return f.opened(ctx, sub)
}

// subscribe opens the feed's subscription, after the token from when it
// is set (a reopen), else from now.
func (f *feed) subscribe(ctx context.Context, from bson.Raw) (*listen.Subscription, error) {
	f.mu.Lock()
	hub, onError := f.hub, f.onError
	f.mu.Unlock()
	opts := []listen.Option{
		listen.WithHub(hub),
		listen.WithOperationTypes(feedOps...),
		listen.WithFullDocument(options.UpdateLookup),
		listen.WithFullDocumentBeforeChange(options.WhenAvailable),
		listen.WithInvalidatePolicy(listen.InvalidateContinue),
		listen.WithBufferSize(1024),
		listen.WithOnError(onError),
		// A stream that fell behind the oplog (286) reopens from now
		// instead of ending the feed for good; the gap handler empties
		// the ring and moves the floor past the gap, so a cursor from
		// before it is served from the history while that lasts, else
		// refused with 410 (the client takes a snapshot again).
		listen.WithHistoryLostPolicy(listen.HistoryLostRestartFromNow),
		listen.WithGapHandler(func(ctx context.Context, _ listen.Gap) error { return f.gap(ctx) }),
	}
	if from != nil {
		// A store holding the last token the ring has: the stream
		// resumes right after it.
		store := resume.NewMemoryStore()
		if err := store.Save(ctx, f.name, from); err != nil {
			return nil, err
		}
		opts = append(opts, listen.WithResumeStore(store, f.name))
	}
	return listen.Listen[bson.Raw](ctx, f.coll, f.handle, opts...)
}

// opened makes sub the feed's subscription, unless stop came first.
func (f *feed) opened(ctx context.Context, sub *listen.Subscription) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		_ = sub.Stop(context.WithoutCancel(ctx))
		return ErrStopped
	}
	f.sub = sub
	f.mu.Unlock()
	f.setState("open", nil)
	return nil
}

// reopen replaces a subscription that ended with an error: it resumes
// after the ring's last event, so nothing is missed or repeated; with an
// empty ring it opens from now and moves the floor past the outage (a
// cursor from before it is served from the history, as after a gap).
func (f *feed) reopen(ctx context.Context) error {
	f.mu.Lock()
	var from bson.Raw
	if n := len(f.ring); n > 0 {
		from = f.ring[n-1].pos.Tok
	}
	f.mu.Unlock()
	sub, err := f.subscribe(ctx, from)
	if err != nil {
		return err
	}
	if from == nil {
		if err := f.gap(ctx); err != nil {
			_ = sub.Stop(context.WithoutCancel(ctx))
			return err
		}
	}
	if err := f.opened(ctx, sub); err != nil {
		return err
	}
	f.reopens.Add(1)
	return nil
}

// gap forgets the ring after the stream lost history: every event after
// the new floor (a cluster time read now, after the stream reopened) will
// reach the ring; what came before is the history's to serve.
func (f *feed) gap(ctx context.Context) error {
	t, err := clusterTime(ctx, f.coll)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.ring = nil
	f.floor = position{T: t}
	f.mu.Unlock()
	f.gaps.Add(1)
	f.setState("open", nil) // wakes live readers: their position may be gone
	return nil
}

// watch supervises the subscription until ctx ends (Stop): one that ends
// with an error marks the feed failed (waking its live readers, /v1/ready
// says so) and is reopened after bo's wait, again and again until it
// opens. A subscription that ends without an error was stopped.
func (f *feed) watch(ctx context.Context, bo backoff.BackOff) {
	for {
		f.mu.Lock()
		sub := f.sub
		f.mu.Unlock()
		<-sub.Done()
		err := sub.Err()
		if err == nil || ctx.Err() != nil {
			f.setState("stopped", nil)
			return
		}
		f.setState("failed", err)
		bo.Reset()
		for {
			if !waitReopen(ctx, bo.NextBackOff()) {
				f.setState("stopped", nil)
				return
			}
			rerr := f.reopen(ctx)
			if rerr == nil {
				break
			}
			if errors.Is(rerr, ErrStopped) || ctx.Err() != nil {
				f.setState("stopped", nil)
				return
			}
			f.setState("failed", fmt.Errorf("%w (reopening: %w)", err, rerr))
		}
	}
}

// waitReopen waits d before a reopen (backoff.Stop: until ctx ends);
// false if ctx ended first.
func waitReopen(ctx context.Context, d time.Duration) bool {
	if d == backoff.Stop {
		<-ctx.Done()
		return false
	}
	return ctxwait.Sleep(ctx, d) == nil
}

func (f *feed) stop(ctx context.Context) error {
	f.mu.Lock()
	f.closed = true
	sub := f.sub
	f.mu.Unlock()
	if sub == nil {
		return nil
	}
	return sub.Stop(ctx)
}

func (f *feed) setState(s string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state, f.err = s, err
	close(f.wake)
	f.wake = make(chan struct{})
	if f.owners != nil {
		f.owners.wakeAll()
	}
}

func (f *feed) status() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state, f.err
}

func (f *feed) handle(_ context.Context, _ string, ev *listen.ChangeEvent[bson.Raw]) error {
	e := f.entryOf(ev)
	f.mu.Lock()
	f.ring = append(f.ring, e)
	// Trim in batches of a quarter of the size so that eviction copies the
	// ring once per size/4 events, not on every event.
	trimmed := false
	if over := len(f.ring) - f.size; over > 0 && over >= max(1, f.size/4) {
		f.floor = f.ring[over-1].pos
		f.ring = append([]entry(nil), f.ring[over:]...)
		f.evicted.Add(uint64(over))
		trimmed = true
	}
	close(f.wake)
	f.wake = make(chan struct{})
	f.mu.Unlock()
	if w := f.owners; w != nil {
		// Wake after the entry is in the ring: a woken request reads it.
		switch {
		case f.rule.Shared || trimmed:
			w.wakeAll()
		default:
			if e.afterOwnerOK {
				w.wake(e.afterOwner)
			}
			if e.beforeOwnerOK && (!e.afterOwnerOK || e.beforeOwner != e.afterOwner) {
				w.wake(e.beforeOwner)
			}
		}
	}
	f.appended.Add(1)
	if e.op == listen.Delete && e.before == nil && !f.rule.Shared {
		f.unattributed.Add(1)
	}
	return nil
}

func (f *feed) entryOf(ev *listen.ChangeEvent[bson.Raw]) entry {
	e := entry{pos: position{T: ev.ClusterTime, Tok: ev.ID}, op: ev.OperationType}
	e.id = ev.DocumentKey.Lookup("_id")
	if ev.FullDocument != nil {
		e.after = *ev.FullDocument
	}
	if ev.FullDocumentBeforeChange != nil {
		e.before = *ev.FullDocumentBeforeChange
	}
	if !f.rule.Shared {
		e.afterOwner, e.afterOwnerOK = ownerIn(e.after, f.rule.OwnerField)
		e.beforeOwner, e.beforeOwnerOK = ownerIn(e.before, f.rule.OwnerField)
	}
	return e
}

// ownerIn is d's owner field when it is a string.
func ownerIn(d bson.Raw, field string) (string, bool) {
	if d == nil {
		return "", false
	}
	return d.Lookup(field).StringValueOK()
}

// now is the present as a position: the database's cluster time, read
// now, with no token. Every change committed before the request is at or
// before it, so a pull from it never returns one, even when the shared
// stream has not brought it into the ring yet (the ring's last position
// would trail the database by that much); every later change is after it.
// A snapshot read after now plus a pull from now misses nothing.
func (f *feed) now(ctx context.Context) (position, error) {
	f.mu.Lock()
	open := f.state == "open"
	f.mu.Unlock()
	if !open {
		f.mu.Lock()
		defer f.mu.Unlock()
		return position{}, f.unavailable()
	}
	var t bson.Timestamp
	var err error
	if f.present != nil {
		t, err = f.present.now(ctx)
	} else {
		t, err = clusterTime(ctx, f.coll)
	}
	if err != nil {
		return position{}, fmt.Errorf("%w: cluster time of %q: %v", errUnavailable, f.name, err)
	}
	return position{T: t}, nil
}

func (f *feed) unavailable() error {
	if f.err != nil {
		return fmt.Errorf("%w: change stream of %q: %v", errUnavailable, f.name, f.err)
	}
	return fmt.Errorf("%w: change stream of %q is %s", errUnavailable, f.name, f.state)
}

// waitCh returns the channel closed at the feed's next change.
func (f *feed) waitCh() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wake
}

// scoped is a change as one principal sees it.
type scoped struct {
	coll string
	ci   int // index of coll in the request, to order equal times
	op   listen.OperationType
	id   bson.RawValue
	doc  bson.Raw
	pos  position
}

// scope returns e as owner sees it, or false when owner must not see it.
// A document that left the owner's scope is a delete for that owner (a
// delete may then reach it twice: apply deletes idempotently); a delete
// without a pre-image cannot be attributed and is hidden (counted as
// unattributed).
func (f *feed) scope(e entry, owner string) (scoped, bool) {
	s := scoped{coll: f.name, op: e.op, id: e.id, pos: e.pos}
	if f.rule.Shared {
		if e.op == listen.Delete {
			return s, true
		}
		if e.after == nil { // updated, then deleted before the lookup: the delete follows
			return s, false
		}
		s.doc = e.after
		return s, true
	}
	mineAfter := e.afterOwnerOK && e.afterOwner == owner
	mineBefore := e.beforeOwnerOK && e.beforeOwner == owner
	switch {
	case e.op != listen.Delete && mineAfter:
		s.doc = e.after
		return s, true
	case e.op != listen.Delete && mineBefore:
		// It was the owner's and is not now: handed to another owner, or
		// deleted before the update's lookup (after is nil, and the delete
		// event is attributed to whoever owned it then). Either way it left
		// this owner's scope.
		s.op = listen.Delete
		return s, true
	case e.op == listen.Delete && mineBefore:
		return s, true
	}
	return s, false
}

var errUnavailable = errors.New("unavailable")

// readRing returns up to limit changes after p that owner may see, and the
// position after the last entry examined. ok is false when p is older than
// the ring (the caller then reads the server's history).
func (f *feed) readRing(p position, owner string, limit int) (out []scoped, tail position, ok bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state != "open" {
		return nil, p, false, f.unavailable()
	}
	start, ok := f.locate(p)
	if !ok {
		return nil, p, false, nil
	}
	tail = p
	for _, e := range f.ring[start:] {
		if len(out) == limit {
			break
		}
		tail = e.pos
		if s, yes := f.scope(e, owner); yes {
			out = append(out, s)
		}
	}
	return out, tail, true, nil
}

// locate returns the index of the first ring entry after p, or false when
// the ring cannot tell (p is before the floor, or its token is unknown).
func (f *feed) locate(p position) (int, bool) {
	r := f.ring
	if p.Tok == nil {
		if p.T.Before(f.floor.T) {
			return 0, false
		}
		return sort.Search(len(r), func(i int) bool { return p.T.Before(r[i].pos.T) }), true
	}
	if bytes.Equal(p.Tok, f.floor.Tok) {
		return 0, true
	}
	// Cluster times never decrease along the stream: only entries at p.T
	// can hold p's token.
	i := sort.Search(len(r), func(i int) bool { return !r[i].pos.T.Before(p.T) })
	for ; i < len(r) && r[i].pos.T.Equal(p.T); i++ {
		if bytes.Equal(r[i].pos.Tok, p.Tok) {
			return i + 1, true
		}
	}
	// A token later than everything in the ring (read by a history request
	// or another instance, not here yet): nothing to serve yet.
	if f.floor.T.Before(p.T) && (len(r) == 0 || r[len(r)-1].pos.T.Before(p.T)) {
		return len(r), true
	}
	return 0, false
}

// historyScanLimit bounds how many events one request reads from a history
// stream, so that a client far behind cannot hold a request open while the
// gateway scans other owners' changes: it gets a page (maybe empty) and a
// cursor further on.
const historyScanLimit = 10000

var errHistoryLost = errors.New("cursor expired: the database no longer has the history after it; take a new snapshot")

// readHistory reads changes after p from a change stream opened for this
// request only, until limit changes for owner, the scan limit, or the
// present.
func (f *feed) readHistory(ctx context.Context, p position, owner string, limit int) (out []scoped, tail position, err error) {
	f.historyOpens.Add(1)
	ops := bson.A{}
	for _, op := range feedOps {
		ops = append(ops, string(op))
	}
	pipeline := mongo.Pipeline{{{Key: "$match", Value: bson.D{{Key: "operationType", Value: bson.D{{Key: "$in", Value: ops}}}}}}}
	opts := options.ChangeStream().
		SetFullDocument(options.UpdateLookup).
		SetFullDocumentBeforeChange(options.WhenAvailable).
		SetMaxAwaitTime(10 * time.Millisecond)
	if p.Tok != nil {
		opts.SetStartAfter(p.Tok)
	} else {
		opts.SetStartAtOperationTime(&bson.Timestamp{T: p.T.T, I: p.T.I + 1})
	}
	cs, err := f.coll.Watch(ctx, pipeline, opts)
	if err != nil {
		return nil, p, historyErr(err)
	}
	defer cs.Close(context.WithoutCancel(ctx))
	tail = p
	for scanned := 0; len(out) < limit && scanned < historyScanLimit && cs.TryNext(ctx); scanned++ {
		ev, _, err := listen.DecodeEvent[bson.Raw](cs.Current)
		if err != nil {
			return nil, p, err
		}
		e := f.entryOf(ev)
		tail = e.pos
		if s, yes := f.scope(e, owner); yes {
			out = append(out, s)
		}
	}
	if err := cs.Err(); err != nil {
		return nil, p, historyErr(err)
	}
	return out, tail, nil
}

func historyErr(err error) error {
	var se mongo.ServerError
	if errors.As(err, &se) && (se.HasErrorCode(286) || se.HasErrorCode(280)) {
		return errHistoryLost
	}
	return err
}

// clusterTime reads the server's operation time through a session: any
// event committed after the returned time is later in the stream.
func clusterTime(ctx context.Context, coll *mongo.Collection) (bson.Timestamp, error) {
	sess, err := coll.Database().Client().StartSession()
	if err != nil {
		return bson.Timestamp{}, err
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	sctx := mongo.NewSessionContext(ctx, sess)
	if err := coll.FindOne(sctx, bson.D{}).Err(); err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return bson.Timestamp{}, err
	}
	if t := sess.OperationTime(); t != nil {
		return *t, nil
	}
	return bson.Timestamp{}, errors.New("the server reported no operation time (not a replica set?)")
}
