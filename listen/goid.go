package listen

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
)

// Stop must not wait for the subscription to end when it is called from one
// of the subscription's own goroutines (a handler, or a callback such as
// OnError or OnHandled): that wait would wait for the caller itself. Go has
// no goroutine identity, and a context marker made Stop behave differently
// depending on which ctx the caller passed, so the goroutines that run user
// code record their ids when they start (one runtime.Stack call per
// goroutine, not per event) and Stop compares its caller's id with them.

// goroutineID returns the id of the calling goroutine, parsed from the
// header line of its stack trace ("goroutine 123 [running]:"); 0 if the
// header cannot be read.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	i := bytes.IndexByte(b, ' ')
	if i <= 0 {
		return 0
	}
	id, err := strconv.ParseUint(string(b[:i]), 10, 64)
	if err != nil {
		return 0
	}
	return id
}

// goroutineSet is the set of goroutines that run a subscription's user code.
type goroutineSet struct {
	mu  sync.Mutex
	ids []uint64
}

// addSelf records the calling goroutine.
func (g *goroutineSet) addSelf() {
	id := goroutineID()
	if id == 0 {
		return
	}
	g.mu.Lock()
	g.ids = append(g.ids, id)
	g.mu.Unlock()
}

// hasSelf reports whether the calling goroutine was recorded.
func (g *goroutineSet) hasSelf() bool {
	id := goroutineID()
	if id == 0 {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, x := range g.ids {
		if x == id {
			return true
		}
	}
	return false
}
