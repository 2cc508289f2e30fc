package goid

import (
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSetKnowsItsGoroutines(t *testing.T) {
	var s Set
	if s.HasSelf() {
		t.Fatal("empty set has the caller")
	}
	id := s.AddSelf()
	if id == 0 || id != ID() || !s.HasSelf() {
		t.Fatalf("AddSelf = %d, ID = %d, HasSelf = %v", id, ID(), s.HasSelf())
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var other bool
	go func() {
		defer wg.Done()
		other = s.HasSelf()
	}()
	wg.Wait()
	if other {
		t.Fatal("another goroutine counted as recorded")
	}
	s.AddSelf()
	s.RemoveID(id)
	if !s.HasSelf() {
		t.Fatal("one of two nested records removed, the goroutine is gone from the set")
	}
	s.RemoveID(id)
	if s.HasSelf() {
		t.Fatal("removed goroutine still in the set")
	}
}
