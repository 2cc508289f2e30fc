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
		"--docs", "1000", "--rate", "200", "--lag-duration", "300ms", "--retained-mib", "8",
		"--gateway-clients", "20", "--gateway-rate", "100", "--gateway-duration", "300ms", "--gateway-docs", "1500"}, &stdout, &stderr)
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
		"memory per idle live SSE client, gateway side (clients in a child process)",
		"memory per idle live SSE client, net/http client side", "live fan-out, 20 SSE clients: write->owner's event p50 / p99",
		"server cursors with 20 live clients (2 instances x 2 collections)", "initial sync: GET /v1/snapshot of 1,500 1-KiB docs, one client",
	} {
		if !strings.Contains(table, row) {
			t.Errorf("table has no %q row:\n%s", row, table)
		}
	}
	if n := len(stdout.lines()); n != 41 {
		t.Errorf("table has %d lines, want 41 (header + 40 rows):\n%s", n, table)
	}
	if !strings.Contains(stderr.String(), "bench: listen:") {
		t.Errorf("no progress on stderr:\n%s", &stderr)
	}
	// Each suite in a process of its own, none in this one.
	pids := map[string]bool{}
	for _, l := range stderr.lines() {
		if _, rest, ok := strings.Cut(l, " in its own process (pid "); ok {
			pids[rest] = true
		}
	}
	if len(pids) != 5 {
		t.Errorf("%d distinct suite processes, want 5:\n%s", len(pids), &stderr)
	}
}

func TestBenchJSONRows(t *testing.T) {
	var stdout, stderr syncBuffer
	code := run(context.Background(), []string{"bench", "embedded", "--json", "--n", "100", "--small", "10", "--large", "100", "--samples", "10", "--retained-mib", "4"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit code %d, stderr:\n%s", code, &stderr)
	}
	rows, err := parseRows(strings.NewReader(stdout.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 5 {
		t.Fatalf("%d rows:\n%s", len(rows), &stdout)
	}
	for _, r := range rows {
		if r.Group != "embedded" || r.Name == "" || r.Value == "" {
			t.Errorf("row %+v", r)
		}
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

// TestBenchGatewaySmall runs the gateway suite as the CLI does: the idle
// clients of the memory figure in a child process (this test binary as the
// CLI), so the gateway side is measured alone.
func TestBenchGatewaySmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Setenv(envAsCLI, "1") // for the client process
	var stdout, stderr syncBuffer
	code := run(ctx, []string{"bench", "gateway", "--gateway-clients", "30", "--gateway-rate", "100",
		"--gateway-duration", "300ms", "--gateway-docs", "2500"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit code %d, stderr:\n%s", code, &stderr)
	}
	lines := stdout.lines()
	want := []string{
		"memory per idle live SSE client, gateway side (clients in a child process)",
		"memory per idle live SSE client, net/http client side",
		"live fan-out, 30 SSE clients: write->owner's event p50 / p99",
		"server cursors with 30 live clients (2 instances x 2 collections)",
		"initial sync: GET /v1/snapshot of 2,500 1-KiB docs, one client",
	}
	if len(lines) != len(want)+1 {
		t.Fatalf("table has %d lines, want %d:\n%s", len(lines), len(want)+1, stdout.String())
	}
	for i, w := range want {
		if l := lines[i+1]; !strings.HasPrefix(l, "gateway  ") || !strings.Contains(l, w) {
			t.Errorf("line %d is %q, want the %q row", i+1, l, w)
		}
	}
	if !strings.Contains(lines[1], " KiB (heap+stacks in use after GC, 30 clients)") {
		t.Errorf("gateway memory row: %q", lines[1])
	}
	if !strings.Contains(stderr.String(), "bench: gateway:") {
		t.Errorf("no progress on stderr:\n%s", &stderr)
	}
	t.Logf("\n%s", stdout.String())
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
		{[]string{"bench", "gateway", "--gateway-clients", "0"}, "--gateway-clients must be positive"},
		{[]string{"bench", "gateway", "--gateway-duration", "0s"}, "--gateway-duration must be positive"},
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
