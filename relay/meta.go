package relay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Meta key fields.
const (
	metaPartitions = "partitions"
	metaID         = "id"  // entry ID of the last checkpointed event
	metaToken      = "tok" // its resume token
)

// checkPartitions records the partition count at first use and refuses
// another one later: routing by hash modulo the count would change.
func checkPartitions(ctx context.Context, rdb redis.UniversalClient, k streamKeys) error {
	meta := k.meta()
	if err := rdb.HSetNX(ctx, meta, metaPartitions, k.partitions).Err(); err != nil {
		return fmt.Errorf("relay: %s: %w", meta, err)
	}
	got, err := rdb.HGet(ctx, meta, metaPartitions).Int()
	if err != nil {
		return fmt.Errorf("relay: %s: partitions: %w", meta, err)
	}
	if got != k.partitions {
		return fmt.Errorf("%w: %s has %d partitions, configured %d", ErrPartitionsMismatch, k.name, got, k.partitions)
	}
	return nil
}

// lastPublished finds where publishing left off: the newest entry of all
// partitions, or the meta key's checkpoint when trimming emptied them
// (Redis keeps each stream's last ID after trimming, so events republished
// from an older checkpoint are still refused). A zero position and nil
// token mean nothing was ever published.
func lastPublished(ctx context.Context, rdb redis.UniversalClient, k streamKeys) (position, bson.Raw, error) {
	var best position
	var tok bson.Raw
	consider := func(id string, t string) error {
		pos, err := parseEntryID(id)
		if err != nil {
			return err
		}
		if tok == nil || pos.after(best) {
			best, tok = pos, bson.Raw(t)
		}
		return nil
	}
	for _, key := range k.all() {
		msgs, err := rdb.XRevRangeN(ctx, key, "+", "-", 1).Result()
		if err != nil {
			return position{}, nil, fmt.Errorf("relay: read %s: %w", key, err)
		}
		for _, m := range msgs {
			t, _ := m.Values[fieldToken].(string)
			if t == "" {
				return position{}, nil, fmt.Errorf("%w: %s entry %s has no %q field", ErrCorruptEntry, key, m.ID, fieldToken)
			}
			if err := consider(m.ID, t); err != nil {
				return position{}, nil, err
			}
		}
	}
	vals, err := rdb.HMGet(ctx, k.meta(), metaID, metaToken).Result()
	if err != nil {
		return position{}, nil, fmt.Errorf("relay: read %s: %w", k.meta(), err)
	}
	if id, ok := vals[0].(string); ok {
		t, _ := vals[1].(string)
		if err := consider(id, t); err != nil {
			return position{}, nil, err
		}
	}
	if tok != nil {
		if err := bson.Raw(tok).Validate(); err != nil {
			return position{}, nil, fmt.Errorf("%w: resume token at %s: %v", ErrCorruptEntry, best.entryID(), err)
		}
	}
	return best, tok, nil
}

// trimByAge drops entries whose cluster time is before cutoff.
func trimByAge(ctx context.Context, rdb redis.UniversalClient, k streamKeys, cutoff time.Time) error {
	if cutoff.Unix() <= 0 {
		return nil
	}
	minID := strconv.FormatUint(uint64(cutoff.Unix())<<32, 10) + "-0"
	var errs []error
	for _, key := range k.all() {
		if err := rdb.XTrimMinIDApprox(ctx, key, minID, 0).Err(); err != nil {
			errs = append(errs, fmt.Errorf("relay: trim %s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

// metaStore is the publisher listener's resume store. Load returns where
// Start found publishing left off (the streams are the real checkpoint);
// Save records the listener's checkpoint in the meta key, the fallback for
// when trimming has emptied every partition.
type metaStore struct {
	rdb   redis.UniversalClient
	keys  streamKeys
	start bson.Raw

	mu     sync.Mutex
	recent map[string]position // resume token -> position, of recent events
	order  []string
}

const recentPositions = 4096

// remember records ev's position for a later Save of its token.
func (m *metaStore) remember(token bson.Raw, pos position) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recent == nil {
		m.recent = make(map[string]position, recentPositions)
	}
	k := string(token)
	if _, ok := m.recent[k]; !ok {
		m.order = append(m.order, k)
	}
	m.recent[k] = pos
	if len(m.order) > recentPositions {
		delete(m.recent, m.order[0])
		m.order = m.order[1:]
	}
}

func (m *metaStore) Load(context.Context, string) (bson.Raw, error) { return m.start, nil }

func (m *metaStore) Save(ctx context.Context, _ string, token bson.Raw) error {
	m.mu.Lock()
	pos, ok := m.recent[string(token)]
	m.mu.Unlock()
	if !ok {
		return nil // not an event of ours (a high-water mark): nothing to record
	}
	return m.rdb.HSet(ctx, m.keys.meta(), metaID, pos.entryID(), metaToken, []byte(token)).Err()
}
