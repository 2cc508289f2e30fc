package engine

// ringChunk is the allocation unit of the oplog ring: the ring grows chunk
// by chunk up to its capacity instead of doubling and copying a slice of
// large Entry values.
const ringChunk = 4096

// oplogRing is the capped oplog: a ring of the newest entries, oldest
// dropped first.
type oplogRing struct {
	chunks [][]Entry
	cap    int
	head   int // slot of the oldest entry
	n      int // retained entries
	// dropped is the position of the newest entry ever dropped; entries
	// after an older position are partly lost.
	dropped    Position
	hasDropped bool
	lastPos    Position
}

func newOplogRing(capacity int) oplogRing {
	return oplogRing{cap: capacity}
}

func (r *oplogRing) slot(s int) *Entry {
	return &r.chunks[s/ringChunk][s%ringChunk]
}

// at returns the i-th oldest retained entry.
func (r *oplogRing) at(i int) *Entry {
	s := r.head + i
	if s >= r.cap {
		s -= r.cap
	}
	return r.slot(s)
}

func (r *oplogRing) push(e Entry) {
	r.lastPos = e.Pos
	if r.n < r.cap {
		s := r.head + r.n
		if s >= r.cap {
			s -= r.cap
		}
		if s/ringChunk >= len(r.chunks) {
			size := ringChunk
			if rest := r.cap - len(r.chunks)*ringChunk; rest < size {
				size = rest
			}
			r.chunks = append(r.chunks, make([]Entry, size))
		}
		*r.slot(s) = e
		r.n++
		return
	}
	old := r.slot(r.head)
	r.dropped, r.hasDropped = old.Pos, true
	*old = e
	r.head++
	if r.head == r.cap {
		r.head = 0
	}
}

func (r *oplogRing) first() Position {
	if r.n == 0 {
		return Position{}
	}
	return r.at(0).Pos
}

func (r *oplogRing) read(after Position, max int) ([]Entry, error) {
	if r.hasDropped && after.Compare(r.dropped) < 0 {
		return nil, ErrHistoryLost
	}
	// first index whose position is after "after"
	lo, hi := 0, r.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r.at(mid).Pos.Compare(after) <= 0 {
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
		out[i] = *r.at(lo + i)
	}
	return out, nil
}

// entries returns all retained entries, oldest first.
func (r *oplogRing) entries() []Entry {
	out := make([]Entry, r.n)
	for i := range out {
		out[i] = *r.at(i)
	}
	return out
}
