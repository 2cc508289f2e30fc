//go:build !unix

package bench

import "time"

// CPUTime is unavailable on this platform; CPU figures read 0.
func CPUTime() time.Duration { return 0 }
