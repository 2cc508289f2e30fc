//go:build unix

package engine

import (
	"fmt"
	"os"
	"syscall"
)

// lockDir takes an exclusive advisory lock so that two engines never write
// the same directory.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, DataFileMode)
	if err != nil {
		return nil, fmt.Errorf("engine: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("engine: data directory %s is in use by another engine: %w", path, err)
	}
	return f, nil
}
