package gateway

import (
	"context"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// presentClock coalesces reads of the database's cluster time, which every
// pull or snapshot without since needs (feed.now). A caller must get a time
// read after it asked, so that every write acknowledged before its request
// is at or before it; callers that ask while a read is in flight share the
// next read instead of each making one. A thousand clients reconnecting at
// once after a restart then make a few reads, not a thousand, and do not
// grow the connection pool by as many connections.
type presentClock struct {
	read func(context.Context) (bson.Timestamp, error)

	mu sync.Mutex
	// cur is the read in flight (nil: none); next the one that callers
	// arriving now share, started once cur is done (nil: nobody waits).
	cur, next *presentRead
	// waiting counts callers waiting for a read to start (for tests).
	waiting int
}

type presentRead struct {
	started bool
	done    chan struct{}
	t       bson.Timestamp
	err     error
}

// presentReadTimeout bounds a shared read: it runs on behalf of every
// caller that joined it, so it does not end with its starter's context.
const presentReadTimeout = 10 * time.Second

// now returns a cluster time read after the call began.
func (c *presentClock) now(ctx context.Context) (bson.Timestamp, error) {
	c.mu.Lock()
	r := c.next
	if r == nil {
		r = &presentRead{done: make(chan struct{})}
		c.next = r
	}
	for {
		if r.started {
			c.mu.Unlock()
			select {
			case <-r.done:
				return r.t, r.err
			case <-ctx.Done():
				return bson.Timestamp{}, ctx.Err()
			}
		}
		if c.cur == nil {
			// Nothing in flight: this caller runs r for everyone in it.
			r.started, c.cur, c.next = true, r, nil
			c.mu.Unlock()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), presentReadTimeout)
			r.t, r.err = c.read(rctx)
			cancel()
			c.mu.Lock()
			c.cur = nil
			c.mu.Unlock()
			close(r.done)
			return r.t, r.err
		}
		cur := c.cur
		c.waiting++
		c.mu.Unlock()
		select {
		case <-cur.done:
		case <-ctx.Done():
			c.mu.Lock()
			c.waiting--
			c.mu.Unlock()
			return bson.Timestamp{}, ctx.Err()
		}
		c.mu.Lock()
		c.waiting--
	}
}
