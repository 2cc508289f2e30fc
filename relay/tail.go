package relay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Tail reads a relay's partitions without a consumer group (XREAD: nothing
// is acknowledged, nothing is shared) and calls fn for each entry, with its
// ID, partition and event, until ctx ends or fn fails. It starts at new
// entries, or at the oldest retained one with fromStart. fn is called from
// one goroutine per partition, so entries of different partitions can
// interleave; one partition's come in order.
func Tail(ctx context.Context, rdb redis.UniversalClient, prefix, name string, fromStart bool, fn func(id string, partition int, ev bson.Raw) error) error {
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	n, err := partitionsOf(ctx, rdb, prefix, name)
	if err != nil {
		return err
	}
	k := streamKeys{prefix: prefix, name: name, partitions: n}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for p := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := tailPartition(ctx, rdb, k.partition(p), p, fromStart, fn); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func tailPartition(ctx context.Context, rdb redis.UniversalClient, key string, p int, fromStart bool, fn func(string, int, bson.Raw) error) error {
	last := "$"
	if fromStart {
		last = "0-0"
	}
	if last == "$" {
		// "$" means "after the newest entry at each call": resolve it once,
		// so entries appended between two reads are not skipped.
		info, err := rdb.XInfoStream(ctx, key).Result()
		switch {
		case err == nil:
			last = info.LastGeneratedID
		case err.Error() == "ERR no such key":
			last = "0-0"
		default:
			return fmt.Errorf("relay: %s: %w", key, err)
		}
	}
	for ctx.Err() == nil {
		res, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{key, last}, Count: 256, Block: 500 * time.Millisecond}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("relay: read %s: %w", key, err)
		}
		for _, s := range res {
			for _, m := range s.Messages {
				ev, err := eventOf(m)
				if err != nil {
					return err
				}
				if err := fn(m.ID, p, ev); err != nil {
					return err
				}
				last = m.ID
			}
		}
	}
	return nil
}
