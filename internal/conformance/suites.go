package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// suite is a set of driver tests run with `go test` in one package of the
// driver copy. Its units are the tests selected by name: when the test
// binary dies (a panic in one test ends the whole binary), the units that
// had not finished are run again without the finished ones.
type suite struct {
	name  string // "unified" or "classic"
	shard string // names the part of a suite split to run at once

	pkg   string // package path inside the driver module
	units []unit
	// pattern is the -run pattern selecting the given units.
	pattern func([]unit) string
}

// unit is one selectable test: name goes into the -run pattern, test is
// the full go test name whose result says the unit finished.
type unit struct{ name, test string }

// unifiedDirs are the spec directories of TestUnifiedSpec that embedded is
// meant to serve (the others need mongos, load balancers, encryption, ...).
var unifiedDirs = []string{
	"transactions", "transactions-convenient-api", "retryable-reads", "retryable-writes",
	"sessions", "collection-management", "index-management", "run-command",
	"versioned-api", "crud", "change-streams",
}

// classicFiles are the files of internal/integration whose tests form the
// classic suite: every top-level test they declare is run.
var classicFiles = []string{
	"change_stream_test.go", "collection_test.go", "database_test.go", "cursor_test.go",
	"sessions_test.go", "index_view_test.go", "client_test.go", "errors_test.go",
	"retryable_writes_prose_test.go", "retryable_reads_prose_test.go",
	"causal_consistency_test.go",
}

// unifiedSuite runs TestUnifiedSpec's subtests for unifiedDirs. go test
// splits the subtest name "crud/tests/unified" at its slashes, so matching
// its first element selects the directory.
func unifiedSuite(specDir string) suite {
	var units []unit
	for _, d := range unifiedDirs {
		sub := d + "/tests"
		if fi, err := os.Stat(filepath.Join(specDir, d, "tests", "unified")); err == nil && fi.IsDir() {
			sub += "/unified"
		}
		units = append(units, unit{name: regexp.QuoteMeta(d), test: "TestUnifiedSpec/" + sub})
	}
	return suite{
		name:  "unified",
		pkg:   "./internal/integration/unified",
		units: units,
		pattern: func(us []unit) string {
			return "^TestUnifiedSpec$/^(" + joinNames(us) + ")$"
		},
	}
}

var topLevelTest = regexp.MustCompile(`(?m)^func (Test\w+)\(t \*testing\.T\)`)

// classicShards are groups of the slowest classic tests, each run by a
// go test process of its own at the same time as the rest: their time is
// mostly waiting (a 700 000-document insert, a traffic spike held for
// seconds, heartbeats after shutdown errors), so running them side by side
// keeps make conformance within a few minutes.
var classicShards = [][]string{
	{"TestClientStress", "TestCollection"},
	{"TestRetryableReadsProse", "TestRetryableWritesProse", "TestErrorPropagationAfterEncounteringMultipleErrors"},
}

// classicSuites runs the top-level tests of classicFiles in the driver
// copy, as classicShards and one more part with the others.
func classicSuites(driverDir string) ([]suite, error) {
	all, err := classicSuite(driverDir)
	if err != nil {
		return nil, err
	}
	var parts []suite
	rest := all.units
	for i, names := range classicShards {
		part := all
		part.shard, part.units = fmt.Sprintf("-%d", i+1), nil
		var left []unit
		for _, u := range rest {
			if slices.Contains(names, u.name) {
				part.units = append(part.units, u)
			} else {
				left = append(left, u)
			}
		}
		rest = left
		if len(part.units) > 0 {
			parts = append(parts, part)
		}
	}
	last := all
	last.shard, last.units = fmt.Sprintf("-%d", len(classicShards)+1), rest
	return append(parts, last), nil
}

// classicSuite runs the top-level tests of classicFiles in the driver copy.
func classicSuite(driverDir string) (suite, error) {
	var names []string
	for _, f := range classicFiles {
		src, err := os.ReadFile(filepath.Join(driverDir, "internal", "integration", f))
		if err != nil {
			return suite{}, fmt.Errorf("classic suite: %w", err)
		}
		for _, m := range topLevelTest.FindAllSubmatch(src, -1) {
			names = append(names, string(m[1]))
		}
	}
	if len(names) == 0 {
		return suite{}, fmt.Errorf("classic suite: no tests found in %v", classicFiles)
	}
	units := make([]unit, len(names))
	for i, n := range names {
		units[i] = unit{name: n, test: n}
	}
	return suite{
		name:    "classic",
		pkg:     "./internal/integration",
		units:   units,
		pattern: func(us []unit) string { return "^(" + joinNames(us) + ")$" },
	}, nil
}

func joinNames(us []unit) string {
	names := make([]string, len(us))
	for i, u := range us {
		names[i] = u.name
	}
	return strings.Join(names, "|")
}

// maxRuns bounds the reruns after a test binary died.
const maxRuns = 5

// runSuite runs s in driverDir against uri with the driver's own test
// environment variables, appending the JSON output to raw, and returns the
// tally. A non-zero exit of go test is expected (failing tests). When the
// binary dies before every unit finished, the unfinished units run again.
func runSuite(ctx context.Context, driverDir, uri string, s suite, timeout time.Duration, raw io.Writer) (tally, error) {
	res := newResults()
	units := s.units
	for run := 0; run < maxRuns && len(units) > 0; run++ {
		if run > 0 {
			fmt.Fprintf(raw, "{\"Action\":\"rerun\",\"Output\":%q}\n", s.pattern(units))
		}
		if err := goTest(ctx, driverDir, uri, s.pkg, s.pattern(units), timeout, res, raw); err != nil {
			return tally{}, fmt.Errorf("%s suite: %w", s.name, err)
		}
		var left []unit
		for _, u := range units {
			if o := res.byName[u.test]; o == nil || o.Action == "" {
				left = append(left, u)
			}
		}
		if len(left) == len(units) {
			break // no progress: leave them as failures
		}
		units = left
	}
	t := res.tally()
	if t.Passed+t.Failed+t.Skipped == 0 {
		return tally{}, fmt.Errorf("%s suite ran no tests (see %s)", s.name, "the raw go test output")
	}
	return t, nil
}

// goTest runs one go test process and feeds its JSON output to res.
func goTest(ctx context.Context, driverDir, uri, pkg, pattern string, timeout time.Duration, res *results, raw io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-json", "-count=1",
		"-timeout", timeout.String(), "-run", pattern, pkg)
	cmd.Dir = driverDir
	cmd.Env = append(os.Environ(),
		"GOWORK=off",
		// One member, no secondaries: a test selecting a secondary waits
		// out the server selection timeout, 30 s by default, for nothing.
		// 15 s still outlasts a heartbeat (10 s), which is how long the
		// driver may take to find the server again after a shutdown error.
		"MONGODB_URI="+uri+"&serverSelectionTimeoutMS=15000",
		"TOPOLOGY=replicaset",
		"AUTH=noauth",
		"SSL=nossl",
	)
	cmd.Stderr = raw
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	parseErr := res.read(io.TeeReader(out, raw))
	_, _ = io.Copy(raw, out) // drain so go test never blocks on a full pipe
	_ = cmd.Wait()           // failing tests exit non-zero; results say which
	return parseErr
}
