package engine

import (
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestOplogTruncationAndHistoryLost(t *testing.T) {
	e := newTestEngine(t, Options{OplogCapacity: 5})
	if _, err := e.OplogRead(Position{}, 0); err != nil {
		t.Fatalf("empty oplog: %v", err)
	}
	for i := 0; i < 9; i++ { // 1 create + 9 inserts = 10 entries
		mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(i)}})
	}
	first := e.OplogFirst()
	es, err := e.OplogRead(Before(first.TS), 0)
	if err != nil || len(es) != 5 {
		t.Fatalf("read from first: %d %v", len(es), err)
	}
	if es[0].Pos != first || es[4].Pos != e.OplogLast() {
		t.Fatalf("window %v..%v, first %v last %v", es[0].Pos, es[4].Pos, first, e.OplogLast())
	}
	// the newest dropped entry is still a valid resume point
	if _, err := e.OplogRead(Before(first.TS), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.OplogRead(Position{}, 0); !errors.Is(err, ErrHistoryLost) {
		t.Fatalf("read from zero after truncation: %v", err)
	}
	old := Position{TS: bson.Timestamp{T: first.TS.T, I: 0}}
	if first.TS.I > 2 {
		old = Position{TS: bson.Timestamp{T: first.TS.T, I: first.TS.I - 2}}
	}
	if _, err := e.OplogRead(old, 0); !errors.Is(err, ErrHistoryLost) {
		t.Fatalf("read from before the window: %v", err)
	}
	es, err = e.OplogRead(es[1].Pos, 2)
	if err != nil || len(es) != 2 || field(decode(t, es[0].Document), "_id") != int32(6) {
		t.Fatalf("paged read: %+v %v", es, err)
	}
	if es, err := e.OplogRead(e.OplogLast(), 0); err != nil || len(es) != 0 {
		t.Fatalf("read after last: %v %v", es, err)
	}
}

func TestOplogPositionsIncrease(t *testing.T) {
	// a wall clock that goes backwards must not make timestamps go backwards
	now := time.Unix(1000, 0)
	e := newTestEngine(t, Options{Now: func() time.Time { now = now.Add(-time.Second); return now }})
	for i := 0; i < 5; i++ {
		mustInsert(t, e, testNS, bson.D{})
	}
	es := mustOplog(t, e, Position{})
	for i := 1; i < len(es); i++ {
		if es[i].Pos.Compare(es[i-1].Pos) <= 0 {
			t.Fatalf("position %d not after %d: %v %v", i, i-1, es[i].Pos, es[i-1].Pos)
		}
		if es[i].Pos.Index != 0 {
			t.Fatalf("auto-commit entry with index %d", es[i].Pos.Index)
		}
	}
	if e.ClusterTime() != es[len(es)-1].Pos.TS {
		t.Fatalf("ClusterTime %v, last entry %v", e.ClusterTime(), es[len(es)-1].Pos.TS)
	}
}

func TestBefore(t *testing.T) {
	ts := bson.Timestamp{T: 10, I: 3}
	if p := Before(ts); p.Compare(Position{TS: ts}) >= 0 || p.Compare(Position{TS: bson.Timestamp{T: 10, I: 2}, Index: 7}) <= 0 {
		t.Fatalf("Before(%v) = %v", ts, p)
	}
	if p := Before(bson.Timestamp{T: 10}); p.TS.T != 9 {
		t.Fatalf("Before(T:10 I:0) = %v", p)
	}
	if p := Before(bson.Timestamp{}); p != (Position{}) {
		t.Fatalf("Before(0) = %v", p)
	}
}

func TestOplogNotify(t *testing.T) {
	e := newTestEngine(t, Options{})
	ch := e.OplogNotify()
	select {
	case <-ch:
		t.Fatal("notified before any append")
	default:
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		mustInsert(t, e, testNS, bson.D{})
	}()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no wake-up after append")
	}
	<-done
	ch2 := e.OplogNotify()
	if ch2 == ch {
		t.Fatal("same channel after wake-up")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch2:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake readers")
	}
	if _, err := e.OplogRead(Position{}, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if _, err := e.Insert(testNS, bson.D{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("insert after close: %v", err)
	}
}

func TestOplogRingChunksWrap(t *testing.T) {
	// a capacity spanning several chunks, not a multiple of the chunk size
	const capacity = ringChunk*2 + 7
	r := newOplogRing(capacity, 0)
	total := capacity*2 + 123
	for i := 1; i <= total; i++ {
		r.push(Entry{Pos: Position{TS: bson.Timestamp{T: 1, I: uint32(i)}}})
	}
	if r.n != capacity || len(r.chunks) != 3 {
		t.Fatalf("n %d chunks %d", r.n, len(r.chunks))
	}
	es := r.entries()
	for i, e := range es {
		if want := uint32(total - capacity + 1 + i); e.Pos.TS.I != want {
			t.Fatalf("entry %d has I %d, want %d", i, e.Pos.TS.I, want)
		}
	}
	got, err := r.read(es[100].Pos, 10)
	if err != nil || len(got) != 10 || got[0].Pos != es[101].Pos {
		t.Fatalf("read: %v %v", got, err)
	}
	if _, err := r.read(Position{TS: bson.Timestamp{T: 1, I: 5}}, 1); !errors.Is(err, ErrHistoryLost) {
		t.Fatalf("old read: %v", err)
	}
}

func TestOplogBoundedInBytes(t *testing.T) {
	// Entries of ~100 KiB documents in a 1 MiB oplog: about ten are kept,
	// each accounted with its whole document, and the evicted ones release
	// their slots.
	e := newTestEngine(t, Options{OplogSizeBytes: 1 << 20})
	pad := string(make([]byte, 100<<10))
	for i := 0; i < 50; i++ {
		mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(i)}, {Key: "pad", Value: pad}})
	}
	e.mu.RLock()
	n, bytes := e.oplog.n, e.oplog.bytes
	e.mu.RUnlock()
	if bytes > 1<<20 || n < 5 || n > 11 {
		t.Fatalf("retained %d entries, %d bytes; want about 10 within 1 MiB", n, bytes)
	}
	es, err := e.OplogRead(Before(e.OplogFirst().TS), 0)
	if err != nil || len(es) != n || field(decode(t, es[len(es)-1].Document), "_id") != int32(49) {
		t.Fatalf("read the window: %d entries, %v", len(es), err)
	}
	if _, err := e.OplogRead(Position{}, 0); !errors.Is(err, ErrHistoryLost) {
		t.Fatalf("read from before the byte window: %v", err)
	}
	// the newest entry stays even when it alone exceeds the bound
	big := string(make([]byte, 2<<20))
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: "big"}, {Key: "pad", Value: big}})
	if es := mustOplog(t, e, Before(e.OplogFirst().TS)); len(es) != 1 || es[0].Pos != e.OplogLast() {
		t.Fatalf("after an oversized entry: %d entries", len(es))
	}
}
