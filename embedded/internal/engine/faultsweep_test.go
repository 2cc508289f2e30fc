package engine

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/vfs"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The fault sweep (SQLite's I/O-error and crash tests, RocksDB's
// FaultInjectionTestFS): a fixed workload of journaled operations runs on
// the in-memory fault file layer; for every N up to the number of write,
// sync, rename, create, truncate and directory-sync calls the workload
// makes, one run fails the Nth call and another loses power at it. Every
// run ends in a power loss, and the reopened engine must show a prefix of
// the workload's commits that contains every commit acknowledged as
// durable and no commit that failed; a transaction is one commit, so it is
// all or none. Open must never fail.

const sweepOps = 240

var sweepNS = Namespace{DB: "db", Coll: "sweep"}

// sweepOp is one commit of the workload: the documents it leaves (nil
// value: deleted).
type sweepOp struct {
	writes  map[int32]*int32
	durable bool // acknowledged after WaitDurable
}

// sweepRun is the outcome of one workload run.
type sweepRun struct {
	applied []sweepOp // commits that succeeded or whose outcome is unknown
	durable int       // applied[:durable] must survive
}

func countedOp(op vfs.Op) bool {
	switch op {
	case vfs.OpWrite, vfs.OpSync, vfs.OpRename, vfs.OpCreate, vfs.OpTruncate, vfs.OpSyncDir:
		return true
	}
	return false
}

func sweepOptions(fs vfs.FS) Options {
	return Options{
		Dir: "/data", FS: fs, CompactBytes: 3000, OplogCapacity: 50,
		// No background fsync: the calls are the workload's alone.
		CommitInterval: time.Hour,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// runSweepWorkload runs the workload until it ends or the machine crashes.
func runSweepWorkload(t *testing.T, e *Engine, fs *vfs.Fault) sweepRun {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var run sweepRun
	val := int32(0)
	set := func(k int32) map[int32]*int32 {
		val++
		v := val
		return map[int32]*int32{k: &v}
	}
	for i := 0; i < sweepOps && !fs.Crashed(); i++ {
		k := int32(rng.IntN(12))
		var op sweepOp
		var err error
		switch r := rng.IntN(10); {
		case r < 4: // insert or replace (upsert)
			op.writes = set(k)
			_, err = e.Update(sweepNS, UpdateArgs{Filter: bson.D{{Key: "_id", Value: k}},
				Update: bson.D{{Key: "_id", Value: k}, {Key: "v", Value: *op.writes[k]}}, Upsert: true})
		case r < 6: // $set on a document that may not exist: upsert keeps it one commit
			op.writes = set(k)
			_, err = e.Update(sweepNS, UpdateArgs{Filter: bson.D{{Key: "_id", Value: k}},
				Update: bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: *op.writes[k]}}}}, Upsert: true})
		case r < 7:
			op.writes = map[int32]*int32{k: nil}
			var n int64
			n, err = e.Delete(sweepNS, bson.D{{Key: "_id", Value: k}}, 1)
			if err == nil && n == 0 {
				continue // nothing committed
			}
		default: // a transaction writing three documents
			tx := e.Begin(txnMeta(int64(i)))
			op.writes = map[int32]*int32{}
			for j := int32(0); j < 3 && err == nil; j++ {
				kk := (k + j*5) % 12
				val++
				v := val
				op.writes[kk] = &v
				_, err = tx.Update(sweepNS, UpdateArgs{Filter: bson.D{{Key: "_id", Value: kk}},
					Update: bson.D{{Key: "_id", Value: kk}, {Key: "v", Value: v}}, Upsert: true})
			}
			if err != nil {
				tx.Abort()
				continue
			}
			_, err = tx.Commit()
		}
		if err != nil {
			continue // not applied: must never be seen
		}
		run.applied = append(run.applied, op)
		if i%4 == 0 || len(op.writes) > 1 { // j: true writes and commits
			if e.WaitDurable() == nil {
				run.applied[len(run.applied)-1].durable = true
				run.durable = len(run.applied)
			}
		}
	}
	return run
}

// checkPrefix verifies that got is the state after some prefix of the
// applied commits that includes every durable one.
func checkPrefix(run sweepRun, got map[int32]int32) error {
	state := map[int32]int32{}
	apply := func(op sweepOp) {
		for k, v := range op.writes {
			if v == nil {
				delete(state, k)
			} else {
				state[k] = *v
			}
		}
	}
	equal := func() bool {
		if len(state) != len(got) {
			return false
		}
		for k, v := range state {
			if g, ok := got[k]; !ok || g != v {
				return false
			}
		}
		return true
	}
	for i := 0; i < run.durable; i++ {
		apply(run.applied[i])
	}
	if equal() {
		return nil
	}
	for i := run.durable; i < len(run.applied); i++ {
		apply(run.applied[i])
		if equal() {
			return nil
		}
	}
	return fmt.Errorf("state %v is not a prefix of the %d applied commits that keeps the first %d (durable)",
		got, len(run.applied), run.durable)
}

func readSweepState(t *testing.T, e *Engine) (map[int32]int32, error) {
	docs, err := e.Find(sweepNS, FindArgs{})
	if err != nil {
		return nil, err
	}
	got := map[int32]int32{}
	for _, d := range docs {
		got[d.Lookup("_id").Int32()] = d.Lookup("v").Int32()
	}
	return got, nil
}

// sweepOnce runs the workload with inject installed after Open, then loses
// power, reopens and checks.
func sweepOnce(t *testing.T, inject func(op vfs.Op, path string) error, partial bool) error {
	fs := vfs.NewFault()
	e, err := Open(sweepOptions(fs))
	if err != nil {
		return fmt.Errorf("first open: %w", err)
	}
	fs.SetInject(inject, partial)
	run := runSweepWorkload(t, e, fs)
	fs.Crash()
	_ = e.Close() // stops its goroutines; the machine is down
	fs.Restart()
	e2, err := Open(sweepOptions(fs))
	if err != nil {
		return fmt.Errorf("reopen after the power loss: %w", err)
	}
	defer e2.Close()
	got, err := readSweepState(t, e2)
	if err != nil {
		return err
	}
	return checkPrefix(run, got)
}

func TestFaultSweep(t *testing.T) {
	// A clean run counts the injection points and must itself pass.
	fs := vfs.NewFault()
	e, err := Open(sweepOptions(fs))
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	fs.SetInject(func(op vfs.Op, _ string) error {
		if countedOp(op) {
			calls++
		}
		return nil
	}, false)
	run := runSweepWorkload(t, e, fs)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if len(run.applied) < 200 {
		t.Fatalf("the workload made %d commits, want at least 200", len(run.applied))
	}
	if err := sweepOnce(t, func(vfs.Op, string) error { return nil }, false); err != nil {
		t.Fatalf("no fault: %v", err)
	}
	violations, runs := 0, 0
	modes := []string{"eio", "enospc-partial", "power-loss"}
	for n := 1; n <= calls; n++ {
		for mi, mode := range modes {
			if raceDetector && mi != n%len(modes) {
				continue // under -race each point gets one mode, in turn
			}
			seen := 0
			inject := func(op vfs.Op, _ string) error {
				if !countedOp(op) {
					return nil
				}
				seen++
				if seen != n {
					return nil
				}
				switch mode {
				case "eio":
					return syscall.EIO
				case "enospc-partial":
					return syscall.ENOSPC
				}
				return vfs.ErrPowerLoss
			}
			runs++
			if err := sweepOnce(t, inject, mode == "enospc-partial"); err != nil {
				violations++
				if violations <= 10 {
					t.Errorf("%s at call %d of %d: %v", mode, n, calls, err)
				}
			}
		}
	}
	t.Logf("fault sweep: %d commits, %d injection points (write/sync/rename/create/truncate/dirsync calls), %d runs (modes %v, all per point unless -race), %d violations",
		len(run.applied), calls, runs, modes, violations)
	if violations > 0 {
		t.Fatalf("%d violations", violations)
	}
}
