package redislease_test

import (
	"fmt"
	"testing"

	"github.com/mongotide/mongotide/internal/redistest"
	"github.com/mongotide/mongotide/lease"
	"github.com/mongotide/mongotide/lease/leasetest"
	"github.com/mongotide/mongotide/lease/redislease"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformanceSingleNode(t *testing.T) {
	rdb := redistest.Client(t)
	n := 0
	leasetest.Run(t, func(t *testing.T) lease.Lease {
		n++
		return redislease.New(rdb, fmt.Sprintf("t%d:", n))
	})
}

func TestConformanceCluster(t *testing.T) {
	rdb := redistest.StartCluster(t, 3).Client(t)
	n := 0
	leasetest.Run(t, func(t *testing.T) lease.Lease {
		n++
		return redislease.New(rdb, fmt.Sprintf("t%d:", n))
	})
}
