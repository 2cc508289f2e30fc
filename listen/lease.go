package listen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/mongotide/mongotide/internal/goid"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mongotide/mongotide/lease"
	"github.com/mongotide/mongotide/resume"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// ErrLeaseLost is reported (OnError) when a leased listener loses its
// lease: it stops delivering and stands by again.
var ErrLeaseLost = errors.New("listen: lease lost")

func defaultHolder() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}

// leased runs a listener only while it holds its lease. Each time it
// acquires the lease it starts an ordinary subscription (resuming from the
// shared store), renews the lease every TTL/3 while it runs, and stops it
// when the lease is lost; meanwhile a gate refuses every handler call once
// the grant's deadline has passed, so even a holder that was paused (a
// stopped process, a GC pause) does not deliver after another could have
// taken over. Checkpoint saves carry the grant's fencing token.
type leased struct {
	coll *mongo.Collection
	cfg  Config
	d    delivery

	deadline atomic.Int64 // UnixNano of the current grant's deadline; 0 when not holding
	token    atomic.Uint64
	takeover atomic.Uint64 // acquisitions

	stopReq  chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	// own is run's goroutine, which calls OnError: a Stop from there
	// must not wait for run to end.
	own goid.Set

	mu       sync.Mutex
	cur      *Subscription
	err      error
	finalErr error
	stopCtx  context.Context // of the Stop call that is waiting, for the inner stop
}

func listenLeased(ctx context.Context, coll *mongo.Collection, cfg Config, d delivery) (*Subscription, error) {
	ls := &leased{coll: coll, cfg: cfg, d: d, stopReq: make(chan struct{}), done: make(chan struct{})}
	go ls.run(context.WithoutCancel(ctx))
	return &Subscription{ls: ls}, nil
}

// valid is the handler gate: the grant's deadline has not passed. The
// deadline carries a monotonic reading, so a pause of the whole process
// counts.
func (ls *leased) valid() bool {
	dl := ls.deadline.Load()
	return dl != 0 && time.Now().UnixNano() < dl
}

func (ls *leased) report(err error) {
	if ls.cfg.OnError != nil {
		ls.cfg.OnError(err)
	}
}

// run alternates standing by and holding until Stop or a fatal error.
func (ls *leased) run(ctx context.Context) {
	defer close(ls.done)
	defer ls.own.RemoveID(ls.own.AddSelf())
	retry := ls.cfg.LeaseTTL / 4
	for {
		g, err := ls.cfg.Lease.Acquire(ctx, ls.cfg.LeaseName, ls.cfg.LeaseHolder, ls.cfg.LeaseTTL)
		if err != nil {
			if !errors.Is(err, lease.ErrHeld) {
				ls.report(fmt.Errorf("listen: acquire lease %q: %w", ls.cfg.LeaseName, err))
			}
			if !ls.wait(retry) {
				return
			}
			continue
		}
		end, err := ls.hold(ctx, g)
		if err != nil {
			ls.mu.Lock()
			ls.err = err
			ls.mu.Unlock()
			ls.report(err)
			return
		}
		if end {
			return
		}
	}
}

// wait waits d, false if Stop was requested meanwhile.
func (ls *leased) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ls.stopReq:
		return false
	}
}

// hold runs the subscription under g until the lease is lost (false, nil:
// stand by again), Stop (true, nil) or the subscription ends by itself
// (true, its error).
func (ls *leased) hold(ctx context.Context, g lease.Grant) (end bool, err error) {
	ls.deadline.Store(g.Deadline.UnixNano())
	ls.token.Store(g.Token)
	ls.takeover.Add(1)
	defer ls.deadline.Store(0)
	cfg := ls.cfg
	cfg.gate = ls.valid
	if fs, ok := cfg.Store.(resume.FencedStore); ok {
		cfg.Store = fencedStore{fs, g.Token}
	}
	cfg.Logger.Info("listen: lease acquired", "lease", g.Name, "holder", g.Holder, "token", g.Token)
	if err := ls.pinStart(ctx, cfg.Store); err != nil {
		_ = ls.cfg.Lease.Release(ctx, g)
		ls.report(err)
		return false, nil // stand by and try again
	}
	sub, err := listenWith(ctx, ls.coll, cfg, ls.d)
	if err != nil {
		_ = ls.cfg.Lease.Release(ctx, g)
		return true, err
	}
	ls.mu.Lock()
	ls.cur = sub
	ls.mu.Unlock()
	release := func(stopCtx context.Context) error {
		serr := sub.Stop(stopCtx)
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_ = ls.cfg.Lease.Release(rctx, g)
		return serr
	}
	renew := time.NewTicker(ls.cfg.LeaseTTL / 3)
	defer renew.Stop()
	for {
		select {
		case <-ls.stopReq:
			ls.mu.Lock()
			sctx := ls.stopCtx
			ls.mu.Unlock()
			ferr := release(sctx)
			ls.mu.Lock()
			ls.finalErr = ferr
			ls.mu.Unlock()
			return true, nil
		case <-sub.Done():
			_ = release(ctx)
			ls.mu.Lock()
			ls.cur = nil
			ls.mu.Unlock()
			if err := sub.Err(); err != nil {
				return true, err
			}
			// Ended without an error and without Stop: the gate closed
			// (the grant's deadline passed before a renewal). Stand by.
			ls.report(fmt.Errorf("%w: %q (token %d): its deadline passed", ErrLeaseLost, g.Name, g.Token))
			return false, nil
		case <-renew.C:
			rctx, cancel := context.WithDeadline(ctx, g.Deadline)
			ng, err := ls.cfg.Lease.Renew(rctx, g, ls.cfg.LeaseTTL)
			cancel()
			if err == nil {
				g = ng
				ls.deadline.Store(g.Deadline.UnixNano())
				continue
			}
			if !errors.Is(err, lease.ErrLost) && ls.valid() {
				ls.report(fmt.Errorf("listen: renew lease %q: %w", g.Name, err))
				continue // try again at the next tick, while the grant lasts
			}
			ls.deadline.Store(0) // the gate closes now, whatever the deadline said
			ls.report(fmt.Errorf("%w: %q (token %d): %v", ErrLeaseLost, g.Name, g.Token, err))
			sctx, cancel := context.WithTimeout(ctx, ls.cfg.LeaseTTL)
			if err := release(sctx); err != nil {
				// Typically resume.ErrFenced: the successor saved first.
				ls.report(fmt.Errorf("listen: stopping after losing lease %q: %w", g.Name, err))
			}
			cancel()
			ls.mu.Lock()
			ls.cur = nil
			ls.mu.Unlock()
			return false, nil
		}
	}
}

// pinStart makes sure the shared store holds a position before the holder
// delivers anything: a first holder starts at "now", and if it died before
// its first checkpoint, its successor would start at its own "now" and
// miss what came in between. The position is the high-water mark of a
// change stream opened for the purpose (valid to resume any pipeline on
// the collection).
func (ls *leased) pinStart(ctx context.Context, store resume.Store) error {
	tok, err := store.Load(ctx, ls.cfg.StoreKey)
	if err != nil || tok != nil {
		return err
	}
	cs, err := ls.coll.Watch(ctx, mongo.Pipeline{})
	if err != nil {
		return fmt.Errorf("listen: lease %q: open the start position: %w", ls.cfg.LeaseName, err)
	}
	tok = cs.ResumeToken()
	_ = cs.Close(ctx)
	if tok == nil {
		return fmt.Errorf("listen: lease %q: the server gave no start position", ls.cfg.LeaseName)
	}
	if err := store.Save(ctx, ls.cfg.StoreKey, tok); err != nil {
		return fmt.Errorf("listen: lease %q: save the start position: %w", ls.cfg.LeaseName, err)
	}
	return nil
}

// fencedStore saves through SaveFenced with the grant's token.
type fencedStore struct {
	resume.FencedStore
	fence uint64
}

func (f fencedStore) Save(ctx context.Context, key string, token bson.Raw) error {
	return f.SaveFenced(ctx, key, token, f.fence)
}

func (ls *leased) stop(ctx context.Context) error {
	ls.mu.Lock()
	if ls.stopCtx == nil {
		ls.stopCtx = ctx
		if ls.own.HasSelf() {
			ls.stopCtx = context.Background()
		}
	}
	cur := ls.cur
	ls.mu.Unlock()
	ls.stopOnce.Do(func() { close(ls.stopReq) })
	// From the listener's own code (a handler, OnError, ...) the stop is
	// only requested, as for an ordinary subscription: waiting would wait
	// for the caller itself.
	if ls.own.HasSelf() || (cur != nil && cur.c.ownsSelf()) {
		return nil
	}
	select {
	case <-ls.done:
		ls.mu.Lock()
		defer ls.mu.Unlock()
		return ls.finalErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (ls *leased) stats() Stats {
	ls.mu.Lock()
	cur := ls.cur
	ls.mu.Unlock()
	var st Stats
	if cur != nil {
		st = cur.Stats()
	}
	// Held once delivering: the subscription is open, so every write
	// committed from now on reaches it.
	st.LeaseHeld = cur != nil && ls.valid()
	st.LeaseToken = ls.token.Load()
	st.LeaseAcquisitions = ls.takeover.Load()
	return st
}

func (ls *leased) errValue() error {
	select {
	case <-ls.done:
		ls.mu.Lock()
		defer ls.mu.Unlock()
		return ls.err
	default:
		return nil
	}
}
