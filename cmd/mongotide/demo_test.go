package main

import (
	"context"
	"github.com/mongotide/mongotide/internal/testenv"
	"strings"
	"testing"
	"time"
)

const wantDemo = `listening on mongotide_demo.books: inserts, updates, deletes, sci-fi changes (filter {"genre":"sci-fi"})
> insert dune
  [inserts] inserted dune: "Dune" by Frank Herbert (1965, sci-fi, 3 copies)
  [sci-fi changes] insert dune: "Dune" by Frank Herbert (1965, sci-fi, 3 copies)
> insert emma
  [inserts] inserted emma: "Emma" by Jane Austen (1815, classic, 1 copy)
> insert neuromancer
  [inserts] inserted neuromancer: "Neuromancer" by William Gibson (1984, sci-fi, 2 copies)
  [sci-fi changes] insert neuromancer: "Neuromancer" by William Gibson (1984, sci-fi, 2 copies)
> update dune: copies -1
  [updates] update dune: set {"copies":2} -> "Dune" by Frank Herbert (1965, sci-fi, 2 copies)
  [sci-fi changes] update dune: "Dune" by Frank Herbert (1965, sci-fi, 2 copies)
> update emma: copies = 4
  [updates] update emma: set {"copies":4} -> "Emma" by Jane Austen (1815, classic, 4 copies)
> delete emma
  [deletes] deleted emma
all scripted writes seen
`

func TestDemoPrintsEveryEventInScriptOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr syncBuffer
	code := run(ctx, []string{"demo", "--pace", "0"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit code %d, stderr:\n%s", code, stderr.String())
	}
	if got := stdout.String(); got != wantDemo {
		t.Errorf("stdout:\n%s\nwant:\n%s", got, wantDemo)
	}
	if !strings.Contains(stderr.String(), "embedded server at mongodb://") {
		t.Errorf("stderr does not name the embedded server's URI:\n%s", stderr.String())
	}
}

func TestDemoCtrlCExitsZero(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"demo", "--pace", "1h"}, &stdout, &stderr) }()
	testenv.Eventually(t, time.Minute, "the listeners to start", func() bool {
		return strings.HasPrefix(stdout.String(), "listening on")
	})
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit code %d after Ctrl-C, stderr:\n%s", code, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("demo did not stop within a minute of cancellation")
	}
}

func TestDemoBadPaceIsUsageError(t *testing.T) {
	var stdout, stderr syncBuffer
	code := run(context.Background(), []string{"demo", "--pace", "-1s"}, &stdout, &stderr)
	if code != exitUsage {
		t.Fatalf("exit code %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr.String(), "--pace") {
		t.Errorf("stderr does not name the flag: %s", stderr.String())
	}
}
