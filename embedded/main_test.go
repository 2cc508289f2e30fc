package embedded_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// server is stopped by its test, and Stop must end all of its goroutines.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
