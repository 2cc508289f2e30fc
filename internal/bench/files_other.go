//go:build !unix

package bench

// EnsureFiles does nothing where file descriptor limits are not rlimits.
func EnsureFiles(int) error { return nil }
