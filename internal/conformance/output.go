package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	logFile      = "conformance.log"
	failuresFile = "conformance-failures.txt"
	linesFile    = "conformance-lines.txt"
)

// writeLog appends a suite's line, then each failure's name and first
// error line, then each skip with its reason (to check that every skip is
// one the driver itself makes).
func writeLog(b *strings.Builder, line string, t tally) {
	fmt.Fprintf(b, "%s\n", line)
	for _, f := range t.Failures {
		fmt.Fprintf(b, "FAIL %s\n    %s\n", f.Name, f.Reason)
	}
	for _, s := range t.Skips {
		fmt.Fprintf(b, "SKIP %s\n    %s\n", s.Name, s.Reason)
	}
	b.WriteString("\n")
}

// writeOutputs replaces the three files in dir: readers (people, other
// tools) always see the last run's results, never a mix of two runs.
func writeOutputs(dir string, lines, failures []string, log string) error {
	files := map[string]string{
		logFile:      log,
		failuresFile: strings.Join(failures, "\n") + "\n",
		linesFile:    strings.Join(lines, "\n") + "\n" + time.Now().UTC().Format(time.RFC3339) + "\n",
	}
	for name, content := range files {
		tmp := filepath.Join(dir, name+".tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}
