package relay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/mongotide/mongotide/lease"
	"github.com/redis/go-redis/v9"
)

// orderedLoop serves partition p in ordered mode: hold its lease, handle
// what is pending (a predecessor's entries first), then new entries, one at
// a time, until the lease is lost or the consumer stops.
func (c *Consumer) orderedLoop(ctx context.Context, p int) {
	defer c.wg.Done()
	name := "relay:" + c.cfg.Name + ":" + c.group + ":" + strconv.Itoa(p)
	ttl := c.cfg.OrderedTTL
	for ctx.Err() == nil {
		g, err := c.cfg.Ordered.Acquire(ctx, name, c.cfg.Consumer, ttl)
		if err != nil {
			if !errors.Is(err, lease.ErrHeld) && ctx.Err() == nil {
				c.cfg.OnError(fmt.Errorf("relay: ordered partition %d: acquire %q: %w", p, name, err))
			}
			if !sleepCtx(ctx, ttl/4) {
				return
			}
			continue
		}
		err = c.holdPartition(ctx, p, g)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = c.cfg.Ordered.Release(rctx, g)
		cancel()
		if err != nil && ctx.Err() == nil {
			c.cfg.OnError(err)
		}
	}
}

// holdPartition handles partition p while g lasts. It returns nil when the
// consumer stops, an error when the lease was lost or Redis failed.
func (c *Consumer) holdPartition(ctx context.Context, p int, g lease.Grant) error {
	key := c.keys.partition(p)
	ttl := c.cfg.OrderedTTL
	renewAt := time.Now().Add(ttl / 3)
	// keep renews the lease when due and says whether it still holds.
	keep := func() error {
		if time.Now().After(renewAt) {
			rctx, cancel := context.WithDeadline(ctx, g.Deadline)
			ng, err := c.cfg.Ordered.Renew(rctx, g, ttl)
			cancel()
			if err == nil {
				g, renewAt = ng, time.Now().Add(ttl/3)
			} else if errors.Is(err, lease.ErrLost) {
				return fmt.Errorf("relay: ordered partition %d: %w", p, err)
			}
		}
		if !g.Valid(time.Now()) {
			return fmt.Errorf("relay: ordered partition %d: %w: deadline passed", p, lease.ErrLost)
		}
		return nil
	}
	// The predecessor's pending entries first, in ID order (XAUTOCLAIM
	// with no idle time takes them whoever holds them).
	start := "0-0"
	for {
		msgs, next, err := c.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: key, Group: c.group, Consumer: c.cfg.Consumer, MinIdle: 0, Start: start, Count: c.cfg.Count,
		}).Result()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("relay: ordered partition %d: claim pending: %w", p, err)
		}
		for _, m := range msgs {
			c.claimed.Add(1)
			if err := c.orderedDeliver(ctx, p, m, keep); err != nil {
				return err
			}
		}
		if next == "0-0" || len(msgs) == 0 {
			break
		}
		start = next
	}
	block := min(c.cfg.Block, ttl/3)
	for ctx.Err() == nil {
		if err := keep(); err != nil {
			return err
		}
		res, err := c.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: c.group, Consumer: c.cfg.Consumer, Streams: []string{key, ">"}, Count: c.cfg.Count, Block: block,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("relay: ordered partition %d: read: %w", p, err)
		}
		for _, s := range res {
			for _, m := range s.Messages {
				if err := c.orderedDeliver(ctx, p, m, keep); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// orderedDeliver handles m before anything after it: a failing handler is
// retried (with backoff) while the lease holds, and the entry moves to the
// dead-letter stream after MaxDeliveries rounds of Attempts, so one poison
// entry cannot stop its partition forever.
func (c *Consumer) orderedDeliver(ctx context.Context, p int, m redis.XMessage, keep func() error) error {
	b := c.cfg.HandlerBackoff()
	for round := int64(1); ; round++ {
		if err := keep(); err != nil {
			return err // left pending: the next holder handles it first
		}
		if c.deliver(ctx, p, m) == nil {
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		if round >= c.cfg.MaxDeliveries {
			return c.deadLetter(ctx, p, m, round, errors.New("handler failed on every delivery (ordered mode)"))
		}
		if d := b.NextBackOff(); d != backoff.Stop && !sleepCtx(ctx, d) {
			return nil
		}
	}
}
