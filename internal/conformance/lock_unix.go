//go:build unix

package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive lock on dir for this run, waiting for another
// run that holds it: runs share dir (the driver copy lives there at a fixed
// path, which keeps go's build cache warm), and a second run removing and
// rewriting the first one's driver copy and reports broke both (two `make
// test` at once measured 383 passed, 42 failed). The lock ends with the
// process.
func lockDir(dir string, progress io.Writer) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(progress, "conformance: waiting for another run using %s\n", dir)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
	}
	return func() { _ = f.Close() }, nil
}
