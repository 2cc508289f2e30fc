package main

import (
	"context"
	"strings"
	"testing"
)

// TestUsageErrorsPointToHelp: a command-line mistake exits 2 and names the
// help of the command it was made in.
func TestUsageErrorsPointToHelp(t *testing.T) {
	cases := []struct {
		args     []string
		want     string
		wantHelp string
	}{
		{[]string{"no-such-command"}, `unknown command "no-such-command"`, "Run 'mongotide --help' for usage."},
		{[]string{"listen", "--db", "shop"}, "--coll is required", "Run 'mongotide listen --help' for usage."},
		{[]string{"demo", "extra"}, "accepts 0 arg(s), received 1", "Run 'mongotide demo --help' for usage."},
		{[]string{"embedded", "--no-such-flag"}, "unknown flag: --no-such-flag", "Run 'mongotide embedded --help' for usage."},
	}
	for _, c := range cases {
		var stdout, stderr syncBuffer
		if code := run(context.Background(), c.args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%v: exit code %d, want %d", c.args, code, exitUsage)
		}
		for _, want := range []string{c.want, c.wantHelp} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("%v: stderr %q lacks %q", c.args, stderr.String(), want)
			}
		}
		if stdout.String() != "" {
			t.Errorf("%v: stdout not empty: %q", c.args, stdout.String())
		}
	}
}

func TestVersionFlag(t *testing.T) {
	var stdout, stderr syncBuffer
	if code := run(context.Background(), []string{"--version"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "mongotide version ") {
		t.Fatalf("stdout %q, want mongotide version ...", stdout.String())
	}
}
