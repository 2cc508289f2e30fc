package embeddedtest_test

import (
	"testing"

	"github.com/mongotide/mongotide/embedded/embeddedtest"
	"go.uber.org/goleak"
)

// runner runs the tests through embeddedtest.Run, so goleak checks after
// the shared server stopped.
type runner struct{ m *testing.M }

func (r runner) Run() int { return embeddedtest.Run(r.m) }

func TestMain(m *testing.M) { goleak.VerifyTestMain(runner{m}) }
