package changestream

import (
	"sync"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// fakeLog is an in-memory oplog with exact control over entries, positions
// and truncation, for rules that are awkward to provoke through the engine
// (transaction metadata, history loss at a precise point, 16 MiB events).
type fakeLog struct {
	mu      sync.Mutex
	entries []engine.Entry
	// lost is the position of the newest dropped entry; dropped tells
	// whether anything was dropped at all.
	lost    engine.Position
	dropped bool
	notify  chan struct{}
	docs    map[string]bson.Raw
	t       uint32
	wall    time.Time
}

func newFakeLog() *fakeLog {
	return &fakeLog{
		notify: make(chan struct{}),
		docs:   map[string]bson.Raw{},
		t:      1_700_000_000,
		wall:   time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
	}
}

// commit appends entries as one commit: one timestamp, Index 0..n-1.
func (f *fakeLog) commit(es ...engine.Entry) []engine.Position {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t++
	f.wall = f.wall.Add(time.Second)
	var pos []engine.Position
	for i := range es {
		es[i].Pos = engine.Position{TS: bson.Timestamp{T: f.t, I: 1}, Index: uint32(i)}
		es[i].Wall = f.wall
		f.entries = append(f.entries, es[i])
		pos = append(pos, es[i].Pos)
	}
	close(f.notify)
	f.notify = make(chan struct{})
	return pos
}

// truncate drops all but the newest keep entries.
func (f *fakeLog) truncate(keep int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if drop := len(f.entries) - keep; drop > 0 {
		f.lost = f.entries[drop-1].Pos
		f.dropped = true
		f.entries = append([]engine.Entry(nil), f.entries[drop:]...)
	}
}

func (f *fakeLog) setDoc(ns engine.Namespace, id any, doc bson.Raw) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if doc == nil {
		delete(f.docs, ns.String()+"/"+docString(bson.D{{Key: "id", Value: id}}))
		return
	}
	f.docs[ns.String()+"/"+docString(bson.D{{Key: "id", Value: id}})] = doc
}

func (f *fakeLog) OplogRead(after engine.Position, max int) ([]engine.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dropped && after.Compare(f.lost) < 0 {
		return nil, engine.ErrHistoryLost
	}
	var out []engine.Entry
	for _, e := range f.entries {
		if e.Pos.Compare(after) > 0 {
			out = append(out, e)
			if len(out) == max {
				break
			}
		}
	}
	return out, nil
}

func (f *fakeLog) OplogLast() engine.Position {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.entries) == 0 {
		return f.lost
	}
	return f.entries[len(f.entries)-1].Pos
}

func (f *fakeLog) OplogNotify() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.notify
}

func (f *fakeLog) FindByID(ns engine.Namespace, id any) (bson.Raw, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.docs[ns.String()+"/"+docString(bson.D{{Key: "id", Value: id}})]
	return d, ok
}
