package unified

import (
	"fmt"
	"strings"
)

// Summary collects results for the report.
type Summary struct {
	Results []Result
}

// Add records one result.
func (s *Summary) Add(r Result) { s.Results = append(s.Results, r) }

// Counts returns the number of passed, failed and skipped tests.
func (s *Summary) Counts() (passed, failed, skipped int) {
	for _, r := range s.Results {
		switch r.Status {
		case Passed:
			passed++
		case Failed:
			failed++
		default:
			skipped++
		}
	}
	return passed, failed, skipped
}

// Line is the one summary line: "unified spec: P passed, F failed, S skipped".
func (s *Summary) Line() string {
	p, f, k := s.Counts()
	return fmt.Sprintf("unified spec: %d passed, %d failed, %d skipped", p, f, k)
}

// Report lists every skip and failure (file, test, one-line reason), then
// the summary line last.
func (s *Summary) Report() string {
	var b strings.Builder
	for _, st := range []Status{Skipped, Failed} {
		for _, r := range s.Results {
			if r.Status == st {
				fmt.Fprintf(&b, "%s %s / %s: %s\n", strings.ToUpper(st.String()[:4]), r.File, r.Test, r.Reason)
			}
		}
	}
	b.WriteString(s.Line())
	b.WriteString("\n")
	return b.String()
}
