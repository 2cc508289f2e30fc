package bench

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
)

func TestRunSmallProducesEveryRow(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	var progress bytes.Buffer
	rows, err := Run(context.Background(), Config{URI: srv.URI(), N: 300, Small: 100, Large: 1000, Samples: 50,
		Listeners: 20, FanoutEvents: 20, Rounds: 1, Progress: &progress}, Suites...)
	if err != nil {
		t.Fatal(err)
	}
	wantPrefixes := []string{
		"InsertOne/s", "InsertOne cost at 100 docs", "InsertOne cost at 1,000 docs", "cost ratio",
		"change-stream backlog", "heap for 1,000", "raw Watch/Next/Decode", "toolkit throughput",
		"toolkit vs raw", "insert->handler latency raw", "insert->handler latency toolkit", "added latency",
		"20 listeners, one shared cursor", "20 raw cursors", "shared vs raw: server commands", "shared vs raw: CPU",
		"Redis checkpointing",
	}
	if len(rows) != len(wantPrefixes) {
		t.Errorf("%d rows, want %d", len(rows), len(wantPrefixes))
	}
	for i, p := range wantPrefixes {
		if i < len(rows) && !strings.HasPrefix(rows[i].Name, p) {
			t.Errorf("row %d is %q, want a row starting %q", i, rows[i].Name, p)
		}
	}
	for _, r := range rows {
		if r.Value == "" || strings.Contains(r.Value, "NaN") || strings.Contains(r.Value, "Inf") {
			t.Errorf("row %q has value %q", r.Name, r.Value)
		}
	}
	redisRow := rows[len(rows)-1].Value
	_, lookErr := exec.LookPath("redis-server")
	if skipped := strings.HasPrefix(redisRow, "skipped"); skipped != (lookErr != nil) {
		t.Errorf("Redis row %q, redis-server on PATH: %v", redisRow, lookErr == nil)
	}
	if !strings.Contains(progress.String(), "bench: listen:") {
		t.Errorf("no progress lines:\n%s", progress.String())
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	if _, err := Run(context.Background(), Config{}); err == nil || !strings.Contains(err.Error(), "URI") {
		t.Errorf("missing URI: err %v", err)
	}
	if _, err := Run(context.Background(), Config{URI: "mongodb://x", N: -1}); err == nil || !strings.Contains(err.Error(), "Config.N") {
		t.Errorf("negative N: err %v", err)
	}
	srv := testenv.StartEmbedded(t, embedded.Config{})
	if _, err := Run(context.Background(), Config{URI: srv.URI()}, "nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown suite: err %v", err)
	}
}

func TestNum(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 100000: "100,000", 1234567: "1,234,567", -1500: "-1,500"} {
		if got := num(n); got != want {
			t.Errorf("num(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestRedisRowSaysWhyItWasSkipped(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no redis-server on it
	row, err := redisRow(context.Background(), Config{}.WithDefaults(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if row.Name != redisRowName || !strings.Contains(row.Value, "skipped: redis-server is missing") {
		t.Errorf("row %+v", row)
	}
}
