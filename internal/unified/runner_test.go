package unified_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/internal/unified"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunnerSelfTest runs hand-written files whose tests say in their
// description whether they must PASS, FAIL or SKIP, and checks the runner
// agrees: the runner must be able to fail, and to say why.
func TestRunnerSelfTest(t *testing.T) {
	ctx := context.Background()
	r, err := unified.New(ctx, unified.Config{URI: testenv.URI(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := r.Close(ctx); err != nil {
			t.Error(err)
		}
	}()

	// The reason each deliberate failure or skip must give.
	reasons := map[string]string{
		"FAIL wrong expectResult":                  "x: want 12, got 11",
		"FAIL nested document with an extra field": `unexpected extra field "b"`,
		"FAIL wrong outcome":                       "want 2 documents",
		"FAIL expected error that does not happen": "expected an error",
		"FAIL wrong command event":                 "command.insert: missing",
		"SKIP server version requirement":          "maxServerVersion 1.0",
		"SKIP unknown operation":                   "unsupported operation frobnicate",
		"SKIP unknown argument":                    `unsupported argument "frobnicate" for operation find`,
		"SKIP newer major schema version":          "schemaVersion 2.0 not supported",
	}

	dir := filepath.Join("testdata", "selftest")
	files, err := unified.FindFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var sum unified.Summary
	for _, rel := range files {
		f, err := unified.LoadFile(filepath.Join(dir, rel), rel)
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range f.Tests() {
			res := r.RunTest(ctx, f, i)
			sum.Add(res)
			want := map[string]unified.Status{"PASS": unified.Passed, "FAIL": unified.Failed, "SKIP": unified.Skipped}[name[:4]]
			if res.Status != want {
				t.Errorf("%s / %s: got %s (%s), want %s", rel, name, res.Status, res.Reason, want)
				continue
			}
			if sub, ok := reasons[name]; ok && !strings.Contains(res.Reason, sub) {
				t.Errorf("%s / %s: reason %q does not contain %q", rel, name, res.Reason, sub)
			}
		}
	}
	if got, want := sum.Line(), "unified spec: 7 passed, 5 failed, 4 skipped"; got != want {
		t.Errorf("summary %q, want %q\n%s", got, want, sum.Report())
	}
	report := sum.Report()
	lines := strings.Split(strings.TrimSuffix(report, "\n"), "\n")
	count := map[string]int{}
	for _, l := range lines {
		count[strings.SplitN(l, " ", 2)[0]]++
	}
	if lines[len(lines)-1] != sum.Line() || count["FAIL"] != 5 || count["SKIP"] != 4 {
		t.Errorf("report must list every failure and skip, then end with the summary line:\n%s", report)
	}
}

func TestParseRejectsBadFiles(t *testing.T) {
	for name, src := range map[string]string{
		"not json":          `{`,
		"no schemaVersion":  `{"description": "x", "tests": [{"description": "t", "operations": []}]}`,
		"no tests":          `{"description": "x", "schemaVersion": "1.0", "tests": []}`,
		"tests not a array": `{"description": "x", "schemaVersion": "1.0", "tests": {}}`,
	} {
		if _, err := unified.ParseFile([]byte(src), name); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}
