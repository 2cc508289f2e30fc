package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/mongotide/mongotide/internal/bench"
	"github.com/spf13/pflag"
)

// runSuitesApart runs each suite as `exe bench SUITE --json FLAGS...`, one
// process after the other, and prints their rows as one table. A suite
// measured after another in the same process pays for what the first left
// behind: its heap (more GC work, billed to the CPU-per-write figures), its
// goroutines and its server state. Each child starts its own embedded
// servers. A failing suite does not stop the others; its rows so far are
// kept and the errors are returned together.
func runSuitesApart(ctx context.Context, exe string, groups, flags []string, cpuProfile string, jsonRows bool, stdout, stderr io.Writer) error {
	var rows []bench.Row
	var errs []error
	for _, g := range groups {
		args := append([]string{"bench", g, "--json"}, flags...)
		if cpuProfile != "" {
			args = append(args, "--cpuprofile="+cpuProfile+"."+g)
		}
		rs, err := runSuiteProcess(ctx, exe, g, args, stderr)
		rows = append(rows, rs...)
		if err != nil {
			errs = append(errs, fmt.Errorf("suite %s: %w", g, err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err := writeRows(stdout, rows, jsonRows); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// runSuiteProcess runs one suite's process: its progress goes to stderr,
// its stdout is JSON rows. Cancelling ctx interrupts it as Ctrl-C would,
// so it stops its servers and still prints the rows it has.
func runSuiteProcess(ctx context.Context, exe, suite string, args []string, stderr io.Writer) ([]bench.Row, error) {
	var out bytes.Buffer
	c := exec.CommandContext(ctx, exe, args...)
	c.Stdout, c.Stderr = &out, stderr
	c.Cancel = func() error { return c.Process.Signal(os.Interrupt) }
	c.WaitDelay = 30 * time.Second
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", exe, err)
	}
	fmt.Fprintf(stderr, "mongotide: bench %s in its own process (pid %d)\n", suite, c.Process.Pid)
	werr := c.Wait()
	rows, perr := parseRows(&out)
	if werr != nil {
		return rows, werr
	}
	return rows, perr
}

func parseRows(r io.Reader) ([]bench.Row, error) {
	var rows []bench.Row
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var row bench.Row
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return rows, fmt.Errorf("a row the suite printed is not JSON: %q: %w", sc.Text(), err)
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

func writeRows(w io.Writer, rows []bench.Row, jsonRows bool) error {
	if !jsonRows {
		if len(rows) == 0 {
			return nil
		}
		return bench.WriteTable(w, rows)
	}
	enc := json.NewEncoder(w)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

// passFlags returns the flags set on the command line, to give each
// suite's process the same sizes.
func passFlags(fs *pflag.FlagSet) []string {
	var args []string
	fs.Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "json", "one-process", "cpuprofile":
			return
		}
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	return args
}
