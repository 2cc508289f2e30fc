package sync

import "testing"

// The debug log's outcome names are what operators grep for: the enum keeps
// the string literals it replaced, each distinct.
func TestOutcomeNames(t *testing.T) {
	want := map[syncOutcome]string{
		outcomeNone: "", outcomeRefused: "refused", outcomeUploaded: "uploaded", outcomeSame: "same",
		outcomeDownloaded: "downloaded", outcomeRemoteWon: "remote-won",
		outcomeConflictUploaded: "conflict-uploaded", outcomeMerged: "merged",
	}
	for o, w := range want {
		if got := o.String(); got != w {
			t.Errorf("syncOutcome(%d).String() = %q, want %q", int(o), got, w)
		}
	}
	if got := syncOutcome(99).String(); got != "" {
		t.Errorf("unknown outcome String() = %q, want empty", got)
	}
}
