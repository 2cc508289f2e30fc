package engine

import (
	"time"

	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// ringChunk is the allocation unit of the oplog ring: the ring grows chunk
// by chunk up to its capacity instead of doubling and copying a slice of
// large entries.
const ringChunk = 4096

// slotEntry is an Entry as the ring keeps it: the fields every entry has
// inline, the rare ones (pre-image, update description, rename target,
// transaction, catalog payload) behind one pointer. It is half the size of
// an Entry, which matters at 100,000 retained entries.
type slotEntry struct {
	pos   Position
	wall  int64 // UnixNano
	ns    Namespace
	dk    bson.Raw
	doc   bson.Raw
	extra *entryExtra
	// size is the entry's accounted size (entrySize), counted against the
	// ring's byte bound.
	size int64
	op   OpType
	img  bool
}

type entryExtra struct {
	pre  bson.Raw
	ud   *mql.UpdateDescription
	to   Namespace
	lsid bson.Raw
	txn  *int64
	obj  bson.Raw
}

func toSlot(e *Entry) slotEntry {
	s := slotEntry{pos: e.Pos, wall: e.Wall.UnixNano(), ns: e.NS, dk: e.DocumentKey, doc: e.Document, op: e.Op, img: e.ImagesEnabled, size: entrySize(e)}
	if e.PreImage != nil || e.UpdateDescription != nil || e.To != (Namespace{}) || e.LSID != nil || e.TxnNumber != nil || e.Object != nil {
		s.extra = &entryExtra{pre: e.PreImage, ud: e.UpdateDescription, to: e.To, lsid: e.LSID, txn: e.TxnNumber, obj: e.Object}
	}
	return s
}

func (s *slotEntry) entry() Entry {
	e := Entry{Pos: s.pos, Wall: time.Unix(0, s.wall), Op: s.op, NS: s.ns, DocumentKey: s.dk, Document: s.doc, ImagesEnabled: s.img}
	if x := s.extra; x != nil {
		e.PreImage, e.UpdateDescription, e.To, e.LSID, e.TxnNumber, e.Object = x.pre, x.ud, x.to, x.lsid, x.txn, x.obj
	}
	return e
}

// oplogRing is the capped oplog: a ring of the newest entries, oldest
// dropped first once either bound is exceeded: cap entries or maxBytes of
// accounted entry size (MongoDB caps its oplog in bytes; the entry bound
// keeps the ring's slot array bounded).
type oplogRing struct {
	chunks [][]slotEntry
	cap    int
	head   int // slot of the oldest entry
	n      int // retained entries
	// bytes is the accounted size of the retained entries; maxBytes its
	// bound (0: none).
	bytes    int64
	maxBytes int64
	// dropped is the position of the newest entry ever dropped; entries
	// after an older position are partly lost.
	dropped    Position
	hasDropped bool
	lastPos    Position
}

func newOplogRing(capacity int, maxBytes int64) oplogRing {
	return oplogRing{cap: capacity, maxBytes: maxBytes}
}

// entryOverhead approximates what one retained entry costs besides its BSON
// payloads: the slot, the extra block, slice headers and allocation slack.
const entryOverhead = 160

// entrySize is the memory an entry holds: every document it references
// (post-image, pre-image, catalog payload, key, lsid) and the decoded update
// description, so that large documents count in full against the byte bound.
func entrySize(e *Entry) int64 {
	n := int64(entryOverhead + len(e.DocumentKey) + len(e.Document) + len(e.PreImage) + len(e.Object) + len(e.LSID))
	if ud := e.UpdateDescription; ud != nil {
		for _, f := range ud.UpdatedFields {
			n += int64(len(f.Path)) + approxValueSize(f.Value)
		}
		for _, p := range ud.RemovedFields {
			n += int64(len(p)) + 16
		}
		for _, t := range ud.TruncatedArrays {
			n += int64(len(t.Field)) + 16
		}
	}
	return n
}

// approxValueSize estimates the heap a decoded BSON value holds.
func approxValueSize(v any) int64 {
	switch x := v.(type) {
	case string:
		return 16 + int64(len(x))
	case bson.Binary:
		return 32 + int64(len(x.Data))
	case bson.D:
		n := int64(24)
		for _, e := range x {
			n += 16 + int64(len(e.Key)) + approxValueSize(e.Value)
		}
		return n
	case bson.A:
		n := int64(24)
		for _, el := range x {
			n += approxValueSize(el)
		}
		return n
	case bson.Raw:
		return 24 + int64(len(x))
	}
	return 16
}

func (r *oplogRing) slot(s int) *slotEntry {
	return &r.chunks[s/ringChunk][s%ringChunk]
}

// at returns the i-th oldest retained entry.
func (r *oplogRing) at(i int) *slotEntry {
	s := r.head + i
	if s >= r.cap {
		s -= r.cap
	}
	return r.slot(s)
}

func (r *oplogRing) push(e Entry) {
	r.lastPos = e.Pos
	if r.n == r.cap {
		r.evictOldest()
	}
	s := r.head + r.n
	if s >= r.cap {
		s -= r.cap
	}
	if s/ringChunk >= len(r.chunks) {
		size := ringChunk
		if rest := r.cap - len(r.chunks)*ringChunk; rest < size {
			size = rest
		}
		r.chunks = append(r.chunks, make([]slotEntry, size))
	}
	sl := r.slot(s)
	*sl = toSlot(&e)
	r.n++
	r.bytes += sl.size
	// The newest entry stays even when it alone exceeds the bound, as
	// MongoDB's oplog never truncates its last entry.
	for r.maxBytes > 0 && r.bytes > r.maxBytes && r.n > 1 {
		r.evictOldest()
	}
}

// evictOldest drops the oldest entry, clearing its slot so that the
// documents it referenced can be collected at once.
func (r *oplogRing) evictOldest() {
	old := r.slot(r.head)
	r.dropped, r.hasDropped = old.pos, true
	r.bytes -= old.size
	*old = slotEntry{}
	r.n--
	r.head++
	if r.head == r.cap {
		r.head = 0
	}
}

func (r *oplogRing) first() Position {
	if r.n == 0 {
		return Position{}
	}
	return r.at(0).pos
}

func (r *oplogRing) read(after Position, max int) ([]Entry, error) {
	if r.hasDropped && after.Compare(r.dropped) < 0 {
		return nil, ErrHistoryLost
	}
	// first index whose position is after "after"
	lo, hi := 0, r.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r.at(mid).pos.Compare(after) <= 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	cnt := r.n - lo
	if max > 0 && cnt > max {
		cnt = max
	}
	if cnt == 0 {
		return nil, nil
	}
	out := make([]Entry, cnt)
	for i := range out {
		out[i] = r.at(lo + i).entry()
	}
	return out, nil
}

// entries returns all retained entries, oldest first.
func (r *oplogRing) entries() []Entry {
	out := make([]Entry, r.n)
	for i := range out {
		out[i] = r.at(i).entry()
	}
	return out
}
