package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strings"

	"github.com/mongotide/mongotide/internal/bench"
	"github.com/spf13/cobra"
)

func newBenchCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		cfg         bench.Config
		retainedMiB int
		cpuProfile  string
		jsonRows    bool
		oneProcess  bool
	)
	cmd := &cobra.Command{
		Use:       "bench [embedded|listen|sync|relay|gateway|all]",
		Short:     "Measure the embedded server, the listener engine, sync, the relay and the gateway, printed as one table",
		ValidArgs: []string{"embedded", "listen", "sync", "relay", "gateway", "all"},
		Long: `Starts one embedded server in this process (two for sync) and measures, side by side in one run:

embedded: InsertOne/s through the driver with one change stream open and consumed; the
  per-insert cost with --large documents stored vs --small (ratio); change-stream backlog
  delivery (events/s); the heap held by --large 1-KiB documents (runtime.MemStats delta).
listen: toolkit throughput vs a raw driver Watch/Next/Decode loop (ratio); p50/p99
  insert->handler latency of both; --listeners listeners sharing one cursor vs as many raw
  cursors (server commands and process CPU per event; ratios); the cost of Redis
  checkpoints at the default batching (needs redis-server on PATH, else the row says
  it was skipped).
sync: a Syncer (default Config) between two embedded servers: bootstrap docs/s of --docs
  1-KiB documents; replication lag p50/p99 in each direction while --rate documents/s are
  inserted on one side for --lag-duration after a 1 s warm-up (from the write to the
  syncer's OnSync for it); process CPU time (both servers, writer and syncer) per replicated write. About 30 s at
  the defaults; for a quick look: mongotide bench sync --docs 20000 --lag-duration 2s.
relay (needs redis-server on PATH): publisher throughput into Redis Streams vs the raw
  driver loop and the toolkit listener (ratios); --relay-events entries drained by 1, then
  4 consumer processes (this binary, each waiting 2 ms of simulated I/O per entry; ratio);
  write->consumer handler latency p50/p99 next to a direct listener's.
gateway: two gateway instances on one database serving two owner-scoped collections over
  HTTP on loopback. Memory per idle live SSE client: this process's heap+stacks in use
  after GC with --gateway-clients idle clients connected from a child process (this binary)
  minus without, per client (the gateway side alone), then the same clients in this process
  (the net/http client side, by difference). Live fan-out: --gateway-clients SSE clients,
  one JWT owner each, while --gateway-rate writes/s (updates and inserts of a random
  client's documents) run for --gateway-duration after a 1 s warm-up: write->owner's event
  latency p50/p99; the suite fails unless every write reaches its owner exactly once.
  Server cursors open meanwhile (serverStatus, beyond those open before the gateways
  started): collections x instances whatever the client count. Initial sync: one client
  pages GET /v1/snapshot (1,000 per page) through --gateway-docs 1-KiB documents of its
  owner (docs/s). Needs about 2 x --gateway-clients file descriptors (the soft limit is
  raised up to the hard one).

The table goes to stdout with the issue's targets (--json: the rows as JSON lines); progress
goes to stderr. With more than one suite (all), each suite runs in a process of its own (this
binary, with the same flags), so the heap and the goroutines one suite leaves behind are not
billed to the next one's CPU and memory figures; --one-process runs them all in this process.
The default sizes take a few minutes; for a quick look: mongotide bench --n 2000 --large 10000 --listeners 100.`,
		Example: "  mongotide bench\n  mongotide bench listen --n 5000\n  mongotide bench sync --docs 20000\n  mongotide bench gateway --gateway-clients 500",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("bench takes at most one suite, got %q", strings.Join(args, " "))}
			}
			if len(args) == 1 && !isSuite(args[0]) {
				return usageError{fmt.Errorf("unknown suite %q: want embedded, listen, sync, relay, gateway or all", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			for name, v := range map[string]int{"--n": cfg.N, "--small": cfg.Small, "--large": cfg.Large, "--samples": cfg.Samples,
				"--listeners": cfg.Listeners, "--fanout-events": cfg.FanoutEvents, "--rounds": cfg.Rounds,
				"--docs": cfg.SyncDocs, "--rate": cfg.SyncRate, "--retained-mib": retainedMiB, "--relay-events": cfg.RelayEvents,
				"--gateway-clients": cfg.GatewayClients, "--gateway-rate": cfg.GatewayRate, "--gateway-docs": cfg.GatewayDocs} {
				if v < 1 {
					return usageError{fmt.Errorf("%s must be positive, got %d", name, v)}
				}
			}
			cfg.RetainedBytes = retainedMiB << 20
			if cfg.SyncDuration <= 0 {
				return usageError{fmt.Errorf("--lag-duration must be positive, got %s", cfg.SyncDuration)}
			}
			if cfg.GatewayDuration <= 0 {
				return usageError{fmt.Errorf("--gateway-duration must be positive, got %s", cfg.GatewayDuration)}
			}
			suite := "all"
			if len(args) == 1 {
				suite = args[0]
			}
			groups := bench.Suites
			if suite != "all" {
				groups = []string{suite}
			}
			if exe, err := os.Executable(); err == nil {
				cfg.ConsumerProcess = func(addr, stream, group string) *exec.Cmd {
					return exec.Command(exe, "bench", "relay-consumer", "--redis", addr, "--stream", stream, "--group", group)
				}
				cfg.GatewayClientProcess = func() *exec.Cmd { return exec.Command(exe, "bench", "gateway-clients") }
			}
			if slices.Contains(groups, "gateway") {
				// Each live client holds a socket here and one in the
				// gateway; the child process needs its own.
				if err := bench.EnsureFiles(2*cfg.GatewayClients + 256); err != nil {
					return err
				}
			}
			if len(groups) > 1 && !oneProcess {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("bench: cannot find this binary to run each suite in its own process (--one-process runs them here): %w", err)
				}
				return runSuitesApart(cmd.Context(), exe, groups, passFlags(cmd.Flags()), cpuProfile, jsonRows, stdout, stderr)
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			return runBench(cmd.Context(), cfg, groups, jsonRows, stdout, stderr)
		},
	}
	cmd.AddCommand(newRelayConsumerCmd(), newGatewayClientsCmd())
	def := bench.Config{}.WithDefaults()
	f := cmd.Flags()
	f.IntVar(&cfg.N, "n", def.N, "events per throughput, InsertOne and backlog measurement")
	f.IntVar(&cfg.Small, "small", def.Small, "documents stored for the small per-insert cost")
	f.IntVar(&cfg.Large, "large", def.Large, "documents stored for the large per-insert cost and the memory figure")
	f.IntVar(&cfg.Samples, "samples", def.Samples, "InsertOne calls timed at each size; latency samples; embeddedtest start/stop and per-test samples (at most 500)")
	f.IntVar(&cfg.Listeners, "listeners", def.Listeners, "fan-out width (listeners and raw cursors)")
	f.IntVar(&cfg.FanoutEvents, "fanout-events", def.FanoutEvents, "documents written in the fan-out measurement")
	f.IntVar(&cfg.Rounds, "rounds", def.Rounds, "throughput runs per figure (best kept)")
	f.IntVar(&cfg.SyncDocs, "docs", def.SyncDocs, "sync: 1-KiB documents copied by the bootstrap")
	f.IntVar(&cfg.SyncRate, "rate", def.SyncRate, "sync: writes per second of the lag measurement")
	f.DurationVar(&cfg.SyncDuration, "lag-duration", def.SyncDuration, "sync: how long each direction is written at --rate")
	f.IntVar(&cfg.RelayEvents, "relay-events", def.RelayEvents, "relay: entries drained by the consumer processes")
	f.IntVar(&cfg.GatewayClients, "gateway-clients", def.GatewayClients, "gateway: concurrent live SSE clients (one owner each)")
	f.IntVar(&cfg.GatewayRate, "gateway-rate", def.GatewayRate, "gateway: writes per second of the live fan-out")
	f.DurationVar(&cfg.GatewayDuration, "gateway-duration", def.GatewayDuration, "gateway: how long the fan-out writes at --gateway-rate (after a 1 s warm-up)")
	f.IntVar(&cfg.GatewayDocs, "gateway-docs", def.GatewayDocs, "gateway: 1-KiB documents paged by the initial sync")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (both servers and the measured code share the process) to this file, for go tool pprof; with one process per suite, FILE.SUITE per suite")
	f.BoolVar(&jsonRows, "json", false, "print the rows as JSON lines ({suite, measure, value, target, met}) instead of the table")
	f.BoolVar(&oneProcess, "one-process", false, "run every suite in this process instead of one process per suite")
	f.IntVar(&retainedMiB, "retained-mib", def.RetainedBytes>>20, "embedded: MiB written (in 1 MiB documents) and dropped before the RSS figure")
	return cmd
}

func isSuite(s string) bool {
	if s == "all" {
		return true
	}
	for _, g := range bench.Suites {
		if s == g {
			return true
		}
	}
	return false
}

func runBench(ctx context.Context, cfg bench.Config, groups []string, jsonRows bool, stdout, stderr io.Writer) error {
	srv, err := startEmbeddedDefault(ctx)
	if err != nil {
		return fmt.Errorf("start embedded server: %w", err)
	}
	defer srv.Stop(context.WithoutCancel(ctx))
	fmt.Fprintf(stderr, "mongotide: embedded server at %s\n", srv.URI())
	cfg.URI = srv.URI()
	cfg.Progress = stderr
	if slices.Contains(groups, "sync") {
		remote, err := startEmbeddedDefault(ctx)
		if err != nil {
			return fmt.Errorf("start the remote embedded server: %w", err)
		}
		defer remote.Stop(context.WithoutCancel(ctx))
		fmt.Fprintf(stderr, "mongotide: remote embedded server for sync at %s\n", remote.URI())
		cfg.RemoteURI = remote.URI()
	}
	rows, err := bench.Run(ctx, cfg, groups...)
	if werr := writeRows(stdout, rows, jsonRows); err == nil {
		err = werr
	}
	return err
}

// newRelayConsumerCmd is one consumer process of bench relay's scaling
// measurement (hidden: the bench runs it).
func newRelayConsumerCmd() *cobra.Command {
	var addr, stream, group string
	cmd := &cobra.Command{
		Use:    "relay-consumer",
		Hidden: true,
		Args:   exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return bench.RunRelayConsumer(cmd.Context(), addr, stream, group, bench.ConsumerWork)
		},
	}
	cmd.Flags().StringVar(&addr, "redis", "", "redis host:port")
	cmd.Flags().StringVar(&stream, "stream", "", "relay name")
	cmd.Flags().StringVar(&group, "group", "", "consumer group")
	return cmd
}

// newGatewayClientsCmd is the client process of bench gateway's memory
// figure (hidden: the bench runs it). It reads a bench.GatewayClientsSpec on
// stdin, opens the live streams, prints "ready N" and holds them until
// stdin closes.
func newGatewayClientsCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "gateway-clients",
		Hidden: true,
		Args:   exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return bench.RunGatewayClients(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
}
