//go:build unix

package bench

import (
	"syscall"
	"time"
)

// CPUTime is the process's user+system CPU time. The embedded server and the
// clients share the process in these measurements, so it is the whole cost.
func CPUTime() time.Duration {
	u, s := CPUTimes()
	return u + s
}

// CPUTimes is the process's user and system CPU time apart.
func CPUTimes() (user, system time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
