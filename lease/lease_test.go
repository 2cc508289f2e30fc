package lease_test

import (
	"testing"
	"time"

	"github.com/mongotide/mongotide/lease"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A grant's deadline gives up the drift margin of its TTL, counted from
// when the request was sent.
func TestDeadlineForGivesUpTheDriftMargin(t *testing.T) {
	sent := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	d := lease.DeadlineFor(sent, 10*time.Second)
	if want := sent.Add(9500 * time.Millisecond); !d.Equal(want) {
		t.Fatalf("deadline %v, want %v", d, want)
	}
	g := lease.Grant{Deadline: d}
	if !g.Valid(d.Add(-time.Nanosecond)) || g.Valid(d) {
		t.Fatal("a grant is valid strictly before its deadline")
	}
}
