//go:build !unix

package engine

import (
	"fmt"
	"os"
)

func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, DataFileMode)
	if err != nil {
		return nil, fmt.Errorf("engine: open lock file: %w", err)
	}
	return f, nil
}
