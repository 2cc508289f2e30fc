//go:build !unix

package bench

import "time"

// CPUTime is unavailable on this platform; CPU figures read 0.
func CPUTime() time.Duration { return 0 }

// CPUTimes is unavailable on this platform; both read 0.
func CPUTimes() (user, system time.Duration) { return 0, 0 }
