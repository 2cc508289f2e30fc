package relay

import (
	"errors"
	"fmt"
	"github.com/redis/go-redis/v9"
	"hash/fnv"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// DefaultKeyPrefix starts every key a relay writes.
const DefaultKeyPrefix = "mongotide:relay:"

// streamKeys names a relay's keys. Each partition key carries its own hash
// tag, so on Redis Cluster the partitions spread over the masters; a
// partition's dead-letter stream shares its tag (same slot), so moving an
// entry there and acknowledging it is one transaction.
type streamKeys struct {
	prefix, name string
	partitions   int
}

func (k streamKeys) partition(p int) string {
	return k.prefix + "{" + k.name + ":" + strconv.Itoa(p) + "}"
}

func (k streamKeys) dead(p int) string { return k.partition(p) + ":dead" }

func (k streamKeys) meta() string { return k.prefix + "{" + k.name + "}:meta" }

func (k streamKeys) all() []string {
	keys := make([]string, k.partitions)
	for p := range keys {
		keys[p] = k.partition(p)
	}
	return keys
}

// partitionOf routes a document key to a partition: FNV-1a of its BSON
// bytes. The same _id value always lands in the same partition, whatever
// process publishes it.
func partitionOf(documentKey bson.Raw, partitions int) int {
	h := fnv.New64a()
	_, _ = h.Write(documentKey)
	return int(h.Sum64() % uint64(partitions))
}

// position is an event's place in the change history: its cluster time and
// its index among the events that share it (one transaction's operations).
type position struct {
	ts  bson.Timestamp
	idx uint64
}

// entryID renders p as a stream entry ID: the cluster time (T<<32 | I) as
// the millisecond part and the index as the sequence part. IDs then order
// like the events, and a position always maps to the same ID.
func (p position) entryID() string {
	return strconv.FormatUint(uint64(p.ts.T)<<32|uint64(p.ts.I), 10) + "-" + strconv.FormatUint(p.idx, 10)
}

func (p position) after(q position) bool {
	if p.ts.T != q.ts.T {
		return p.ts.T > q.ts.T
	}
	if p.ts.I != q.ts.I {
		return p.ts.I > q.ts.I
	}
	return p.idx > q.idx
}

// parseEntryID is entryID's inverse.
func parseEntryID(id string) (position, error) {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok {
		return position{}, fmt.Errorf("relay: entry ID %q is not <ms>-<seq>", id)
	}
	m, err1 := strconv.ParseUint(ms, 10, 64)
	s, err2 := strconv.ParseUint(seq, 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return position{}, fmt.Errorf("relay: entry ID %q: %w", id, err)
	}
	return position{ts: bson.Timestamp{T: uint32(m >> 32), I: uint32(m)}, idx: s}, nil
}

// An entry has one field, named after its format, whose value is the whole
// change event (its _id is the resume token, and operationType, documentKey
// and the rest are inside): one field keeps appends cheap on both sides.
const (
	fieldBSON = "bson" // the event as raw BSON (FormatBSON)
	fieldJSON = "json" // the event as relaxed extended JSON (FormatRelaxedJSON)
	// Dead-letter entries add these.
	fieldFrom   = "from"   // the partition entry's ID
	fieldReason = "reason" // the handler's last error
	fieldTries  = "tries"  // deliveries before it was moved
)

// eventOf returns the event an entry holds, as raw BSON.
func eventOf(m redis.XMessage) (bson.Raw, error) {
	if body, ok := m.Values[fieldBSON].(string); ok {
		raw := bson.Raw(body)
		if err := raw.Validate(); err != nil {
			return nil, fmt.Errorf("%w: entry %s: %v", ErrCorruptEntry, m.ID, err)
		}
		return raw, nil
	}
	if body, ok := m.Values[fieldJSON].(string); ok {
		var d bson.D
		if err := bson.UnmarshalExtJSON([]byte(body), false, &d); err != nil {
			return nil, fmt.Errorf("%w: entry %s: %v", ErrCorruptEntry, m.ID, err)
		}
		raw, err := bson.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %s: %v", ErrCorruptEntry, m.ID, err)
		}
		return raw, nil
	}
	return nil, fmt.Errorf("%w: entry %s has neither a %q nor a %q field", ErrCorruptEntry, m.ID, fieldBSON, fieldJSON)
}
