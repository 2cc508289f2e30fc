package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mongotide/mongotide/embedded"
)

// EnvSpecDir overrides where the driver's spec JSON is read from.
const EnvSpecDir = "MONGOTIDE_DRIVER_SPEC_DIR"

type config struct {
	out     string        // directory for the log, failure list and lines
	min     float64       // minimum pass rate in percent for both lines
	timeout time.Duration // per suite
	keep    bool          // keep the driver copy
}

func main() {
	var cfg config
	flag.StringVar(&cfg.out, "out", filepath.Join(os.TempDir(), "mongotide-conformance"), "directory for conformance.log, conformance-failures.txt and conformance-lines.txt")
	flag.Float64Var(&cfg.min, "min", 0, "fail when either line's pass rate (passed/(passed+failed), percent) is below this")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Minute, "go test -timeout of each suite")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the copy of the driver module (in -out) after the run")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, cfg, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

// errBelowMin reports a pass rate under -min; the lines are printed anyway.
var errBelowMin = errors.New("pass rate below the minimum")

func run(ctx context.Context, cfg config, stdout io.Writer) error {
	start := time.Now()
	repo, err := os.Getwd()
	if err != nil {
		return err
	}
	specDir, err := findSpecDir(repo)
	if err != nil {
		return err
	}
	version, err := driverVersion(ctx, repo)
	if err != nil {
		return err
	}
	cache, err := downloadDriver(ctx, version)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return err
	}
	release, err := lockDir(cfg.out, stdout)
	if err != nil {
		return err
	}
	defer release()
	// A fresh copy each run, at the same path every time: go's build cache
	// keys compiled packages on their directory, so a new path would
	// recompile the whole driver (minutes on two cores).
	driverDir := filepath.Join(cfg.out, "mongo-driver-"+version)
	if err := os.RemoveAll(driverDir); err != nil {
		return err
	}
	if err := copyDriver(cache, driverDir, specDir); err != nil {
		return err
	}
	if !cfg.keep {
		defer os.RemoveAll(driverDir)
	}
	classic, err := classicSuites(driverDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "driver %s@%s, spec dir %s\n", driverModule, version, specDir)

	// The suites run at once, each against its own server: most of their
	// time is spent waiting (failpoint blocks, timeouts), not computing.
	suites := append([]suite{unifiedSuite(specDir)}, classic...)
	tallies := make([]tally, len(suites))
	errs := make([]error, len(suites))
	var wg sync.WaitGroup
	for i, s := range suites {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tallies[i], errs[i] = runAgainstFreshServer(ctx, driverDir, s, cfg)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var lines, failures []string
	var log strings.Builder
	belowMin := false
	for _, m := range mergeByName(suites, tallies) {
		line := m.t.Line(m.name)
		fmt.Fprintln(stdout, line)
		lines = append(lines, line)
		writeLog(&log, line, m.t)
		for _, f := range m.t.Failures {
			failures = append(failures, f.Name)
		}
		if m.t.Rate() < cfg.min {
			belowMin = true
			fmt.Fprintf(stdout, "driver %s: pass rate %.1f%% is below the minimum %.1f%%\n", m.name, m.t.Rate(), cfg.min)
		}
	}
	if err := writeOutputs(cfg.out, lines, failures, log.String()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "failures: %s, log: %s (%s)\n", filepath.Join(cfg.out, failuresFile),
		filepath.Join(cfg.out, logFile), time.Since(start).Round(time.Second))
	if belowMin {
		return errBelowMin
	}
	return nil
}

// runAgainstFreshServer starts an embedded server for s alone, so that one
// suite's leftovers (failpoints, sessions, collections) cannot decide the
// other's results.
func runAgainstFreshServer(ctx context.Context, driverDir string, s suite, cfg config) (tally, error) {
	// The driver's spec runners set failpoints, as against a mongod
	// started with enableTestCommands.
	srv, err := embedded.Start(ctx, embedded.Config{EnableTestCommands: true})
	if err != nil {
		return tally{}, fmt.Errorf("start embedded: %w", err)
	}
	defer srv.Stop(context.WithoutCancel(ctx))
	raw, err := os.Create(filepath.Join(cfg.out, "conformance-"+s.name+s.shard+".json"))
	if err != nil {
		return tally{}, err
	}
	defer raw.Close()
	return runSuite(ctx, driverDir, srv.URI(), s, cfg.timeout, raw)
}

// findSpecDir returns MONGOTIDE_DRIVER_SPEC_DIR (relative to the
// repository when not absolute) or ../shared/driver-spec/source.
func findSpecDir(repo string) (string, error) {
	dir := os.Getenv(EnvSpecDir)
	switch {
	case dir == "":
		dir = filepath.Join(repo, "..", "shared", "driver-spec", "source")
	case !filepath.IsAbs(dir):
		dir = filepath.Join(repo, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "crud")); err != nil {
		return "", fmt.Errorf("driver spec files not found at %s (set %s): %w", dir, EnvSpecDir, err)
	}
	return filepath.Abs(dir)
}
