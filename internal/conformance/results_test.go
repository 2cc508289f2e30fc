package main

import (
	"strings"
	"testing"
)

// The JSON lines below are what `go test -json` prints for a parent with a
// passing, a failing (testify-style) and a skipped subtest, and a top-level
// test that started but never ended because another test's panic killed the
// binary.
const sampleRun = `{"Action":"run","Test":"TestA"}
{"Action":"run","Test":"TestA/ok"}
{"Action":"pass","Test":"TestA/ok"}
{"Action":"run","Test":"TestA/bad"}
{"Action":"output","Test":"TestA/bad","Output":"    a_test.go:12: \n"}
{"Action":"output","Test":"TestA/bad","Output":"        \tError Trace:\ta_test.go:12\n"}
{"Action":"output","Test":"TestA/bad","Output":"        \tError:      \tShould be true\n"}
{"Action":"output","Test":"TestA/bad","Output":"        \tMessages:   \texpected write concern error\n"}
{"Action":"fail","Test":"TestA/bad"}
{"Action":"run","Test":"TestA/skipped"}
{"Action":"output","Test":"TestA/skipped","Output":"    a_test.go:20: skipping due to environmental constraints\n"}
{"Action":"skip","Test":"TestA/skipped"}
{"Action":"fail","Test":"TestA"}
{"Action":"run","Test":"TestB"}
{"Action":"output","Test":"TestB","Output":"=== PAUSE TestB\n"}
`

func TestParseResultsCountsLeavesAndReasons(t *testing.T) {
	got, err := parseResults(strings.NewReader("# build noise\n" + sampleRun))
	if err != nil {
		t.Fatal(err)
	}
	if got.Passed != 1 || got.Failed != 2 || got.Skipped != 1 {
		t.Fatalf("got %+v, want 1 passed, 2 failed, 1 skipped", got)
	}
	if line := got.Line("classic"); line != "driver classic: 1 passed, 2 failed, 1 skipped" {
		t.Errorf("line %q", line)
	}
	want := map[string]string{
		"TestA/bad": "expected write concern error",
		"TestB":     "no result: the test binary panicked or timed out while this test ran",
	}
	for _, f := range got.Failures {
		if f.Reason != want[f.Name] {
			t.Errorf("%s: reason %q, want %q", f.Name, f.Reason, want[f.Name])
		}
	}
	if got.Skips[0].Reason != "skipping due to environmental constraints" {
		t.Errorf("skip reason %q", got.Skips[0].Reason)
	}
}

func TestRerunReplacesAnUnfinishedTest(t *testing.T) {
	rs := newResults()
	if err := rs.read(strings.NewReader(sampleRun)); err != nil {
		t.Fatal(err)
	}
	rerun := `{"Action":"run","Test":"TestB"}
{"Action":"pass","Test":"TestB"}
`
	if err := rs.read(strings.NewReader(rerun)); err != nil {
		t.Fatal(err)
	}
	if got := rs.tally(); got.Passed != 2 || got.Failed != 1 {
		t.Fatalf("after the rerun got %+v, want 2 passed, 1 failed", got)
	}
}

func TestRateIsPassedOverRun(t *testing.T) {
	if r := (tally{Passed: 97, Failed: 3, Skipped: 50}).Rate(); r != 97 {
		t.Fatalf("rate %v, want 97", r)
	}
}

func TestMergeByNameAddsUpParts(t *testing.T) {
	suites := []suite{{name: "unified"}, {name: "classic", shard: "-1"}, {name: "classic", shard: "-2"}}
	tallies := []tally{
		{Passed: 1},
		{Passed: 2, Failed: 1, Failures: []outcome{{Name: "TestZ"}}},
		{Passed: 3, Skipped: 1, Failed: 1, Failures: []outcome{{Name: "TestA"}}},
	}
	got := mergeByName(suites, tallies)
	if len(got) != 2 || got[0].name != "unified" || got[1].name != "classic" {
		t.Fatalf("merged %+v, want unified then classic", got)
	}
	c := got[1].t
	if c.Line("classic") != "driver classic: 5 passed, 2 failed, 1 skipped" || c.Failures[0].Name != "TestA" {
		t.Fatalf("classic merged to %q with failures %v", c.Line("classic"), c.Failures)
	}
}
