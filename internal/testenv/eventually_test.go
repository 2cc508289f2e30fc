package testenv

import (
	"strings"
	"testing"
	"time"
)

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	Eventually(t, time.Minute, "three checks", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("cond checked %d times, want 3", n)
	}
}

// fatalRecorder records a Fatal instead of ending the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper()        {}
func (f *fatalRecorder) Fatal(a ...any) { f.msg = a[0].(string) }

func TestEventuallyNamesWhatItWaitedFor(t *testing.T) {
	f := &fatalRecorder{TB: t}
	Eventually(f, 20*time.Millisecond, "the impossible", func() bool { return f.msg != "" }, func() string { return "last: 42" })
	if !strings.Contains(f.msg, "waiting for the impossible") || !strings.Contains(f.msg, "last: 42") || !strings.Contains(f.msg, "20ms") {
		t.Fatalf("failure message %q", f.msg)
	}
}
