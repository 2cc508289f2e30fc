package engine

// oplogRing is the capped oplog: a ring of the newest entries, oldest
// dropped first.
type oplogRing struct {
	buf  []Entry // grows up to cap, then wraps
	cap  int
	head int // index of the oldest entry once the ring is full
	// dropped is the position of the newest entry ever dropped; entries
	// after an older position are partly lost.
	dropped    Position
	hasDropped bool
	lastPos    Position
}

func newOplogRing(capacity int) oplogRing {
	return oplogRing{cap: capacity}
}

func (r *oplogRing) len() int { return len(r.buf) }

// at returns the i-th oldest retained entry.
func (r *oplogRing) at(i int) *Entry {
	j := r.head + i
	if j >= len(r.buf) {
		j -= len(r.buf)
	}
	return &r.buf[j]
}

func (r *oplogRing) push(e Entry) {
	r.lastPos = e.Pos
	if len(r.buf) < r.cap {
		r.buf = append(r.buf, e)
		return
	}
	old := &r.buf[r.head]
	r.dropped, r.hasDropped = old.Pos, true
	*old = e
	r.head++
	if r.head == len(r.buf) {
		r.head = 0
	}
}

func (r *oplogRing) first() Position {
	if len(r.buf) == 0 {
		return Position{}
	}
	return r.at(0).Pos
}

func (r *oplogRing) read(after Position, max int) ([]Entry, error) {
	if r.hasDropped && after.Compare(r.dropped) < 0 {
		return nil, ErrHistoryLost
	}
	n := len(r.buf)
	// first index whose position is after "after"
	lo, hi := 0, n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r.at(mid).Pos.Compare(after) <= 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	cnt := n - lo
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
	out := make([]Entry, len(r.buf))
	for i := range out {
		out[i] = *r.at(i)
	}
	return out
}
