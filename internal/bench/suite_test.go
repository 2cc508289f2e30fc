package bench

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
)

func TestRunSmallProducesEveryRow(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	var progress bytes.Buffer
	rows, err := Run(context.Background(), Config{URI: srv.URI(), N: 300, Small: 100, Large: 1000, Samples: 50,
		Listeners: 20, FanoutEvents: 20, Rounds: 1, RetainedBytes: 8 << 20, Progress: &progress}, "embedded", "listen")
	if err != nil {
		t.Fatal(err)
	}
	wantPrefixes := []string{
		"InsertOne/s, one change stream", "InsertOne/s with Dir, default write concern",
		"InsertOne/s j:true, 16 concurrent writers", "InsertOne cost at 100 docs", "InsertOne cost at 1,000 docs", "cost ratio",
		"change-stream backlog", "heap for 1,000",
		"embeddedtest: server start to first ping", "embeddedtest: Quiesce+Disconnect+Stop",
		"embeddedtest: per-test Database", "embeddedtest: 25 parallel tests",
		"RSS after writing 8 MiB", "raw Watch/Next/Decode", "toolkit throughput",
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

func TestRunSyncSmall(t *testing.T) {
	local := testenv.StartEmbedded(t, embedded.Config{})
	remote := testenv.StartEmbedded(t, embedded.Config{})
	ctx := context.Background()
	if _, err := Run(ctx, Config{URI: local.URI()}, "sync"); err == nil || !strings.Contains(err.Error(), "RemoteURI") {
		t.Errorf("sync without a remote: err %v", err)
	}
	var progress bytes.Buffer
	rows, err := Run(ctx, Config{URI: local.URI(), RemoteURI: remote.URI(), SyncDocs: 1500, SyncRate: 200,
		SyncDuration: 300 * time.Millisecond, Progress: &progress}, "sync")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ prefix, value string }{
		{"lag local->remote at 200 writes/s: p50 / p99", "(60 writes at "},
		{"lag remote->local at 200 writes/s: p50 / p99", "(60 writes at "},
		{"process CPU per replicated write", " / "},
		{"bootstrap of 1,500 1-KiB docs", " docs/s"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		r := rows[i]
		if r.Group != "sync" || !strings.HasPrefix(r.Name, w.prefix) || !strings.Contains(r.Value, w.value) ||
			strings.Contains(r.Value, "NaN") || strings.HasPrefix(r.Value, "0 ") {
			t.Errorf("row %d = %+v, want %q with a value containing %q", i, r, w.prefix, w.value)
		}
	}
	if !strings.Contains(progress.String(), "bench: sync:") {
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

func TestRunGatewaySmall(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	var progress syncWriter
	rows, err := Run(context.Background(), Config{URI: srv.URI(), GatewayClients: 20, GatewayRate: 100,
		GatewayDuration: 300 * time.Millisecond, GatewayDocs: 1500, Progress: &progress}, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ prefix, value string }{
		{"memory per idle live SSE client, gateway + net/http client in one process", " KiB (heap+stacks"},
		{"live fan-out, 20 SSE clients: write->owner's event p50 / p99", "(30 writes at "},
		{"server cursors with 20 live clients (2 instances x 2 collections)", "4 (serverStatus"},
		{"initial sync: GET /v1/snapshot of 1,500 1-KiB docs, one client", " docs/s (2 pages of 1,000 in "},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		r := rows[i]
		if r.Group != "gateway" || !strings.HasPrefix(r.Name, w.prefix) || !strings.Contains(r.Value, w.value) ||
			strings.Contains(r.Value, "NaN") || strings.HasPrefix(r.Value, "0 ") {
			t.Errorf("row %d = %+v, want %q with a value containing %q", i, r, w.prefix, w.value)
		}
	}
	var table strings.Builder
	_ = WriteTable(&table, rows)
	t.Logf("\n%s", table.String())
	if rows[2].Met != "yes" {
		t.Errorf("cursors row %+v: 2 gateways x 2 collections should hold 4 server cursors", rows[2])
	}
	if !strings.Contains(progress.String(), "bench: gateway:") {
		t.Errorf("no progress lines:\n%s", progress.String())
	}
}

// syncWriter is a strings.Builder safe for concurrent writes.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
