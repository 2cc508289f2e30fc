package gateway

import "sync"

// ownerWake wakes live requests (SSE streams and long polls) waiting at
// the live edge: per owner, only at changes that owner may see. With a
// shared channel per collection instead, every change woke every live
// client of the gateway to find, in most cases, nothing of its own:
// 2,000 clients at 500 writes/s spent the two cores of the benchmark
// machine on wake-ups (mongotide bench gateway).
type ownerWake struct {
	mu sync.Mutex
	// m holds the channel of each owner with a request waiting; it is
	// closed and removed at that owner's next change.
	m map[string]chan struct{}
}

func newOwnerWake() *ownerWake { return &ownerWake{m: make(map[string]chan struct{})} }

// ownerWakePruneAt bounds the map: the channel of an owner whose requests
// ended stays until that owner's next change or a wakeAll, so a quiet
// gateway seeing many owners come and go would keep them all. At this size
// every waiting request is woken (it reads nothing new and waits again)
// and the map starts empty.
const ownerWakePruneAt = 1 << 16

// wait returns the channel closed at owner's next change, or at the next
// wakeAll. Take it before reading, so that a change between the read and
// the wait still wakes.
func (w *ownerWake) wait(owner string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch, ok := w.m[owner]
	if !ok {
		if len(w.m) >= ownerWakePruneAt {
			w.closeAllLocked()
		}
		ch = make(chan struct{})
		w.m[owner] = ch
	}
	return ch
}

// wake wakes the requests of owner.
func (w *ownerWake) wake(owner string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.m[owner]; ok {
		close(ch)
		delete(w.m, owner)
	}
}

// wakeAll wakes every waiting request: a change of a shared collection,
// a feed changing state, or a ring eviction (clients that nothing woke for
// a while move their position up before it leaves the ring).
func (w *ownerWake) wakeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closeAllLocked()
}

func (w *ownerWake) closeAllLocked() {
	for owner, ch := range w.m {
		close(ch)
		delete(w.m, owner)
	}
}
