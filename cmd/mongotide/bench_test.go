package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestBenchAllSmallPrintsEveryRow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Setenv(envAsCLI, "1") // for the relay's consumer processes
	var stdout, stderr syncBuffer
	code := run(ctx, []string{"bench", "all", "--relay-events", "300", "--n", "300", "--small", "100", "--large", "1000", "--samples", "50",
		"--listeners", "20", "--fanout-events", "20", "--rounds", "1",
		"--docs", "1000", "--rate", "200", "--lag-duration", "300ms", "--retained-mib", "8"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit code %d, stderr:\n%s", code, &stderr)
	}
	table := stdout.String()
	for _, row := range []string{
		"SUITE", "InsertOne/s, one change stream open and consumed", "InsertOne/s with Dir, default write concern",
		"InsertOne/s j:true, 16 concurrent writers (group commit)", "InsertOne cost at 100 docs",
		"InsertOne cost at 1,000 docs", "cost ratio 1,000 vs 100 docs", "change-stream backlog delivery",
		"heap for 1,000 1-KiB docs", "embeddedtest: server start to first ping p50/p99",
		"embeddedtest: Quiesce+Disconnect+Stop p50/p99", "embeddedtest: per-test Database (create, use, drop) p50/p99",
		"parallel tests, 10 docs each inserted and read", "RSS after writing", "raw Watch/Next/Decode throughput", "toolkit throughput",
		"toolkit vs raw throughput", "insert->handler latency raw p50 / p99",
		"insert->handler latency toolkit p50 / p99", "added latency p50 / p99",
		"20 listeners, one shared cursor: cmds / CPU per event", "20 raw cursors: cmds / CPU per event",
		"shared vs raw: server commands per event", "shared vs raw: CPU per event",
		"Redis checkpointing cost (default batching)",
		"bootstrap of 1,000 1-KiB docs", "lag local->remote at 200 writes/s: p50 / p99",
		"lag remote->local at 200 writes/s: p50 / p99", "process CPU per replicated write: local->remote / remote->local",
		"publisher throughput into Redis", "publisher vs raw Watch/Next/Decode listener", "publisher vs toolkit listener",
		"consumer throughput, 1 / 4 processes", "consumer scaling 4 vs 1 processes",
		"write->handler latency through the relay p50 / p99", "write->handler latency, direct listener p50 / p99",
	} {
		if !strings.Contains(table, row) {
			t.Errorf("table has no %q row:\n%s", row, table)
		}
	}
	if n := len(stdout.lines()); n != 36 {
		t.Errorf("table has %d lines, want 36 (header + 35 rows):\n%s", n, table)
	}
	if !strings.Contains(stderr.String(), "bench: listen:") {
		t.Errorf("no progress on stderr:\n%s", &stderr)
	}
}

func TestBenchOneSuite(t *testing.T) {
	var stdout, stderr syncBuffer
	code := run(context.Background(), []string{"bench", "embedded", "--n", "100", "--small", "10", "--large", "100", "--samples", "10"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit code %d, stderr:\n%s", code, &stderr)
	}
	if s := stdout.String(); !strings.Contains(s, "embedded  ") || strings.Contains(s, "listen  ") {
		t.Errorf("bench embedded printed:\n%s", s)
	}
}

func TestBenchBadArgsExit2(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "nope"}, `unknown suite "nope"`},
		{[]string{"bench", "embedded", "listen"}, "at most one suite"},
		{[]string{"bench", "--n", "0"}, "--n must be positive"},
		{[]string{"bench", "--listeners", "x"}, "invalid argument"},
		{[]string{"bench", "sync", "--docs", "0"}, "--docs must be positive"},
		{[]string{"bench", "sync", "--lag-duration", "0s"}, "--lag-duration must be positive"},
	} {
		var stdout, stderr syncBuffer
		if code := run(context.Background(), c.args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%v: exit code %d, want %d", c.args, code, exitUsage)
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: stderr %q does not contain %q", c.args, &stderr, c.want)
		}
	}
}

func TestHelpForEveryCommand(t *testing.T) {
	for _, cmd := range []string{"demo", "embedded", "listen", "bench"} {
		var stdout, stderr syncBuffer
		if code := run(context.Background(), []string{cmd, "--help"}, &stdout, &stderr); code != exitOK {
			t.Errorf("%s --help: exit code %d", cmd, code)
		}
		if !strings.Contains(stdout.String(), "Usage:") || !strings.Contains(stdout.String(), "mongotide "+cmd) {
			t.Errorf("%s --help printed:\n%s", cmd, &stdout)
		}
	}
	var stdout, stderr syncBuffer
	if code := run(context.Background(), []string{"no-such-command"}, &stdout, &stderr); code != exitUsage {
		t.Errorf("unknown command: exit code %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr.String(), "no-such-command") {
		t.Errorf("unknown command: stderr %q", &stderr)
	}
}
