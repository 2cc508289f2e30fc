//go:build !unix

package listen_test

import "time"

// cpuTime is unavailable here; the cpu-µs/event metric then reads 0.
func cpuTime() time.Duration { return 0 }
