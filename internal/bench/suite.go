package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/resume/redisstore"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Config sizes a suite run. Zero values take the stated defaults.
type Config struct {
	// URI of the server, which must run in this process for the heap
	// figure to mean anything (the CLI starts the embedded server).
	URI string
	// N is the event count of throughput, insert and backlog measurements.
	// Default 50,000.
	N int
	// Small and Large are the collection sizes of the per-insert cost
	// comparison; Large is also the document count of the memory figure.
	// Defaults 1,000 and 100,000.
	Small, Large int
	// Samples is the InsertOne count timed at each size and the latency
	// sample count. Default 2,000.
	Samples int
	// Listeners is the fan-out width. Default 1,000.
	Listeners int
	// FanoutEvents is how many documents the fan-out measurement writes.
	// Default 200.
	FanoutEvents int
	// Rounds is how many times each throughput is measured (best kept).
	// Default 3.
	Rounds int
	// RemoteURI is the second server of the sync suite (the remote; URI is
	// the local side). Required by "sync" only.
	RemoteURI string
	// SyncDocs is the document count of the sync bootstrap. Default 100,000.
	SyncDocs int
	// SyncRate is the write rate of the sync lag measurement (writes/s).
	// Default 1,000.
	SyncRate int
	// SyncDuration is how long each sync direction is written at SyncRate.
	// Default 5s.
	SyncDuration time.Duration
	// RetainedBytes is how much the retained-memory figure writes (in
	// 1 MiB documents) before dropping it. Default 1 GiB.
	RetainedBytes int
	// RelayEvents is how many events the relay consumer-scaling
	// measurement publishes and drains. Default 20,000.
	RelayEvents int
	// ConsumerProcess returns the command of one relay consumer process
	// (the CLI runs itself: mongotide bench relay-consumer). Without it the
	// consumer-scaling row says it was skipped.
	ConsumerProcess func(addr, stream, group string) *exec.Cmd
	// GatewayClients is the number of live SSE clients (one owner each) of
	// the gateway suite. Default 2,000.
	GatewayClients int
	// GatewayRate is the write rate of the live fan-out (writes/s).
	// Default 500.
	GatewayRate int
	// GatewayDuration is how long the fan-out writes at GatewayRate after
	// its one-second warm-up. Default 5s.
	GatewayDuration time.Duration
	// GatewayDocs is the document count of the initial sync through
	// GET /v1/snapshot. Default 100,000.
	GatewayDocs int
	// GatewayClientProcess returns the command of a process holding the
	// idle live clients of the memory figure (the CLI runs itself: mongotide
	// bench gateway-clients), so that this process's memory is the gateway
	// side alone. Without it the clients run in this process and the row
	// says so.
	GatewayClientProcess func() *exec.Cmd
	// Progress receives one line per step. Default: discard.
	Progress io.Writer
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.N, 50_000)
	def(&c.Small, 1_000)
	def(&c.Large, 100_000)
	def(&c.Samples, 2_000)
	def(&c.Listeners, 1_000)
	def(&c.FanoutEvents, 200)
	def(&c.Rounds, 3)
	def(&c.RetainedBytes, 1<<30)
	def(&c.SyncDocs, 100_000)
	def(&c.SyncRate, 1_000)
	def(&c.RelayEvents, 20_000)
	def(&c.GatewayClients, 2_000)
	def(&c.GatewayRate, 500)
	def(&c.GatewayDocs, 100_000)
	if c.SyncDuration == 0 {
		c.SyncDuration = 5 * time.Second
	}
	if c.GatewayDuration == 0 {
		c.GatewayDuration = 5 * time.Second
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return c
}

func (c Config) validate() error {
	if c.URI == "" {
		return errors.New("bench: Config.URI is required")
	}
	for name, v := range map[string]int{"N": c.N, "Small": c.Small, "Large": c.Large, "Samples": c.Samples,
		"Listeners": c.Listeners, "FanoutEvents": c.FanoutEvents, "Rounds": c.Rounds,
		"SyncDocs": c.SyncDocs, "SyncRate": c.SyncRate,
		"GatewayClients": c.GatewayClients, "GatewayRate": c.GatewayRate, "GatewayDocs": c.GatewayDocs} {
		if v < 1 {
			return fmt.Errorf("bench: Config.%s must be positive, got %d", name, v)
		}
	}
	if c.SyncDuration < 0 {
		return fmt.Errorf("bench: Config.SyncDuration must be positive, got %s", c.SyncDuration)
	}
	if c.GatewayDuration < 0 {
		return fmt.Errorf("bench: Config.GatewayDuration must be positive, got %s", c.GatewayDuration)
	}
	return nil
}

// Row is one line of the table.
type Row struct {
	Group  string `json:"suite"` // "embedded", "listen", "sync", "relay" or "gateway"
	Name   string `json:"measure"`
	Value  string `json:"value"`
	Target string `json:"target,omitempty"` // the target, "" if none
	Met    string `json:"met,omitempty"`    // "yes", "NO", or "" when there is no target
}

// Suites names the groups Run accepts.
var Suites = []string{"embedded", "listen", "sync", "relay", "gateway"}

// Run measures the groups (a subset of Suites) on the server at cfg.URI and
// returns the rows in table order.
func Run(ctx context.Context, cfg Config, groups ...string) ([]Row, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	client, err := mongo.Connect(options.Client().ApplyURI(cfg.URI))
	if err != nil {
		return nil, err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	var rows []Row
	for _, g := range groups {
		var rs []Row
		var err error
		switch g {
		case "embedded":
			rs, err = runEmbedded(ctx, cfg, client)
		case "listen":
			rs, err = runListen(ctx, cfg, client)
		case "sync":
			rs, err = runSync(ctx, cfg, client)
		case "relay":
			rs, err = runRelay(ctx, cfg, client)
		case "gateway":
			rs, err = runGateway(ctx, cfg, client)
		default:
			return rows, fmt.Errorf("bench: unknown suite %q (known: %s)", g, strings.Join(Suites, ", "))
		}
		rows = append(rows, rs...)
		if err != nil {
			return rows, err
		}
	}
	return rows, nil
}

func step(cfg Config, format string, args ...any) {
	fmt.Fprintf(cfg.Progress, "bench: "+format+"\n", args...)
}

func runEmbedded(ctx context.Context, cfg Config, client *mongo.Client) ([]Row, error) {
	var rows []Row
	add := func(name, value, target, met string) {
		rows = append(rows, Row{Group: "embedded", Name: name, Value: value, Target: target, Met: met})
	}
	step(cfg, "embedded: %d InsertOne with one change stream consumed", cfg.N)
	watcher, err := mongo.Connect(options.Client().ApplyURI(cfg.URI))
	if err != nil {
		return rows, err
	}
	defer watcher.Disconnect(context.WithoutCancel(ctx))
	ips, err := InsertWithStream(ctx, client, watcher, cfg.N)
	if err != nil {
		return rows, fmt.Errorf("insert with change stream: %w", err)
	}
	add("InsertOne/s, one change stream open and consumed", rate(ips, "inserts/s"), ">= 10,000/s", met(ips >= 10_000))
	if err := addDirRows(ctx, cfg, add); err != nil {
		return rows, err
	}

	step(cfg, "embedded: filling %s and %s 1-KiB documents, then %d InsertOne at each size", num(cfg.Small), num(cfg.Large), cfg.Samples)
	sc, err := InsertCostAtSize(ctx, client, cfg.Small, cfg.Large, cfg.Samples, func(s string) { step(cfg, "embedded: %s", s) })
	if err != nil {
		return rows, fmt.Errorf("insert cost at size: %w", err)
	}
	add(fmt.Sprintf("InsertOne cost at %s docs", num(sc.Small)), dur(sc.PerInsertSmall), "", "")
	add(fmt.Sprintf("InsertOne cost at %s docs", num(sc.Large)), dur(sc.PerInsertLarge), "", "")
	add(fmt.Sprintf("cost ratio %s vs %s docs", num(sc.Large), num(sc.Small)), fmt.Sprintf("%.2fx", sc.Ratio()), "<= 1.5x", met(sc.Ratio() <= 1.5))

	step(cfg, "embedded: backlog of %d events", cfg.N)
	bl, err := BacklogDelivery(ctx, client, cfg.N)
	if err != nil {
		return rows, fmt.Errorf("backlog delivery: %w", err)
	}
	add("change-stream backlog delivery", rate(bl, "events/s"), ">= 20,000/s", met(bl >= 20_000))
	add(fmt.Sprintf("heap for %s 1-KiB docs (MemStats delta)", num(sc.Large)),
		fmt.Sprintf("%.1f MiB (%.2f KiB/doc)", float64(sc.HeapBytesLarge)/(1<<20), float64(sc.HeapBytesLarge)/1024/float64(sc.Large)),
		"reported", "")

	if err := addTestingRows(ctx, cfg, add); err != nil {
		return rows, err
	}

	// Last: it drops every bench database first, so what stays is the
	// oplog and the process's base.
	step(cfg, "embedded: writing %s in 1 MiB documents, dropping it", mib(uint64(cfg.RetainedBytes)))
	ret, err := DropRetained(ctx, client, cfg.RetainedBytes, 1<<20)
	if err != nil {
		return rows, fmt.Errorf("retained after drop: %w", err)
	}
	limit := uint64(embedded.DefaultOplogSizeBytes + 64<<20)
	add(fmt.Sprintf("RSS after writing %s in 1 MiB docs and dropping it", mib(uint64(cfg.RetainedBytes))),
		fmt.Sprintf("%s (Go heap in use %s)", mib(ret.RSS), mib(ret.HeapInuse)),
		"<= oplog bound + 64 MiB ("+mib(limit)+")", met(ret.RSS > 0 && ret.RSS <= limit))
	return rows, nil
}

func runListen(ctx context.Context, cfg Config, client *mongo.Client) ([]Row, error) {
	var rows []Row
	add := func(name, value, target, met string) {
		rows = append(rows, Row{Group: "listen", Name: name, Value: value, Target: target, Met: met})
	}
	step(cfg, "listen: throughput of %d events, raw driver loop vs toolkit (best of %d)", cfg.N, cfg.Rounds)
	raw, tk, err := bestPair(ctx, client, cfg, Raw, Toolkit())
	if err != nil {
		return rows, fmt.Errorf("throughput: %w", err)
	}
	add("raw Watch/Next/Decode throughput", rate(raw, "events/s"), "", "")
	add("toolkit throughput", rate(tk, "events/s"), "", "")
	add("toolkit vs raw throughput", fmt.Sprintf("%.2fx", tk/raw), ">= 0.9x", met(tk/raw >= 0.9))

	step(cfg, "listen: insert->handler latency, %d samples each", cfg.Samples)
	lraw, err := InsertLatency(ctx, client, cfg.Samples, Raw)
	if err != nil {
		return rows, fmt.Errorf("raw latency: %w", err)
	}
	ltk, err := InsertLatency(ctx, client, cfg.Samples, Toolkit())
	if err != nil {
		return rows, fmt.Errorf("toolkit latency: %w", err)
	}
	add("insert->handler latency raw p50 / p99", dur(lraw.P50)+" / "+dur(lraw.P99), "", "")
	add("insert->handler latency toolkit p50 / p99", dur(ltk.P50)+" / "+dur(ltk.P99), "", "")
	add("added latency p50 / p99", sdur(ltk.P50-lraw.P50)+" / "+sdur(ltk.P99-lraw.P99), "reported", "")

	step(cfg, "listen: %s listeners sharing one cursor, %d events", num(cfg.Listeners), cfg.FanoutEvents)
	sh, err := FanoutShared(ctx, cfg.URI, cfg.Listeners, cfg.FanoutEvents)
	if err != nil {
		return rows, fmt.Errorf("shared fan-out: %w", err)
	}
	step(cfg, "listen: %s raw cursors, %d events", num(cfg.Listeners), cfg.FanoutEvents)
	rc, err := FanoutRaw(ctx, cfg.URI, cfg.Listeners, cfg.FanoutEvents)
	if err != nil {
		return rows, fmt.Errorf("raw fan-out: %w", err)
	}
	l := num(cfg.Listeners)
	add(fmt.Sprintf("%s listeners, one shared cursor: cmds / CPU per event", l), fmt.Sprintf("%.2f / %s", sh.CmdsPerEvent, dur(sh.CPUPerEvent)), "", "")
	add(fmt.Sprintf("%s raw cursors: cmds / CPU per event", l), fmt.Sprintf("%.2f / %s", rc.CmdsPerEvent, dur(rc.CPUPerEvent)), "", "")
	cmdRatio := rc.CmdsPerEvent / max(sh.CmdsPerEvent, 1e-9)
	cpuRatio := float64(rc.CPUPerEvent) / max(float64(sh.CPUPerEvent), 1)
	add("shared vs raw: server commands per event", fmt.Sprintf("%.0fx fewer", cmdRatio), ">= 10x", met(cmdRatio >= 10))
	add("shared vs raw: CPU per event", fmt.Sprintf("%.1fx less", cpuRatio), ">= 10x", met(cpuRatio >= 10))

	row, err := redisRow(ctx, cfg, client)
	if err != nil {
		return rows, err
	}
	return append(rows, row), nil
}

// redisRowName names the Redis checkpointing row.
const redisRowName = "Redis checkpointing cost (default batching)"

// redisRow compares toolkit throughput with and without Redis checkpoints,
// or says why it was skipped.
func redisRow(ctx context.Context, cfg Config, client *mongo.Client) (Row, error) {
	row := Row{Group: "listen", Name: redisRowName, Target: "<= 5%"}
	r, err := StartRedis(ctx)
	if errors.Is(err, ErrNoRedis) {
		row.Value = "skipped: redis-server is missing from PATH (apt-get install redis-server)"
		return row, nil
	}
	if err != nil {
		return row, err
	}
	defer r.Stop()
	step(cfg, "listen: toolkit throughput with and without Redis checkpoints (best of %d)", cfg.Rounds)
	store := redisstore.New(r.Client, "mongotide-bench:")
	plain, withRedis, err := bestPair(ctx, client, cfg, Toolkit(), ToolkitCheckpointing(store))
	if err != nil {
		return row, fmt.Errorf("throughput with Redis checkpoints: %w", err)
	}
	cost := (plain/withRedis - 1) * 100
	row.Value = fmt.Sprintf("%+.1f%% time per event (%s with vs %s without)", cost, rate(withRedis, "events/s"), rate(plain, ""))
	row.Met = met(cost <= 5)
	return row, nil
}

// bestPair measures the throughput of a and b in alternating rounds, so that
// both see the same machine load, and keeps the best of each: on a shared
// machine the best run is the least disturbed one.
func bestPair(ctx context.Context, client *mongo.Client, cfg Config, a, b consumer) (bestA, bestB float64, err error) {
	for i := 0; i < cfg.Rounds; i++ {
		va, err := Throughput(ctx, client, cfg.N, a)
		if err != nil {
			return 0, 0, err
		}
		vb, err := Throughput(ctx, client, cfg.N, b)
		if err != nil {
			return 0, 0, err
		}
		bestA, bestB = max(bestA, va), max(bestB, vb)
	}
	return bestA, bestB, nil
}

// WriteTable prints rows as an aligned table.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SUITE\tMEASURE\tVALUE\tTARGET\tMET")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Group, r.Name, r.Value, r.Target, r.Met)
	}
	return tw.Flush()
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func rate(v float64, unit string) string {
	s := num(int(v + 0.5))
	if unit != "" {
		s += " " + unit
	}
	return s
}

// num formats n with thousands separators.
func num(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + num(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
	}
}

func sdur(d time.Duration) string {
	if d < 0 {
		return "-" + dur(-d)
	}
	return "+" + dur(d)
}
