package gateway

import (
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
)

// waitFor waits for cond with the suite's deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, what, cond)
}
