package sync_test

import (
	"testing"

	"github.com/mongotide/mongotide/sync/synctest"
)

// The conformance suite (package synctest: the conflict outcome table and
// the offline tests) over both transports: a remote database, and a
// gateway in front of it.

func TestConformanceDatabase(t *testing.T) { synctest.Run(t, synctest.Database()) }

func TestConformanceGateway(t *testing.T) { synctest.Run(t, synctest.Gateway()) }
