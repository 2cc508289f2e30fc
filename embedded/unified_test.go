package embedded_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/internal/unified"
)

// TestUnifiedSpec measures the server's fidelity with MongoDB's own unified
// spec tests (crud/ and change-streams/ of mongodb/specifications), run with
// the real driver. The files are read where they lie, in MONGOTIDE_SPEC_DIR
// (a relative value is taken from the repository root) or by default
// ../shared/spec next to the repository; they are never copied into the
// repository. Each test is a subtest (-run 'TestUnifiedSpec/crud/find.json'
// works); the run ends with every skip and failure and the line
// "unified spec: P passed, F failed, S skipped". Against a real deployment,
// set MONGOTIDE_TEST_URI.
func TestUnifiedSpec(t *testing.T) {
	dir := specDir(t)
	files, err := unified.FindFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
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

	var sum unified.Summary
	for _, rel := range files {
		t.Run(rel, func(t *testing.T) {
			f, err := unified.LoadFile(filepath.Join(dir, rel), rel)
			if err != nil {
				sum.Add(unified.Result{File: rel, Status: unified.Failed, Reason: err.Error()})
				t.Fatal(err)
			}
			for i, name := range f.Tests() {
				t.Run(name, func(t *testing.T) {
					res := r.RunTest(ctx, f, i)
					sum.Add(res)
					switch res.Status {
					case unified.Failed:
						t.Error(res.Reason)
					case unified.Skipped:
						t.Skip(res.Reason)
					}
				})
			}
		})
	}
	fmt.Printf("server %s (%s), spec dir %s\n%s", r.ServerVersion(), r.Topology(), dir, sum.Report())
}

// specDir locates the spec files: MONGOTIDE_SPEC_DIR, else ../shared/spec
// relative to the repository root (the directory holding go.mod).
func specDir(t *testing.T) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("MONGOTIDE_SPEC_DIR")
	switch {
	case dir == "":
		dir = filepath.Join(root, "..", "shared", "spec")
	case !filepath.IsAbs(dir):
		dir = filepath.Join(root, dir)
	}
	if _, err := os.Stat(dir); err != nil {
		testenv.MissingPrecondition(t, fmt.Sprintf("unified spec files not found at %s (set MONGOTIDE_SPEC_DIR): %v", dir, err))
	}
	return dir
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
