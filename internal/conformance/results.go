package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// testEvent is one line of `go test -json` (cmd/test2json).
type testEvent struct {
	Action string
	Test   string
	Output string
}

// outcome is what one test ended with, and the first line of its output
// that says why (an error for a failure, the reason for a skip).
type outcome struct {
	Name   string
	Action string // "pass", "fail", "skip", or "" when the test never ended
	Reason string
	weak   bool // Reason is an assertion's generic "Error:" line
}

// tally is the count of leaf tests by outcome, and the failures by name.
type tally struct {
	Passed, Failed, Skipped int
	Failures                []outcome
	Skips                   []outcome
}

// Line is the summary line for a suite, e.g.
// "driver unified: 943 passed, 151 failed, 286 skipped".
func (t tally) Line(suite string) string {
	return fmt.Sprintf("driver %s: %d passed, %d failed, %d skipped", suite, t.Passed, t.Failed, t.Skipped)
}

// Rate is passed/(passed+failed) in percent (100 when nothing ran).
func (t tally) Rate() float64 {
	if t.Passed+t.Failed == 0 {
		return 100
	}
	return 100 * float64(t.Passed) / float64(t.Passed+t.Failed)
}

// fileLine matches the "file.go:123: message" lines that t.Error, t.Fatal
// and t.Skip print.
var fileLine = regexp.MustCompile(`^[\w.-]+\.go:\d+: (.+)$`)

// results collects the outcomes of one or more `go test -json` runs; a
// later run's outcome for a test replaces an earlier one.
type results struct {
	byName map[string]*outcome
	order  []string
}

func newResults() *results { return &results{byName: map[string]*outcome{}} }

// read consumes `go test -json` output.
func (rs *results) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue // build output that is not JSON
		}
		var ev testEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			return fmt.Errorf("go test -json output: %w", err)
		}
		if ev.Test == "" {
			continue
		}
		o := rs.byName[ev.Test]
		if o == nil {
			o = &outcome{Name: ev.Test}
			rs.byName[ev.Test] = o
			rs.order = append(rs.order, ev.Test)
		}
		switch ev.Action {
		case "run":
			*o = outcome{Name: ev.Test} // a rerun starts afresh
		case "pass", "fail", "skip":
			o.Action = ev.Action
		case "output":
			if msg, strong := reasonLine(ev.Output); msg != "" && (o.Reason == "" || o.weak && strong) {
				o.Reason, o.weak = msg, !strong
			}
		}
	}
	return sc.Err()
}

// reasonLine returns the message of a "file.go:123: message" line or a
// panic; for testify-style assertions, which print "file.go:123:" alone and
// then "Error:" and "Messages:" lines, the Error line is a weak reason that
// the Messages line (the test's own words) replaces. "" for other lines.
func reasonLine(output string) (msg string, strong bool) {
	line := strings.TrimSpace(output)
	if m := fileLine.FindStringSubmatch(line); m != nil {
		return strings.TrimSpace(m[1]), true
	}
	for _, p := range []string{"panic: ", "Messages:"} {
		if strings.HasPrefix(line, p) {
			return strings.TrimSpace(strings.TrimPrefix(line, "Messages:")), true
		}
	}
	if rest, ok := strings.CutPrefix(line, "Error:"); ok {
		return strings.TrimSpace(rest), false
	}
	return "", false
}

// tally counts the leaf tests: a parent test passes or fails with its
// subtests, so counting it too would count the same work twice. A test that
// started but never ended (the test binary panicked or timed out) is a
// failure.
func (rs *results) tally() tally { return countLeaves(rs.byName, rs.order) }

// parseResults reads one `go test -json` output and tallies it.
func parseResults(r io.Reader) (tally, error) {
	rs := newResults()
	if err := rs.read(r); err != nil {
		return tally{}, err
	}
	return rs.tally(), nil
}

func countLeaves(byName map[string]*outcome, order []string) tally {
	parents := map[string]bool{}
	for _, name := range order {
		for i := strings.LastIndexByte(name, '/'); i > 0; i = strings.LastIndexByte(name[:i], '/') {
			parents[name[:i]] = true
		}
	}
	var t tally
	for _, name := range order {
		if parents[name] {
			continue
		}
		o := *byName[name]
		switch o.Action {
		case "pass":
			t.Passed++
		case "skip":
			t.Skipped++
			t.Skips = append(t.Skips, o)
		default:
			if o.Action == "" && o.Reason == "" {
				o.Reason = "no result: the test binary panicked or timed out while this test ran"
			}
			t.Failed++
			t.Failures = append(t.Failures, o)
		}
	}
	sort.Slice(t.Failures, func(i, j int) bool { return t.Failures[i].Name < t.Failures[j].Name })
	return t
}

// named is a suite's name with the tally of all its parts.
type named struct {
	name string
	t    tally
}

// mergeByName adds up the tallies of the parts of each suite, in the order
// the suites first appear.
func mergeByName(suites []suite, tallies []tally) []named {
	var out []named
	index := map[string]int{}
	for i, s := range suites {
		j, ok := index[s.name]
		if !ok {
			j = len(out)
			index[s.name] = j
			out = append(out, named{name: s.name})
		}
		m := &out[j].t
		t := tallies[i]
		m.Passed += t.Passed
		m.Failed += t.Failed
		m.Skipped += t.Skipped
		m.Failures = append(m.Failures, t.Failures...)
		m.Skips = append(m.Skips, t.Skips...)
	}
	for i := range out {
		sort.Slice(out[i].t.Failures, func(a, b int) bool { return out[i].t.Failures[a].Name < out[i].t.Failures[b].Name })
	}
	return out
}
