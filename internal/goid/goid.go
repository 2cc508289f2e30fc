// Package goid tells whether the calling goroutine is one a long-lived
// value runs user code on. A Stop called from such a goroutine (a handler,
// a callback) must not wait for that goroutine to end: it would wait for
// itself. Go has no goroutine identity, and a context marker made Stop
// behave differently depending on which ctx the caller passed, so the
// goroutines that run user code record their ids (one runtime.Stack call)
// and Stop compares its caller's id with them.
package goid

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
)

// ID returns the id of the calling goroutine, parsed from the header line
// of its stack trace ("goroutine 123 [running]:"); 0 if the header cannot be
// read.
func ID() uint64 {
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

// Set is a set of goroutines. The zero value is empty and ready to use.
type Set struct {
	mu  sync.Mutex
	ids map[uint64]int
}

// AddSelf records the calling goroutine (counted: nested adds need as
// many removes) and returns its id for RemoveID.
func (g *Set) AddSelf() uint64 {
	id := ID()
	if id == 0 {
		return 0
	}
	g.mu.Lock()
	if g.ids == nil {
		g.ids = make(map[uint64]int)
	}
	g.ids[id]++
	g.mu.Unlock()
	return id
}

// RemoveID drops one record of id (from AddSelf).
func (g *Set) RemoveID(id uint64) {
	if id == 0 {
		return
	}
	g.mu.Lock()
	if g.ids[id]--; g.ids[id] <= 0 {
		delete(g.ids, id)
	}
	g.mu.Unlock()
}

// HasSelf reports whether the calling goroutine is recorded.
func (g *Set) HasSelf() bool {
	id := ID()
	if id == 0 {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ids[id] > 0
}
