package gateway

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestPresentClockCoalescesReads: callers that ask while a read is in
// flight share the next read, which starts after they asked; the caller
// that started the first read gets that one.
func TestPresentClockCoalescesReads(t *testing.T) {
	var reads atomic.Uint32
	release := make(chan struct{})
	c := &presentClock{read: func(context.Context) (bson.Timestamp, error) {
		n := reads.Add(1)
		if n == 1 {
			<-release
		}
		return bson.Timestamp{T: n}, nil
	}}
	ctx := context.Background()
	first := make(chan bson.Timestamp, 1)
	go func() {
		ts, _ := c.now(ctx)
		first <- ts
	}()
	waitFor(t, "the first read in flight", func() bool { return reads.Load() == 1 })
	const n = 50
	var wg sync.WaitGroup
	got := make([]bson.Timestamp, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = c.now(ctx)
		}()
	}
	waitFor(t, "every later caller waiting", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.waiting == n
	})
	close(release)
	wg.Wait()
	if ts := <-first; ts.T != 1 {
		t.Fatalf("the first caller got read %d, want 1", ts.T)
	}
	for i, ts := range got {
		if ts.T != 2 {
			t.Fatalf("caller %d got read %d, want 2 (the one started after it asked)", i, ts.T)
		}
	}
	if r := reads.Load(); r != 2 {
		t.Fatalf("%d reads for %d callers, want 2", r, n+1)
	}
	// A caller whose context ends stops waiting; the others are served.
	release2 := make(chan struct{})
	c.read = func(context.Context) (bson.Timestamp, error) {
		<-release2
		return bson.Timestamp{T: 9}, nil
	}
	done := make(chan bson.Timestamp, 1)
	go func() {
		ts, _ := c.now(ctx)
		done <- ts
	}()
	waitFor(t, "a read in flight", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.cur != nil
	})
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := c.now(cctx); err == nil {
		t.Fatal("a caller whose context ended got a time")
	}
	close(release2)
	if ts := <-done; ts.T != 9 {
		t.Fatalf("the reader got %d", ts.T)
	}
}
