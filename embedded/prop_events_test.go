package embedded_test

import (
	"flag"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestPropWriteEvents is a model-based property test of the write -> change
// event path, through the real driver: random documents over every BSON
// type, random writes of every kind (all update operators, positional and
// arrayFilters updates, pipeline updates, upserts, replaces, deletes,
// insertMany, ordered and unordered bulkWrite, findAndModify, committed and
// aborted transactions), and after every write:
//   - it yields exactly its events (count, operationType, documentKey, ns),
//     on two database streams opened at the start (fullDocument
//     updateLookup with pre-images whenAvailable; post- and pre-images
//     required), which never error; a refused write changes nothing;
//   - the events, applied in order to the documents before the write, give
//     the documents after it (read back with find: the oracle is the
//     stored state, not a reimplementation of update semantics); an update
//     event's updatedFields/removedFields/truncatedArrays applied to its
//     pre-image give its post-image;
//   - pre-images equal the document before the event, post-images the one
//     after it, updateLookup the stored document (one writer: the current
//     one), findAndModify returns the version before or after;
//   - resuming from a random earlier token yields exactly the rest;
//   - with Dir, at random steps, a stop and restart on the same Dir keeps
//     the same documents and the same history (the whole stream from the
//     start, images included, byte for byte).
//
// A short run (propCISteps per mode) is part of every `go test ./embedded/`.
// The long form and replays:
//
//	go test ./embedded/ -run TestPropWriteEvents -embedded.propduration=5m   # or MONGOTIDE_PROP_DURATION=5m
//	go test ./embedded/ -run TestPropWriteEvents -embedded.propsteps=20000   # or MONGOTIDE_PROP_STEPS
//	go test ./embedded/ -run 'TestPropWriteEvents/memory$' -embedded.propseed=N -embedded.propsteps=K
var (
	propSeedFlag     = flag.Uint64("embedded.propseed", 0, "seed of TestPropWriteEvents (also "+envPropSeed+"); 0 picks one")
	propStepsFlag    = flag.Int("embedded.propsteps", 0, "steps of TestPropWriteEvents per mode (also "+envPropSteps+"); 0 runs the CI size")
	propDurationFlag = flag.Duration("embedded.propduration", 0, "run TestPropWriteEvents for this long per mode (also "+envPropDuration+")")
)

const (
	envPropSeed     = "MONGOTIDE_PROP_SEED"
	envPropSteps    = "MONGOTIDE_PROP_STEPS"
	envPropDuration = "MONGOTIDE_PROP_DURATION"

	// propCISteps keeps the CI run to a few seconds under -race.
	propCISteps = 300
	// propSegmentSteps bounds one server's history in long runs: a new
	// server (and seed) every so many steps keeps the oplog within its
	// capacity and the from-the-start checks cheap.
	propSegmentSteps = 4000
)

func TestPropWriteEvents(t *testing.T) {
	seed, steps, dur := propParams(t)
	t.Logf("property test seed %d, %d steps, duration %v per mode (replay: -embedded.propseed=%d or %s=%d)", seed, steps, dur, seed, envPropSeed, seed)
	for _, mode := range []string{"memory", "dir"} {
		t.Run(mode, func(t *testing.T) {
			runProp(t, mode, seed, steps, dur)
		})
	}
}

// runProp runs segments of at most propSegmentSteps steps, each on a fresh
// server with seed+segment, until steps or dur is reached.
func runProp(t *testing.T, mode string, seed uint64, steps int, dur time.Duration) {
	start := time.Now()
	var total propStats
	for seg := uint64(0); ; seg++ {
		n := propSegmentSteps
		if dur == 0 {
			n = min(n, steps-total.steps)
		}
		h := newPropHarness(t, mode, seed+seg, n)
		h.run(start, dur)
		h.close()
		total.add(h.stats)
		if t.Failed() || (dur == 0 && total.steps >= steps) || (dur > 0 && time.Since(start) >= dur) {
			break
		}
	}
	t.Logf("%s: %s in %v", mode, total, time.Since(start).Round(time.Millisecond))
}

func propParams(t *testing.T) (seed uint64, steps int, dur time.Duration) {
	seed, steps, dur = *propSeedFlag, *propStepsFlag, *propDurationFlag
	if v := os.Getenv(envPropSeed); v != "" && seed == 0 {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", envPropSeed, v, err)
		}
		seed = n
	}
	if v := os.Getenv(envPropSteps); v != "" && steps == 0 {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", envPropSteps, v, err)
		}
		steps = n
	}
	if v := os.Getenv(envPropDuration); v != "" && dur == 0 {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", envPropDuration, v, err)
		}
		dur = d
	}
	if seed == 0 {
		seed = rand.Uint64()
	}
	if steps <= 0 {
		steps = propCISteps
	}
	return seed, steps, dur
}
