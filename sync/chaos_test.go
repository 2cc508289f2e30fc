package sync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The chaos test runs in every `go test ./sync/` as a short round (a few
// seconds, one remote restart). Its long form runs rounds back to back for
// a duration:
//
//	go test ./sync/ -run TestChaos -sync.chaos=5m
//	MONGOTIDE_CHAOS_DURATION=5m go test ./sync/ -run TestChaos
//
// Each run logs its seed; replay the same random choices with
// -sync.chaos.seed=N or MONGOTIDE_CHAOS_SEED=N (the interleaving itself
// still depends on the scheduler).
var (
	chaosDurationFlag = flag.Duration("sync.chaos", 0, "run TestChaos in rounds for this long (also "+envChaosDuration+"); 0 runs the short round")
	chaosSeedFlag     = flag.Uint64("sync.chaos.seed", 0, "seed of TestChaos (also "+envChaosSeed+"); 0 picks one")
)

const (
	envChaosDuration = "MONGOTIDE_CHAOS_DURATION"
	envChaosSeed     = "MONGOTIDE_CHAOS_SEED"
	chaosAppName     = "mongotide-chaos-sync"
)

var chaosColls = []string{"a", "b"}

// TestChaos: random inserts, updates ($set/$unset/$inc, nested, $push),
// replaces and deletes on both sides at once over a small _id space, while
// failCommand drops the syncer's connections (local and remote) and the
// remote is stopped and restarted on its data directory. After each round:
//   - WaitSynced returns and both sides are byte-identical (a checksum per
//     collection), with no change left after the barrier (no ping-pong);
//   - every document's final value is the last write of one side;
//   - no write is lost: every write is the final value, or was overwritten
//     by a write made on top of it (on either side), or lost a conflict
//     that is in the conflict log;
//   - the syncer survived every error (still running, online, nothing
//     pending).
func TestChaos(t *testing.T) {
	testenv.SkipIfExternal(t, "stopping and restarting the remote server on its data directory")
	total, seed := chaosParams(t)
	t.Logf("chaos seed %d (replay: %s=%d), duration %v", seed, envChaosSeed, seed, total)
	h := newChaosHarness(t, seed)
	start := time.Now()
	round := 0
	for {
		ops := 120
		if total > 0 {
			ops = 600
		}
		h.round(round, ops)
		round++
		if t.Failed() || total == 0 || time.Since(start) >= total {
			break
		}
	}
	t.Logf("%d rounds in %v: %d writes (%d ambiguous), %d remote restarts, %d failpoints armed, %d errors survived, %d conflicts logged",
		round, time.Since(start).Round(time.Millisecond), len(h.writes), h.ambiguous.Load(), h.restarts, h.failpoints, h.errs.Load(), h.conflicts.Load())
}

func chaosParams(t *testing.T) (time.Duration, uint64) {
	total := *chaosDurationFlag
	if v := os.Getenv(envChaosDuration); v != "" && total == 0 {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", envChaosDuration, v, err)
		}
		total = d
	}
	seed := *chaosSeedFlag
	if v := os.Getenv(envChaosSeed); v != "" && seed == 0 {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", envChaosSeed, v, err)
		}
		seed = n
	}
	if seed == 0 {
		seed = rand.Uint64()
	}
	return total, seed
}

// chaosWrite is one write a test writer made, with the state it was applied
// on and the state it produced. States are named by their "w" field (a
// unique marker per write), or "absent".
type chaosWrite struct {
	side       Side
	coll       string
	id         int32
	op         string
	mark       string   // the state produced
	pre        string   // the state it was applied on
	post       bson.Raw // nil for a delete
	start, end int64    // global order of the write's start and end
}

type chaosHarness struct {
	t    *testing.T
	ctx  context.Context
	seed uint64
	rng  *rand.Rand // the chaos controller's

	remoteCfg embedded.Config
	remoteMu  gosync.RWMutex // writers hold R; a restart holds W
	remoteSrv *embedded.Server
	localSrv  *embedded.Server

	localCtl, remoteCtl *mongo.Database // test writers and failpoints (not failed)
	s                   *Syncer

	seq        atomic.Int64
	mu         gosync.Mutex
	writes     []chaosWrite
	uncertain  map[string]bool // coll/id with an ambiguous write
	ambiguous  atomic.Int64
	restarts   int
	failpoints int

	traces    map[string][]string // coll/id: what the syncer did, in order
	errs      atomic.Int64
	conflicts atomic.Int64
	lastErrs  []string
}

func newChaosHarness(t *testing.T, seed uint64) *chaosHarness {
	ctx, cancel := context.WithTimeout(context.Background(), 24*time.Hour)
	t.Cleanup(cancel)
	h := &chaosHarness{t: t, ctx: ctx, seed: seed, rng: rand.New(rand.NewPCG(seed, 0)), uncertain: map[string]bool{}, traces: map[string][]string{}}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	h.remoteCfg = embedded.Config{Addr: addr, Dir: t.TempDir(), OplogCapacity: 5000, EnableTestCommands: true}
	if h.remoteSrv, err = embedded.Start(ctx, h.remoteCfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.remoteMu.Lock()
		defer h.remoteMu.Unlock()
		if err := h.remoteSrv.Stop(context.Background()); err != nil {
			t.Errorf("stop remote: %v", err)
		}
	})
	// A small local oplog: while the remote is away the upload stream's
	// resume point can fall out of it, which reconciliation must recover.
	h.localSrv = testenv.StartEmbedded(t, embedded.Config{OplogCapacity: 2000})

	ctlOpts := func() *options.ClientOptions {
		return options.Client().SetServerSelectionTimeout(10 * time.Second)
	}
	syncOpts := func() *options.ClientOptions {
		return options.Client().SetAppName(chaosAppName).SetServerSelectionTimeout(2 * time.Second)
	}
	h.localCtl = testenv.Connect(t, h.localSrv.URI(), ctlOpts()).Database("chaos")
	h.remoteCtl = testenv.Connect(t, h.remoteSrv.URI(), ctlOpts()).Database("chaos")
	local := testenv.Connect(t, h.localSrv.URI(), syncOpts()).Database("chaos")
	remote := testenv.Connect(t, h.remoteSrv.URI(), syncOpts()).Database("chaos")

	// Documents on the remote before the first sync go through bootstrap
	// (in small batches, so failpoints hit it midway).
	rng := rand.New(rand.NewPCG(seed, 99))
	for i := range 10 {
		h.write(rng, RemoteSide, h.remoteCtl, i, "insert")
	}

	h.s = startSyncer(t, ctx, Config{
		Local: local, Remote: remote, Collections: chaosColls, Backoff: fastBackoff, BatchSize: 3,
		OnError: func(err error) {
			h.errs.Add(1)
			seq := h.seq.Add(1)
			h.mu.Lock()
			if len(h.lastErrs) == 60 {
				h.lastErrs = h.lastErrs[1:]
			}
			h.lastErrs = append(h.lastErrs, fmt.Sprintf("[%d] %.200s", seq, err.Error()))
			h.mu.Unlock()
		},
		Logger: slog.New(chaosLog{h}),
		OnConflict: func(c Conflict) {
			h.conflicts.Add(1)
			h.trace(c.Collection, c.DocumentID, fmt.Sprintf("conflict kept %s: local %s %v remote %s %v", c.Kept, stateOf(c.Local), c.LocalVersion, stateOf(c.Remote), c.RemoteVersion))
		},
		OnSync: func(ev SyncEvent) {
			h.trace(ev.Collection, ev.ID, fmt.Sprintf("sync %s deleted=%v conflict=%v %v", ev.Direction, ev.Deleted, ev.Conflict, ev.Version))
		},
	})
	return h
}

const chaosIDs = 8

// round runs writers on both sides for ops writes each while the chaos
// controller fails commands and restarts the remote, then checks.
func (h *chaosHarness) round(n, ops int) {
	t := h.t
	var wg gosync.WaitGroup
	var remoteDone atomic.Int64
	done := make(chan struct{})
	for i, side := range []Side{LocalSide, RemoteSide} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(h.seed, uint64(1000*(n+1)+i)))
			for k := range ops {
				if side == RemoteSide {
					h.remoteMu.RLock()
					h.write(rng, side, h.remoteCtl, k, "")
					h.remoteMu.RUnlock()
					remoteDone.Store(int64(k + 1))
				} else {
					h.write(rng, side, h.localCtl, k, "")
				}
				if rng.IntN(4) == 0 {
					pause(h.ctx, time.Duration(rng.IntN(3000))*time.Microsecond)
				}
				if h.t.Failed() {
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	// The chaos controller, until both writers finish. One restart per
	// round at least, when the remote writer is halfway.
	restarted := false
	for loop := true; loop; {
		select {
		case <-done:
			loop = false
			continue
		default:
		}
		switch r := h.rng.IntN(10); {
		case !restarted && remoteDone.Load() >= int64(ops/2), r == 0 && h.rng.IntN(3) == 0:
			h.restartRemote()
			restarted = true
		case r < 5:
			h.armFailpoint(h.remoteCtl, "remote")
		default:
			h.armFailpoint(h.localCtl, "local")
		}
		pause(h.ctx, time.Duration(10+h.rng.IntN(90))*time.Millisecond)
	}
	if !restarted {
		h.restartRemote()
	}
	h.disarm()
	if t.Failed() {
		return
	}
	h.check(n)
}

// write makes one random write of op ("" for a random one) on side through
// db and records it.
func (h *chaosHarness) write(rng *rand.Rand, side Side, db *mongo.Database, k int, op string) {
	coll := chaosColls[rng.IntN(len(chaosColls))]
	id := int32(rng.IntN(chaosIDs))
	if op == "" {
		op = []string{"insert", "update", "update", "update", "replace", "delete"}[rng.IntN(6)]
	}
	c := db.Collection(coll)
	mark := fmt.Sprintf("%s-%d-%d", side[:1], h.seq.Add(1), k)
	w := chaosWrite{side: side, coll: coll, id: id, op: op, mark: mark, start: h.seq.Add(1)}
	filter := bson.D{{Key: "_id", Value: id}}
	var err error
	switch op {
	case "insert":
		doc := bson.D{{Key: "_id", Value: id}, {Key: "w", Value: mark}, {Key: "h", Value: bson.A{mark}},
			{Key: "a", Value: rng.IntN(100)}, {Key: "n", Value: bson.D{{Key: "x", Value: int64(rng.IntN(100))}, {Key: "y", Value: bson.D{{Key: "z", Value: "i"}}}}}}
		if _, err = c.InsertOne(h.ctx, doc); err == nil {
			w.pre, w.post = "absent", mustMarshal(h.t, doc)
		} else if mongo.IsDuplicateKeyError(err) {
			return
		}
	case "replace":
		doc := bson.D{{Key: "_id", Value: id}, {Key: "w", Value: mark}, {Key: "h", Value: bson.A{mark}},
			{Key: "r", Value: rng.Float64()}, {Key: "t", Value: bson.A{int32(rng.IntN(9)), "x"}}}
		var pre bson.Raw
		pre, err = c.FindOneAndReplace(h.ctx, filter, doc, options.FindOneAndReplace().SetUpsert(true).SetReturnDocument(options.Before)).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			err = nil
		}
		if err == nil {
			w.pre, w.post = stateOf(pre), mustMarshal(h.t, doc)
		}
	case "delete":
		var pre bson.Raw
		pre, err = c.FindOneAndDelete(h.ctx, filter).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			return
		}
		if err == nil {
			w.pre, w.mark = stateOf(pre), "absent"
		}
	case "update":
		var post bson.Raw
		post, err = c.FindOneAndUpdate(h.ctx, filter, randomUpdate(rng, mark), options.FindOneAndUpdate().SetReturnDocument(options.After)).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			return
		}
		if err == nil {
			w.post = append(bson.Raw(nil), post...)
			hist, _ := post.Lookup("h").Array().Values()
			if len(hist) < 2 {
				h.t.Errorf("update %s: history %v has no previous state", mark, hist)
				return
			}
			w.pre = hist[len(hist)-2].StringValue()
		}
	}
	w.end = h.seq.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		var we mongo.WriteException
		var ce mongo.CommandError
		if errors.As(err, &we) || (errors.As(err, &ce) && !ce.HasErrorLabel("RetryableWriteError")) {
			h.t.Errorf("%s %s %s on %s/%d refused: %v", side, op, mark, coll, id, err)
			return
		}
		// A network error may or may not have applied the write: the
		// document's history is unknown from here on.
		h.ambiguous.Add(1)
		h.uncertain[coll+"/"+strconv.Itoa(int(id))] = true
		h.t.Logf("%s %s on %s %s/%d: %v (document left out of the lost-write checks)", side, op, mark, coll, id, err)
		return
	}
	h.writes = append(h.writes, w)
}

// chaosLog traces the syncer's per-document debug records.
type chaosLog struct{ h *chaosHarness }

func (l chaosLog) Enabled(context.Context, slog.Level) bool { return true }
func (l chaosLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l chaosLog) WithGroup(string) slog.Handler            { return l }
func (l chaosLog) Handle(_ context.Context, r slog.Record) error {
	var coll string
	var id bson.RawValue
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "coll":
			coll = a.Value.String()
		case "id":
			id, _ = a.Value.Any().(bson.RawValue)
		default:
			v := a.Value.String()
			if m, ok := l.h.byHash(v); ok {
				v = m
			}
			fmt.Fprintf(&b, " %s=%s", a.Key, v)
		}
		return true
	})
	if coll != "" && id.Type != 0 {
		l.h.trace(coll, id, b.String())
	}
	return nil
}

// byHash names the write whose document has content hash x.
func (h *chaosHarness) byHash(x string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if x == absentHash {
		return "absent", true
	}
	for _, w := range h.writes {
		if w.post != nil && contentHash(w.post) == x {
			return w.mark, true
		}
	}
	return "", false
}

// trace records what the syncer did to a document, for failure messages.
func (h *chaosHarness) trace(coll string, id bson.RawValue, what string) {
	n, ok := id.Int32OK()
	if !ok {
		return
	}
	seq := h.seq.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	k := coll + "/" + strconv.Itoa(int(n))
	h.traces[k] = append(h.traces[k], fmt.Sprintf("  [%d] %s", seq, what))
}

// randomUpdate sets, unsets or increments some fields, nested ones
// included, and always records the write (w) and its history (h).
func randomUpdate(rng *rand.Rand, mark string) bson.D {
	var set, unset, inc bson.D
	set = append(set, bson.E{Key: "w", Value: mark})
	for _, f := range []string{"a", "c", "n.x", "n.y.z", "n.k", "t"} {
		switch rng.IntN(4) {
		case 0:
			switch f {
			case "c", "n.k":
				inc = append(inc, bson.E{Key: f, Value: int32(1 + rng.IntN(3))})
			case "t":
				set = append(set, bson.E{Key: f, Value: bson.A{mark, bson.D{{Key: "q", Value: rng.IntN(5)}}}})
			case "n.y.z":
				set = append(set, bson.E{Key: f, Value: mark})
			default:
				set = append(set, bson.E{Key: f, Value: int64(rng.IntN(1000))})
			}
		case 1:
			unset = append(unset, bson.E{Key: f, Value: ""})
		}
	}
	u := bson.D{{Key: "$set", Value: set},
		{Key: "$push", Value: bson.D{{Key: "h", Value: bson.D{{Key: "$each", Value: bson.A{mark}}, {Key: "$slice", Value: -4}}}}}}
	if len(unset) > 0 {
		u = append(u, bson.E{Key: "$unset", Value: unset})
	}
	if len(inc) > 0 {
		u = append(u, bson.E{Key: "$inc", Value: inc})
	}
	return u
}

func stateOf(doc bson.Raw) string {
	if doc == nil {
		return "absent"
	}
	return doc.Lookup("w").StringValue()
}

func mustMarshal(t *testing.T, d bson.D) bson.Raw {
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var chaosCommands = []string{"find", "aggregate", "getMore", "insert", "update", "delete", "findAndModify",
	"commitTransaction", "abortTransaction", "killCursors"}

// armFailpoint makes the next few of a random subset of the syncer's
// commands on one server fail: mostly by dropping the connection, else with
// a retryable error code.
func (h *chaosHarness) armFailpoint(db *mongo.Database, which string) {
	cmds := bson.A{}
	for _, c := range chaosCommands {
		if h.rng.IntN(3) == 0 {
			cmds = append(cmds, c)
		}
	}
	if len(cmds) == 0 {
		cmds = append(cmds, chaosCommands[h.rng.IntN(len(chaosCommands))])
	}
	data := bson.D{{Key: "failCommands", Value: cmds}, {Key: "appName", Value: chaosAppName}}
	switch h.rng.IntN(5) {
	case 0:
		data = append(data, bson.E{Key: "errorCode", Value: []int32{91, 10107, 11600, 189}[h.rng.IntN(4)]})
	default:
		data = append(data, bson.E{Key: "closeConnection", Value: true})
	}
	cmd := bson.D{{Key: "configureFailPoint", Value: "failCommand"},
		{Key: "mode", Value: bson.D{{Key: "times", Value: 1 + h.rng.IntN(3)}}}, {Key: "data", Value: data}}
	if which == "remote" {
		h.remoteMu.RLock()
		defer h.remoteMu.RUnlock()
	}
	if err := h.admin(db, cmd); err != nil {
		h.t.Errorf("configureFailPoint on %s: %v", which, err)
		return
	}
	h.failpoints++
}

func (h *chaosHarness) disarm() {
	off := bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"}}
	for _, db := range []*mongo.Database{h.localCtl, h.remoteCtl} {
		if err := h.admin(db, off); err != nil {
			h.t.Errorf("failpoint off: %v", err)
		}
	}
}

// opTime is operationTime, again when a connection turns out dead.
func (h *chaosHarness) opTime(ctx context.Context, db *mongo.Database) (bson.Timestamp, error) {
	var ts bson.Timestamp
	var err error
	for range 5 {
		if ts, err = operationTime(ctx, db); err == nil || !mongo.IsNetworkError(err) {
			return ts, err
		}
	}
	return ts, err
}

// admin runs cmd on db's admin database, again when a connection turns out
// dead (the test's own clients are not retried by the driver for commands,
// and a remote restart leaves their pooled connections closed).
func (h *chaosHarness) admin(db *mongo.Database, cmd bson.D) error {
	var err error
	for range 5 {
		if err = db.Client().Database("admin").RunCommand(h.ctx, cmd).Err(); err == nil || !mongo.IsNetworkError(err) {
			return err
		}
	}
	return err
}

// restartRemote stops the remote and starts it again on the same address
// and data directory after a short outage (local writes go on meanwhile).
func (h *chaosHarness) restartRemote() {
	h.remoteMu.Lock()
	defer h.remoteMu.Unlock()
	if err := h.remoteSrv.Stop(h.ctx); err != nil {
		h.t.Errorf("stop remote: %v", err)
	}
	pause(h.ctx, time.Duration(50+h.rng.IntN(500))*time.Millisecond)
	deadline := time.Now().Add(30 * time.Second)
	for {
		srv, err := embedded.Start(h.ctx, h.remoteCfg)
		if err == nil {
			h.remoteSrv = srv
			h.restarts++
			return
		}
		if time.Now().After(deadline) {
			// Still stop-able by Cleanup: keep the old (stopped) server.
			h.t.Fatalf("restart remote on %s: %v", h.remoteCfg.Addr, err)
		}
		pause(h.ctx, 100*time.Millisecond)
	}
}

func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// check waits for the barrier and verifies convergence, quiescence and that
// no write was lost.
func (h *chaosHarness) check(round int) {
	t := h.t
	ctx, cancel := context.WithTimeout(h.ctx, 3*time.Minute)
	defer cancel()
	if err := h.s.WaitSynced(ctx); err != nil {
		h.mu.Lock()
		t.Fatalf("round %d: WaitSynced: %v (last errors: %q)", round, err, h.lastErrs)
	}
	// Everything the syncer does after the barrier must be a no-op: a
	// write to a user collection from here on is ping-pong.
	lt, err := h.opTime(ctx, h.localCtl)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := h.opTime(ctx, h.remoteCtl)
	if err != nil {
		t.Fatal(err)
	}
	local, remote := map[string]map[int32]bson.Raw{}, map[string]map[int32]bson.Raw{}
	for _, coll := range chaosColls {
		ls, ld := checksum(t, ctx, h.localCtl.Collection(coll))
		rs, rd := checksum(t, ctx, h.remoteCtl.Collection(coll))
		local[coll], remote[coll] = ld, rd
		if ls != rs {
			for id := range int32(chaosIDs) {
				if !bytes.Equal(ld[id], rd[id]) {
					t.Errorf("round %d: %s/%d differs after WaitSynced:\n local %v\nremote %v", round, coll, id, ld[id], rd[id])
				}
			}
			t.Errorf("round %d: collection %s: local checksum %s, remote %s", round, coll, ls, rs)
		}
	}
	if err := h.s.WaitSynced(ctx); err != nil {
		t.Fatalf("round %d: second WaitSynced: %v", round, err)
	}
	for side, db := range map[string]*mongo.Database{"local": h.localCtl, "remote": h.remoteCtl} {
		after := lt
		if side == "remote" {
			after = rt
		}
		if evs := changesAfter(t, ctx, db, after); len(evs) > 0 {
			t.Errorf("round %d: %d writes to synced collections on the %s side after the barrier (ping-pong?), first %v", round, len(evs), side, evs[0])
		}
	}
	st, err := h.s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running || !st.Online {
		t.Errorf("round %d: syncer running=%v online=%v after the round", round, st.Running, st.Online)
	}
	for _, c := range st.Collections {
		if c.Pending != 0 || !c.Bootstrapped {
			t.Errorf("round %d: collection %s: pending %d bootstrapped %v after WaitSynced", round, c.Name, c.Pending, c.Bootstrapped)
		}
	}
	conflicts, err := h.s.Conflicts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	h.checkWrites(round, local, conflicts)
	h.mu.Lock()
	t.Logf("round %d: %d writes so far, %d conflicts logged, %d errors survived, checksums equal", round, len(h.writes), len(conflicts), h.errs.Load())
	h.mu.Unlock()
}

// checkWrites: each document's final value is the last write of one side,
// and every write is final, overwritten by a write made on top of it, or
// the losing side of a logged conflict.
func (h *chaosHarness) checkWrites(round int, final map[string]map[int32]bson.Raw, conflicts []Conflict) {
	t := h.t
	h.mu.Lock()
	defer h.mu.Unlock()
	type key struct {
		coll string
		id   int32
	}
	byKey := map[key][]chaosWrite{}
	for _, w := range h.writes {
		k := key{w.coll, w.id}
		byKey[k] = append(byKey[k], w)
	}
	lostDocs := map[key][]struct {
		side Side
		doc  bson.Raw
	}{}
	for _, c := range conflicts {
		id, ok := c.DocumentID.Int32OK()
		if !ok {
			t.Errorf("conflict %s on %s has _id %v", c.ID, c.Collection, c.DocumentID)
			continue
		}
		lost := struct {
			side Side
			doc  bson.Raw
		}{LocalSide, c.Local}
		if c.Kept == LocalSide {
			lost.side, lost.doc = RemoteSide, c.Remote
		}
		lostDocs[key{c.Collection, id}] = append(lostDocs[key{c.Collection, id}], lost)
	}
	bad := 0
	for _, coll := range chaosColls {
		for id := range int32(chaosIDs) {
			k := key{coll, id}
			if h.uncertain[coll+"/"+strconv.Itoa(int(id))] {
				continue
			}
			fin := final[coll][id]
			ws := byKey[k]
			var last = map[Side]*chaosWrite{}
			for i := range ws {
				last[ws[i].side] = &ws[i]
			}
			if len(ws) == 0 {
				if fin != nil {
					t.Errorf("round %d: %s/%d was never written but is %v", round, coll, id, fin)
				}
				continue
			}
			if !(last[LocalSide] != nil && bytes.Equal(last[LocalSide].post, fin)) && !(last[RemoteSide] != nil && bytes.Equal(last[RemoteSide].post, fin)) {
				bad++
				t.Logf("%s/%d local oplog:\n%s%s/%d remote oplog:\n%s", coll, id, h.oplog(h.localCtl, coll, id), coll, id, h.oplog(h.remoteCtl, coll, id))
				t.Errorf("round %d: %s/%d final value %s is neither side's last write (local %s, remote %s)\n%s",
					round, coll, id, stateOf(fin), lastMark(last[LocalSide]), lastMark(last[RemoteSide]), history(ws, lostDocs[k])+strings.Join(h.traces[coll+"/"+strconv.Itoa(int(id))], "\n"))
			}
			for _, w := range ws {
				if bytes.Equal(w.post, fin) {
					continue
				}
				superseded := slices.ContainsFunc(ws, func(v chaosWrite) bool {
					return v.pre == w.mark && (w.mark != "absent" || v.start > w.end)
				})
				logged := slices.ContainsFunc(lostDocs[k], func(l struct {
					side Side
					doc  bson.Raw
				}) bool {
					return l.side == w.side && bytes.Equal(l.doc, w.post)
				})
				if !superseded && !logged && !nettedOut(w, ws, fin, lostDocs[k]) {
					bad++
					if bad <= 2 {
						t.Logf("%s/%d local oplog:\n%s%s/%d remote oplog:\n%s", coll, id, h.oplog(h.localCtl, coll, id), coll, id, h.oplog(h.remoteCtl, coll, id))
					}
					if bad == 1 {
						t.Logf("last errors:\n%s", strings.Join(h.lastErrs, "\n"))
					}
					t.Errorf("round %d: %s/%d: %s write %s (%s on %s) was lost: not final (%s), nothing was written on top of it, no conflict logged\n%s",
						round, coll, id, w.side, w.mark, w.op, w.pre, stateOf(fin), history(ws, lostDocs[k])+strings.Join(h.traces[coll+"/"+strconv.Itoa(int(id))], "\n"))
				}
			}
			if bad > 5 {
				t.Fatalf("round %d: too many lost writes, stopping", round)
			}
		}
	}
}

// nettedOut reports whether delete w only undid what its own side did
// since both sides last agreed, while the other side deleted too: the
// side's net change is a delete the other side also made (or nothing, for
// a document it created itself), so by design (state-based sync compares
// net changes) it does not compete with the other side's later writes,
// e.g. a re-creation. The states between the agreement and the delete
// must be unseen by the other side: none is final, none is the base of
// its writes, none is in the conflict log.
func nettedOut(w chaosWrite, ws []chaosWrite, fin bson.Raw, lost []struct {
	side Side
	doc  bson.Raw
}) bool {
	if w.op != "delete" {
		return false
	}
	for p := w.pre; p != "absent"; {
		i := slices.IndexFunc(ws, func(v chaosWrite) bool { return v.mark == p })
		if i < 0 || bytes.Equal(ws[i].post, fin) {
			return false
		}
		if ws[i].side != w.side {
			// The state came from the other side: the last agreement.
			// Netted out if the other side deleted its own line from it.
			return slices.ContainsFunc(ws, func(v chaosWrite) bool {
				return v.side != w.side && v.op == "delete" && descends(ws, v.pre, p)
			})
		}
		seen := slices.ContainsFunc(ws, func(v chaosWrite) bool { return v.side != w.side && v.pre == p }) ||
			slices.ContainsFunc(lost, func(l struct {
				side Side
				doc  bson.Raw
			}) bool {
				return stateOf(l.doc) == p
			})
		if seen {
			// The other side saw p: netted out only if it deleted it (or
			// its own line from it) too.
			return slices.ContainsFunc(ws, func(v chaosWrite) bool {
				return v.side != w.side && v.op == "delete" && descends(ws, v.pre, p)
			})
		}
		p = ws[i].pre
	}
	return true
}

// descends reports whether state s is a or was written on top of a.
func descends(ws []chaosWrite, s, a string) bool {
	for range len(ws) + 1 {
		if s == a {
			return true
		}
		i := slices.IndexFunc(ws, func(v chaosWrite) bool { return v.mark == s })
		if i < 0 || ws[i].pre == "absent" {
			return false
		}
		s = ws[i].pre
	}
	return false
}

// oplog lists what happened to document id of coll on db's server, from
// the change streams (user collection and sync metadata), for failure
// messages.
func (h *chaosHarness) oplog(db *mongo.Database, coll string, id int32) string {
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	match := bson.D{{Key: "$match", Value: bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "ns.coll", Value: coll}, {Key: "documentKey._id", Value: id}},
		bson.D{{Key: "documentKey._id.c", Value: coll}, {Key: "documentKey._id.id", Value: id}},
		bson.D{{Key: "ns.coll", Value: localConflictsColl}, {Key: "fullDocument.coll", Value: coll}, {Key: "fullDocument.docId", Value: id}},
	}}}}}
	stream, err := db.Watch(ctx, mongo.Pipeline{match}, options.ChangeStream().
		SetStartAtOperationTime(&bson.Timestamp{T: 1}).SetMaxAwaitTime(10*time.Millisecond).SetFullDocument(options.UpdateLookup))
	if err != nil {
		return fmt.Sprintf("  (oplog of %s: %v)\n", db.Name(), err)
	}
	defer stream.Close(context.WithoutCancel(ctx))
	var b strings.Builder
	for stream.TryNext(ctx) {
		ev := stream.Current
		t, i := ev.Lookup("clusterTime").Timestamp()
		what := ""
		switch ev.Lookup("ns", "coll").StringValue() {
		case coll:
			d, ok := ev.Lookup("fullDocument").DocumentOK()
			if !ok {
				d = nil
			}
			what = stateOf(d)
			if ev.Lookup("operationType").StringValue() == "update" {
				what = "w=" + ev.Lookup("updateDescription", "updatedFields", "w").String()
			}
		case localDocsColl, remoteVersionsColl:
			d, _ := ev.Lookup("fullDocument").DocumentOK()
			what = fmt.Sprintf("h=%v r=%v x=%.8s pc=%v", d.Lookup("h"), d.Lookup("r"), d.Lookup("x").StringValue(), d.Lookup("pc").Type != 0)
		default:
			d, _ := ev.Lookup("fullDocument").DocumentOK()
			what = fmt.Sprintf("kept %v", d.Lookup("kept"))
		}
		fmt.Fprintf(&b, "  %s@%d.%d %s %s %s\n", db.Name(), t, i, ev.Lookup("ns", "coll").StringValue(), ev.Lookup("operationType").StringValue(), what)
	}
	if err := stream.Err(); err != nil {
		fmt.Fprintf(&b, "  (oplog of %s: %v)\n", db.Name(), err)
	}
	return b.String()
}

func lastMark(w *chaosWrite) string {
	if w == nil {
		return "none"
	}
	return w.mark
}

func history(ws []chaosWrite, lost []struct {
	side Side
	doc  bson.Raw
}) string {
	var b strings.Builder
	for _, w := range ws {
		fmt.Fprintf(&b, "  [%d-%d] %-6s %-7s %s -> %s\n", w.start, w.end, w.side, w.op, w.pre, w.mark)
	}
	for _, l := range lost {
		fmt.Fprintf(&b, "  conflict lost on %s: %s\n", l.side, stateOf(l.doc))
	}
	return b.String()
}

// checksum is a sha256 over coll's documents in _id order (raw bytes), and
// the documents by _id.
func checksum(t *testing.T, ctx context.Context, coll *mongo.Collection) (string, map[int32]bson.Raw) {
	t.Helper()
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatalf("find in %s: %v", coll.Name(), err)
	}
	defer cur.Close(ctx)
	sum := sha256.New()
	docs := map[int32]bson.Raw{}
	for cur.Next(ctx) {
		sum.Write(cur.Current)
		docs[cur.Current.Lookup("_id").Int32()] = append(bson.Raw(nil), cur.Current...)
	}
	if err := cur.Err(); err != nil {
		t.Fatalf("cursor on %s: %v", coll.Name(), err)
	}
	return hex.EncodeToString(sum.Sum(nil)), docs
}

// changesAfter returns the changes to the synced collections of db after
// ts.
func changesAfter(t *testing.T, ctx context.Context, db *mongo.Database, ts bson.Timestamp) []bson.Raw {
	t.Helper()
	match := bson.D{{Key: "$match", Value: bson.D{{Key: "ns.coll", Value: bson.D{{Key: "$in", Value: chaosColls}}}}}}
	stream, err := db.Watch(ctx, mongo.Pipeline{match},
		options.ChangeStream().SetStartAtOperationTime(&bson.Timestamp{T: ts.T, I: ts.I + 1}).SetMaxAwaitTime(10*time.Millisecond))
	if err != nil {
		t.Fatalf("watch %s: %v", db.Name(), err)
	}
	defer stream.Close(context.WithoutCancel(ctx))
	var out []bson.Raw
	for stream.TryNext(ctx) {
		out = append(out, append(bson.Raw(nil), stream.Current...))
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("watch %s: %v", db.Name(), err)
	}
	return out
}

// Random inserts, updates and deletes on both sides at once, on a small set
// of _ids so that many edits are concurrent: after WaitSynced both sides are
// byte-identical. (The full chaos test, with dropped connections and remote
// restarts, is still to come.)
func TestConcurrentRandomWritesConverge(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	lc, rc := local.Collection("c"), remote.Collection("c")
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	s := startSyncer(t, ctx, Config{Local: local, Remote: remote, Collections: []string{"c"}, Backoff: fastBackoff})
	var wg gosync.WaitGroup
	for side, coll := range map[string]*mongo.Collection{"l": lc, "r": rc} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(side[0])))
			for i := range 150 {
				id := rng.IntN(12)
				var err error
				switch rng.IntN(3) {
				case 0:
					_, err = coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}},
						bson.D{{Key: "_id", Value: id}, {Key: "by", Value: side}, {Key: "i", Value: i}}, options.Replace().SetUpsert(true))
				case 1:
					_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
						bson.D{{Key: "$set", Value: bson.D{{Key: side, Value: i}}}})
				case 2:
					_, err = coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
				}
				if err != nil {
					t.Errorf("%s write %d: %v", side, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	dl, dr := dump(t, ctx, lc), dump(t, ctx, rc)
	if len(dl) != len(dr) {
		t.Fatalf("after WaitSynced: %d local and %d remote documents", len(dl), len(dr))
	}
	for k, v := range dl {
		if dr[k] != v {
			t.Fatalf("after WaitSynced document %s differs:\n local %v\nremote %v", k, bson.Raw(v), bson.Raw(dr[k]))
		}
	}
	t.Logf("%d documents converged", len(dl))
}
