// Package leasetest is the conformance suite for lease.Lease
// implementations; lease/redislease runs it on a single Redis node and on a
// Redis Cluster.
package leasetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mongotide/mongotide/lease"
)

// Run runs every check as a subtest. newLease returns a lease whose names
// do not collide with other subtests' (each subtest also uses its own
// names).
func Run(t *testing.T, newLease func(t *testing.T) lease.Lease) {
	ctx := context.Background()
	const ttl = 10 * time.Second

	t.Run("Exclusive", func(t *testing.T) {
		l := newLease(t)
		g, err := l.Acquire(ctx, "excl", "a", ttl)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Acquire(ctx, "excl", "b", ttl); !errors.Is(err, lease.ErrHeld) {
			t.Fatalf("second holder: %v, want ErrHeld", err)
		}
		if g.Name != "excl" || g.Holder != "a" || g.Token == 0 || !g.Valid(time.Now()) {
			t.Fatalf("grant %+v", g)
		}
		if d := time.Until(g.Deadline); d > ttl || d < ttl/2 {
			t.Fatalf("deadline in %v for a ttl of %v: want under the ttl (drift margin) and near it", d, ttl)
		}
	})

	t.Run("TokensIncrease", func(t *testing.T) {
		l := newLease(t)
		var last uint64
		for i := range 5 {
			holder := fmt.Sprint("h", i)
			g, err := l.Acquire(ctx, "tokens", holder, ttl)
			if err != nil {
				t.Fatal(err)
			}
			if g.Token <= last {
				t.Fatalf("token %d after %d", g.Token, last)
			}
			last = g.Token
			if err := l.Release(ctx, g); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("RenewKeepsAndLostFails", func(t *testing.T) {
		l := newLease(t)
		g, err := l.Acquire(ctx, "renew", "a", ttl)
		if err != nil {
			t.Fatal(err)
		}
		g2, err := l.Renew(ctx, g, ttl)
		if err != nil || g2.Token != g.Token || g2.Deadline.Before(g.Deadline) {
			t.Fatalf("renew: %+v, %v", g2, err)
		}
		if err := l.Release(ctx, g2); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Renew(ctx, g2, ttl); !errors.Is(err, lease.ErrLost) {
			t.Fatalf("renew after release: %v, want ErrLost", err)
		}
		g3, err := l.Acquire(ctx, "renew", "b", ttl)
		if err != nil {
			t.Fatalf("acquire after release: %v", err)
		}
		if _, err := l.Renew(ctx, g2, ttl); !errors.Is(err, lease.ErrLost) {
			t.Fatalf("old grant renewed while b holds: %v", err)
		}
		if err := l.Release(ctx, g2); err != nil {
			t.Fatalf("releasing a lost grant: %v, want nil", err)
		}
		if _, err := l.Acquire(ctx, "renew", "c", ttl); !errors.Is(err, lease.ErrHeld) {
			t.Fatalf("a lost grant's release freed b's lease: %v", err)
		}
		_ = l.Release(ctx, g3)
	})

	// Safety: another holder gets an expired lease, but never before the
	// first holder's deadline.
	t.Run("ExpiryAfterDeadline", func(t *testing.T) {
		l := newLease(t)
		short := 200 * time.Millisecond
		g, err := l.Acquire(ctx, "expiry", "a", short)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var g2 lease.Grant
		for {
			g2, err = l.Acquire(ctx, "expiry", "b", short)
			if err == nil {
				break
			}
			if !errors.Is(err, lease.ErrHeld) {
				t.Fatal(err)
			}
			if time.Since(start) > 10*time.Second {
				t.Fatal("the lease never expired")
			}
		}
		if now := time.Now(); g.Valid(now) {
			t.Fatalf("b acquired at %v while a's grant is valid until %v", now, g.Deadline)
		}
		if g2.Token <= g.Token {
			t.Fatalf("b's token %d not above a's %d", g2.Token, g.Token)
		}
	})

	// Under contention exactly one of many acquires wins.
	t.Run("OneWinner", func(t *testing.T) {
		l := newLease(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := l.Acquire(ctx, "race", fmt.Sprint("h", i), ttl)
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if !errors.Is(err, lease.ErrHeld) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d holders acquired at once", wins)
		}
	})
}
