package testenv

import (
	"strconv"
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

func TestEventuallySaysReportsTheLastState(t *testing.T) {
	f := &fatalRecorder{TB: t}
	n := 0
	// The recorder does not stop the wait: the condition ends it once the
	// failure was recorded.
	EventuallySays(f, 20*time.Millisecond, "three", func() (bool, string) {
		n++
		return f.msg != "", "saw " + strconv.Itoa(n)
	})
	if !strings.Contains(f.msg, "waiting for three") || !strings.Contains(f.msg, "last seen: saw ") {
		t.Fatalf("failure message %q", f.msg)
	}
}
