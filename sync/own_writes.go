package sync

import (
	gosync "sync"

	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// ownWritesCap bounds how many of the syncer's own commits are remembered.
const ownWritesCap = 1024

// ownWrites remembers which documents the syncer itself wrote in its recent
// transactions on one side, by commit time. A change event with that
// cluster time and document is the echo of the syncer's own write: the
// other direction's handler would read the document and its base only to
// find them equal, so it skips those two round trips. Skipping is always
// safe, because handling is state based: any later change of the document
// has its own event. A forgotten commit (beyond the cap, or a commit time
// the server did not report) only costs the reads.
//
// The document is part of the key, not only the time: on a sharded cluster
// two shards can commit at the same cluster time.
type ownWrites struct {
	mu    gosync.Mutex
	byTS  map[bson.Timestamp]map[string]struct{}
	order []bson.Timestamp
}

func ownKey(coll string, id bson.RawValue) string { return coll + "\x00" + idKey(id) }

// add records that the transaction committed at ts (nil: unknown) wrote
// ids of coll.
func (o *ownWrites) add(ts *bson.Timestamp, coll string, ids ...bson.RawValue) {
	if ts == nil || ts.IsZero() || len(ids) == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.byTS == nil {
		o.byTS = map[bson.Timestamp]map[string]struct{}{}
	}
	set, ok := o.byTS[*ts]
	if !ok {
		if len(o.order) >= ownWritesCap {
			delete(o.byTS, o.order[0])
			o.order = o.order[1:]
		}
		set = make(map[string]struct{}, len(ids))
		o.byTS[*ts] = set
		o.order = append(o.order, *ts)
	}
	for _, id := range ids {
		set[ownKey(coll, id)] = struct{}{}
	}
}

// has reports whether the change of coll's id at ts is one of the
// syncer's own writes.
func (o *ownWrites) has(ts bson.Timestamp, coll string, id bson.RawValue) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.byTS[ts][ownKey(coll, id)]
	return ok
}

// ownEcho reports whether ev is the echo of one of the syncer's own writes
// recorded in o. It takes the document's lock first: a writer records its
// commit before it releases that lock, so an echo delivered before the
// record is made still finds it.
func (s *Syncer) ownEcho(o *ownWrites, coll string, ev *listen.ChangeEvent[bson.Raw]) bool {
	id := ev.DocumentKey.Lookup("_id")
	unlock := s.lock(coll, id)
	defer unlock()
	return o.has(ev.ClusterTime, coll, id)
}
