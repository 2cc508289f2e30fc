//go:build unix

package bench

import (
	"fmt"
	"syscall"
)

// EnsureFiles makes sure this process may open n file descriptors, raising
// the soft limit (up to the hard limit) if needed. Go already raises it to
// the hard limit at start on Linux; this says clearly when that is not
// enough.
func EnsureFiles(n int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read the file descriptor limit: %w", err)
	}
	want := uint64(n)
	if lim.Cur >= want {
		return nil
	}
	if lim.Max < want {
		return fmt.Errorf("needs %d file descriptors, but the hard limit is %d: raise it (ulimit -Hn, as root, or limits.conf) or use fewer --gateway-clients", n, lim.Max)
	}
	lim.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise the file descriptor soft limit to %d: %w", n, err)
	}
	return nil
}
