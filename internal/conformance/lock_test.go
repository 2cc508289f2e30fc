//go:build unix

package main

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
)

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Two runs on one -out directory take turns: the second waits, saying so,
// until the first releases it.
func TestLockDirSerialisesRuns(t *testing.T) {
	dir := t.TempDir()
	release, err := lockDir(dir, &syncBuf{})
	if err != nil {
		t.Fatal(err)
	}
	var progress syncBuf
	acquired := make(chan func(), 1)
	go func() {
		r, err := lockDir(dir, &progress)
		if err != nil {
			t.Error(err)
			r = func() {}
		}
		acquired <- r
	}()
	testenv.Eventually(t, 30*time.Second, "the second run to wait", func() bool { return strings.Contains(progress.String(), "waiting for another run") })
	select {
	case <-acquired:
		t.Fatal("the second run took the lock the first one holds")
	default:
	}
	release()
	select {
	case r := <-acquired:
		r()
	case <-time.After(30 * time.Second):
		t.Fatal("the second run did not get the lock after the first released it")
	}
}
