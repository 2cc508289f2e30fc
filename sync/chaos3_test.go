package sync

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
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

// TestChaosReplicas is the chaos test with many devices: three local
// replicas (each an embedded server with its own Syncer) on one remote
// embedded server. It runs in every `go test ./sync/` as one short round;
// the long form runs rounds back to back:
//
//	go test ./sync/ -run TestChaosReplicas -sync.chaos3=10m
//
// (-sync.chaos=D also sets it when -sync.chaos3 is not given; the seed is
// -sync.chaos.seed / MONGOTIDE_CHAOS_SEED, as for TestChaos.) A failing
// round prints its seed, a command that replays it, and the path of its full
// log ($TMPDIR/mongotide-chaos-fail-<seed>.log: every write, every fault,
// every record the syncers logged).
var chaos3DurationFlag = flag.Duration("sync.chaos3", 0, "run TestChaosReplicas in rounds for this long; 0 runs one short round (default: -sync.chaos)")

const chaos3Replicas = 3

// TestChaosReplicas: writers on all four servers (inserts, updates with
// $set/$unset/$inc/$push on nested fields, replaces, deletes) over a small
// _id space, so edits of different replicas are concurrent, while each
// replica gets its own faults: failCommand on its local server and, for
// its own connections only (by appName), on the remote; its Syncer stopped
// and started again (as a process restart: New, maybe another whole-
// document policy); its local server restarted on its Dir, under the
// running syncer or while it is stopped. The remote is restarted at least
// once per round. Then, quiesced (every syncer running, faults off):
//   - all four servers hold byte-identical collections (a checksum each);
//   - nothing moves after a further barrier (no ping-pong);
//   - every syncer is running and online with nothing pending;
//   - no acknowledged write is lost (see checkWrites).
//
// Policies: each Syncer start picks last-writer-wins (half the time),
// remote-wins or local-wins: the whole-document policies, under which every
// conflict keeps one of the two edits as it was written and logs the other.
func TestChaosReplicas(t *testing.T) {
	testenv.SkipIfExternal(t, "stopping and restarting the servers on their data directories")
	total, seed := chaosParams(t)
	if *chaos3DurationFlag != 0 {
		total = *chaos3DurationFlag
	}
	t.Logf("chaos3 seed %d, duration %v; replay: %s", seed, total, chaos3Repro(seed, total))
	h := newChaos3(t, seed, total)
	start := time.Now()
	round := 0
	for {
		ops := 150
		if total > 0 {
			ops = 300
		}
		h.round(round, ops)
		round++
		if t.Failed() || total == 0 || time.Since(start) >= total {
			break
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	t.Logf("chaos3: %d rounds in %v: %d writes (%d ambiguous), %d conflicts logged, %d errors survived; faults: %d failpoints, %d syncer restarts, %d local server restarts (%d under a running syncer), %d remote restarts",
		round, time.Since(start).Round(time.Second), len(h.writes), h.ambiguous.Load(), h.conflicts.Load(), h.errs.Load(),
		h.failpoints, h.syncerRestarts, h.localRestarts, h.liveLocalRestarts, h.remoteRestarts)
}

func chaos3Repro(seed uint64, total time.Duration) string {
	cmd := fmt.Sprintf("go test -race ./sync/ -run 'TestChaosReplicas$' -sync.chaos.seed=%d", seed)
	if total > 0 {
		cmd += fmt.Sprintf(" -sync.chaos3=%v", total)
	}
	return cmd
}

// chaos3Node is one embedded server with the test's own (never failed)
// client on it.
type chaos3Node struct {
	name string // l0, l1, l2, remote
	cfg  embedded.Config
	mu   gosync.RWMutex // writers hold R; a restart holds W
	srv  *embedded.Server
	ctl  *mongo.Database
}

// chaos3Replica is one device: a local node and its Syncer.
type chaos3Replica struct {
	i       int
	node    *chaos3Node
	local   *mongo.Database // the syncer's clients (appName chaos3-lN)
	remote  *mongo.Database
	appName string
	s       *Syncer // nil while stopped
	policy  ConflictPolicy
}

type chaos3 struct {
	t     *testing.T
	ctx   context.Context
	seed  uint64
	total time.Duration
	rng   *rand.Rand // the chaos controller's

	nodes  []*chaos3Node // locals, then the remote
	remote *chaos3Node
	reps   []*chaos3Replica

	seq       atomic.Int64
	mu        gosync.Mutex
	writes    []chaosWrite
	byHashes  map[string]string // content hash -> mark
	uncertain map[string]bool   // coll/id with an ambiguous write
	traces    map[string][]string
	lastErrs  []string

	ambiguous, errs, conflicts                                                   atomic.Int64
	failpoints, syncerRestarts, localRestarts, liveLocalRestarts, remoteRestarts int

	logMu   gosync.Mutex
	logPath string
	logFile *os.File
	logBuf  *bufio.Writer
}

func newChaos3(t *testing.T, seed uint64, total time.Duration) *chaos3 {
	ctx, cancel := context.WithTimeout(context.Background(), 24*time.Hour)
	t.Cleanup(cancel)
	h := &chaos3{t: t, ctx: ctx, seed: seed, total: total, rng: rand.New(rand.NewPCG(seed, 3)),
		byHashes: map[string]string{}, uncertain: map[string]bool{}, traces: map[string][]string{}}
	dir := t.TempDir()
	h.logPath = filepath.Join(dir, "chaos3.log")
	f, err := os.Create(h.logPath)
	if err != nil {
		t.Fatal(err)
	}
	h.logFile, h.logBuf = f, bufio.NewWriterSize(f, 1<<20)
	t.Cleanup(h.keepLog)

	for i := range chaos3Replicas + 1 {
		name := "l" + strconv.Itoa(i)
		capacity := 2000
		if i == chaos3Replicas {
			name, capacity = "remote", 5000
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		n := &chaos3Node{name: name, cfg: embedded.Config{Addr: addr, Dir: t.TempDir(), OplogCapacity: capacity, EnableTestCommands: true}}
		if n.srv, err = embedded.Start(ctx, n.cfg); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			n.mu.Lock()
			defer n.mu.Unlock()
			if err := n.srv.Stop(context.Background()); err != nil {
				t.Errorf("stop %s: %v", n.name, err)
			}
		})
		n.ctl = testenv.Connect(t, n.srv.URI(), options.Client().SetServerSelectionTimeout(10*time.Second)).Database("chaos")
		h.nodes = append(h.nodes, n)
	}
	h.remote = h.nodes[chaos3Replicas]

	// Documents on the remote and on one device before the first sync
	// go through bootstrap and the first upload.
	rng := rand.New(rand.NewPCG(seed, 99))
	for i := range 10 {
		h.write(rng, h.remote, i, "insert")
		h.write(rng, h.nodes[1], i, "insert")
	}

	for i := range chaos3Replicas {
		r := &chaos3Replica{i: i, node: h.nodes[i], appName: "mongotide-chaos3-l" + strconv.Itoa(i)}
		opts := options.Client().SetAppName(r.appName).SetServerSelectionTimeout(2 * time.Second)
		r.local = testenv.Connect(t, r.node.srv.URI(), opts).Database("chaos")
		r.remote = testenv.Connect(t, h.remote.srv.URI(), opts).Database("chaos")
		h.reps = append(h.reps, r)
		h.startSyncer(r)
		t.Cleanup(func() { h.stopSyncer(r) })
	}
	return h
}

// logf appends a line to the run's full log.
func (h *chaos3) logf(format string, args ...any) {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	fmt.Fprintf(h.logBuf, "%s [%d] ", time.Now().UTC().Format("15:04:05.000000"), h.seq.Add(1))
	fmt.Fprintf(h.logBuf, format, args...)
	h.logBuf.WriteByte('\n')
}

// newRoundLog starts the log afresh: the log of a passed round is of no
// use, and a long run would fill the disk.
func (h *chaos3) newRoundLog(n int) {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	h.logBuf.Flush()
	if err := h.logFile.Truncate(0); err != nil {
		h.t.Errorf("truncate log: %v", err)
	}
	if _, err := h.logFile.Seek(0, io.SeekStart); err != nil {
		h.t.Errorf("seek log: %v", err)
	}
	fmt.Fprintf(h.logBuf, "chaos3 seed %d round %d; replay: %s\n", h.seed, n, chaos3Repro(h.seed, h.total))
	h.mu.Lock()
	h.traces = map[string][]string{}
	h.mu.Unlock()
}

// keepLog copies the log of a failed run out of the test's temporary
// directory (removed at its end) and prints where.
func (h *chaos3) keepLog() {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	h.logBuf.Flush()
	h.logFile.Close()
	if !h.t.Failed() {
		return
	}
	data, err := os.ReadFile(h.logPath)
	if err != nil {
		h.t.Errorf("read log: %v", err)
		return
	}
	dst := filepath.Join(os.TempDir(), fmt.Sprintf("mongotide-chaos-fail-%d.log", h.seed))
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		h.t.Errorf("keep log: %v", err)
		return
	}
	h.t.Logf("chaos3 FAILED: seed %d; full log of the failing round: %s; replay: %s", h.seed, dst, chaos3Repro(h.seed, h.total))
}

func (h *chaos3) startSyncer(r *chaos3Replica) {
	r.policy = []ConflictPolicy{LastWriterWins, LastWriterWins, RemoteWins, LocalWins}[h.rng.IntN(4)]
	name := r.node.name
	cfg := Config{
		Local: r.local, Remote: r.remote, Collections: chaosColls, Backoff: fastBackoff, BatchSize: 3, Conflict: r.policy,
		OnError: func(err error) {
			h.errs.Add(1)
			h.logf("%s error: %v", name, err)
			h.mu.Lock()
			if len(h.lastErrs) == 60 {
				h.lastErrs = h.lastErrs[1:]
			}
			h.lastErrs = append(h.lastErrs, fmt.Sprintf("%s %.200s", name, err.Error()))
			h.mu.Unlock()
		},
		Logger: slog.New(chaos3Log{h, name}),
		OnConflict: func(c Conflict) {
			h.conflicts.Add(1)
			h.trace(name, c.Collection, c.DocumentID, fmt.Sprintf("conflict (%v) kept %s: local %s %v remote %s %v", c.Policy, c.Kept, stateOf(c.Local), c.LocalVersion, stateOf(c.Remote), c.RemoteVersion))
		},
		OnSync: func(ev SyncEvent) {
			h.trace(name, ev.Collection, ev.ID, fmt.Sprintf("sync %s deleted=%v conflict=%v %v", ev.Direction, ev.Deleted, ev.Conflict, ev.Version))
		},
	}
	s, err := New(withClock(h.t, cfg))
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	// Start reads the local side, which a failpoint may fail: again.
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
		err = s.Start(ctx)
		cancel()
		if err == nil {
			break
		}
		h.logf("%s start: %v", name, err)
		if attempt == 20 {
			h.t.Fatalf("%s: Start: %v", name, err)
		}
		pause(h.ctx, 50*time.Millisecond)
	}
	r.s = s
	h.logf("%s syncer started (%v)", name, r.policy)
}

func (h *chaos3) stopSyncer(r *chaos3Replica) {
	if r.s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.s.Stop(ctx); err != nil {
		h.t.Errorf("%s: Stop: %v", r.node.name, err)
	}
	r.s = nil
	h.logf("%s syncer stopped", r.node.name)
}

// chaos3Log writes the syncers' debug records to the full log and traces
// the per-document ones.
type chaos3Log struct {
	h    *chaos3
	name string
}

func (l chaos3Log) Enabled(context.Context, slog.Level) bool { return true }
func (l chaos3Log) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l chaos3Log) WithGroup(string) slog.Handler            { return l }
func (l chaos3Log) Handle(_ context.Context, r slog.Record) error {
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
		l.h.trace(l.name, coll, id, b.String())
	} else {
		l.h.logf("%s %s", l.name, b.String())
	}
	return nil
}

func (h *chaos3) byHash(x string) (string, bool) {
	if x == absentHash {
		return "absent", true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	m, ok := h.byHashes[x]
	return m, ok
}

func (h *chaos3) trace(who, coll string, id bson.RawValue, what string) {
	n, ok := id.Int32OK()
	if !ok {
		h.logf("%s %s/%v %s", who, coll, id, what)
		return
	}
	k := coll + "/" + strconv.Itoa(int(n))
	h.logf("%s %s %s", who, k, what)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.traces[k] = append(h.traces[k], fmt.Sprintf("  [%d] %s %s", h.seq.Load(), who, what))
}

// round runs a writer on every server for ops writes each while the chaos
// controller injects faults, then quiesces and checks.
func (h *chaos3) round(n, ops int) {
	t := h.t
	h.newRoundLog(n)
	var wg gosync.WaitGroup
	var remoteDone atomic.Int64
	done := make(chan struct{})
	for i, node := range h.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(h.seed, uint64(1000*(n+1)+i)))
			for k := range ops {
				node.mu.RLock()
				h.write(rng, node, k, "")
				node.mu.RUnlock()
				if node == h.remote {
					remoteDone.Store(int64(k + 1))
				}
				if rng.IntN(4) == 0 {
					pause(h.ctx, time.Duration(rng.IntN(3000))*time.Microsecond)
				}
				if t.Failed() {
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	restarted := false
	for loop := true; loop; {
		select {
		case <-done:
			loop = false
			continue
		default:
		}
		r := h.reps[h.rng.IntN(len(h.reps))]
		switch x := h.rng.IntN(20); {
		case !restarted && remoteDone.Load() >= int64(ops/2), x == 0:
			h.restartNode(h.remote)
			restarted = true
		case x < 8:
			h.armFailpoint(h.remote, r)
		case x < 15:
			h.armFailpoint(r.node, r)
		case x < 17:
			if r.s != nil {
				h.stopSyncer(r)
				h.syncerRestarts++
			} else {
				h.startSyncer(r)
			}
		case x < 19:
			if r.s != nil && h.rng.IntN(2) == 0 {
				h.liveLocalRestarts++
			} else {
				// As a device reboot: the app stops, then the server.
				h.stopSyncer(r)
			}
			h.restartNode(r.node)
			h.localRestarts++
			if r.s == nil && h.rng.IntN(2) == 0 {
				h.startSyncer(r)
			}
		default:
			pause(h.ctx, time.Duration(h.rng.IntN(300))*time.Millisecond)
		}
		pause(h.ctx, time.Duration(10+h.rng.IntN(90))*time.Millisecond)
	}
	if !restarted {
		h.restartNode(h.remote)
	}
	for _, r := range h.reps {
		if r.s == nil {
			h.startSyncer(r)
		}
	}
	h.disarm()
	if t.Failed() {
		return
	}
	h.check(n)
}

// write makes one random write of op ("" for a random one) on node and
// records it (as chaosWrite, whose side is the node's name).
func (h *chaos3) write(rng *rand.Rand, node *chaos3Node, k int, op string) {
	coll := chaosColls[rng.IntN(len(chaosColls))]
	id := int32(rng.IntN(chaosIDs))
	if op == "" {
		op = []string{"insert", "update", "update", "update", "replace", "delete"}[rng.IntN(6)]
	}
	c := node.ctl.Collection(coll)
	side := Side(node.name)
	mark := fmt.Sprintf("%s-%d-%d", node.name, h.seq.Add(1), k)
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
	key := coll + "/" + strconv.Itoa(int(id))
	if err != nil {
		var we mongo.WriteException
		var ce mongo.CommandError
		if errors.As(err, &we) || (errors.As(err, &ce) && !ce.HasErrorLabel("RetryableWriteError")) {
			h.t.Errorf("%s %s %s on %s refused: %v", node.name, op, mark, key, err)
			return
		}
		// A network error may or may not have applied the write: the
		// document's history is unknown from here on.
		h.ambiguous.Add(1)
		h.logf("write %s %s %s on %s: %v (ambiguous: document left out of the lost-write checks)", node.name, op, mark, key, err)
		h.mu.Lock()
		h.uncertain[key] = true
		h.mu.Unlock()
		return
	}
	h.logf("write %s %s %s %s -> %s", node.name, key, op, w.pre, mark)
	h.mu.Lock()
	defer h.mu.Unlock()
	if w.post != nil {
		h.byHashes[contentHash(w.post)] = mark
	}
	h.traces[key] = append(h.traces[key], fmt.Sprintf("  [%d] write %s %s %s -> %s", w.end, node.name, op, w.pre, mark))
	h.writes = append(h.writes, w)
}

// armFailpoint makes the next few of a random subset of r's syncer's
// commands on node fail (failCommand filtered by r's appName, so on the
// remote only r is hit).
func (h *chaos3) armFailpoint(node *chaos3Node, r *chaos3Replica) {
	cmds := bson.A{}
	for _, c := range chaosCommands {
		if h.rng.IntN(3) == 0 {
			cmds = append(cmds, c)
		}
	}
	if len(cmds) == 0 {
		cmds = append(cmds, chaosCommands[h.rng.IntN(len(chaosCommands))])
	}
	data := bson.D{{Key: "failCommands", Value: cmds}, {Key: "appName", Value: r.appName}}
	switch h.rng.IntN(5) {
	case 0:
		data = append(data, bson.E{Key: "errorCode", Value: []int32{91, 10107, 11600, 189}[h.rng.IntN(4)]})
	default:
		data = append(data, bson.E{Key: "closeConnection", Value: true})
	}
	cmd := bson.D{{Key: "configureFailPoint", Value: "failCommand"},
		{Key: "mode", Value: bson.D{{Key: "times", Value: 1 + h.rng.IntN(3)}}}, {Key: "data", Value: data}}
	node.mu.RLock()
	defer node.mu.RUnlock()
	if err := h.admin(node.ctl, cmd); err != nil {
		h.t.Errorf("configureFailPoint on %s: %v", node.name, err)
		return
	}
	h.logf("failpoint on %s for %s: %v", node.name, r.appName, data)
	h.failpoints++
}

func (h *chaos3) disarm() {
	off := bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"}}
	for _, n := range h.nodes {
		if err := h.admin(n.ctl, off); err != nil {
			h.t.Errorf("failpoint off on %s: %v", n.name, err)
		}
	}
}

// admin runs cmd on db's admin database, again when a connection turns out
// dead (a restart leaves the test client's pooled connections closed).
func (h *chaos3) admin(db *mongo.Database, cmd bson.D) error {
	var err error
	for range 5 {
		if err = db.Client().Database("admin").RunCommand(h.ctx, cmd).Err(); err == nil || !mongo.IsNetworkError(err) {
			return err
		}
	}
	return err
}

// restartNode stops node's server and starts it again on the same address
// and data directory after a short outage.
func (h *chaos3) restartNode(n *chaos3Node) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.srv.Stop(h.ctx); err != nil {
		h.t.Errorf("stop %s: %v", n.name, err)
	}
	h.logf("server %s stopped", n.name)
	pause(h.ctx, time.Duration(50+h.rng.IntN(500))*time.Millisecond)
	deadline := time.Now().Add(30 * time.Second)
	for {
		srv, err := embedded.Start(h.ctx, n.cfg)
		if err == nil {
			n.srv = srv
			if n == h.remote {
				h.remoteRestarts++
			}
			h.logf("server %s restarted", n.name)
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("restart %s on %s: %v", n.name, n.cfg.Addr, err)
		}
		pause(h.ctx, 100*time.Millisecond)
	}
}

// quiesce waits until every syncer has synced everything, in passes: one
// replica's barrier does not cover what another uploads after it, so
// passes go on until all four servers hold the same data (each pass
// after the first only downloads what the others uploaded).
func (h *chaos3) quiesce(ctx context.Context, round int) (map[string]map[int32]bson.Raw, bool) {
	t := h.t
	for pass := range 6 {
		for _, r := range h.reps {
			if err := r.s.WaitSynced(ctx); err != nil {
				h.mu.Lock()
				t.Errorf("round %d: %s WaitSynced: %v (last errors: %q)", round, r.node.name, err, h.lastErrs)
				h.mu.Unlock()
				return nil, false
			}
		}
		equal := true
		var final map[string]map[int32]bson.Raw
		for _, coll := range chaosColls {
			want, _ := checksum(t, ctx, h.remote.ctl.Collection(coll))
			for _, n := range h.nodes {
				sum, docs := checksum(t, ctx, n.ctl.Collection(coll))
				if n == h.remote {
					if final == nil {
						final = map[string]map[int32]bson.Raw{}
					}
					final[coll] = docs
				}
				if sum != want {
					equal = false
				}
			}
		}
		h.logf("quiesce pass %d: equal=%v", pass, equal)
		if equal {
			return final, true
		}
	}
	for _, coll := range chaosColls {
		_, want := checksum(t, ctx, h.remote.ctl.Collection(coll))
		for _, n := range h.nodes[:chaos3Replicas] {
			_, docs := checksum(t, ctx, n.ctl.Collection(coll))
			for id := range int32(chaosIDs) {
				if !bytes.Equal(docs[id], want[id]) {
					h.mu.Lock()
					tr := strings.Join(h.traces[coll+"/"+strconv.Itoa(int(id))], "\n")
					h.mu.Unlock()
					t.Errorf("round %d: %s/%d differs on %s after every barrier:\n%s: %v\nremote: %v\n%s", round, coll, id, n.name, n.name, docs[id], want[id], tr)
				}
			}
		}
	}
	return nil, false
}

func (h *chaos3) check(round int) {
	t := h.t
	ctx, cancel := context.WithTimeout(h.ctx, 3*time.Minute)
	defer cancel()
	final, ok := h.quiesce(ctx, round)
	if !ok {
		return
	}
	// Whatever the syncers do after the barrier must be a no-op: a write
	// to a user collection from here on is ping-pong.
	times := make([]bson.Timestamp, len(h.nodes))
	for i, n := range h.nodes {
		var err error
		for range 5 {
			if times[i], err = operationTime(ctx, n.ctl); err == nil || !mongo.IsNetworkError(err) {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range h.reps {
		if err := r.s.WaitSynced(ctx); err != nil {
			t.Fatalf("round %d: %s second WaitSynced: %v", round, r.node.name, err)
		}
	}
	for i, n := range h.nodes {
		if evs := changesAfter(t, ctx, n.ctl, times[i]); len(evs) > 0 {
			t.Errorf("round %d: %d writes to synced collections on %s after the barrier (ping-pong?), first %v", round, len(evs), n.name, evs[0])
		}
	}
	var logs [][]Conflict
	for _, r := range h.reps {
		st, err := r.s.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Running || !st.Online {
			t.Errorf("round %d: %s syncer running=%v online=%v after the round", round, r.node.name, st.Running, st.Online)
		}
		for _, c := range st.Collections {
			if c.Pending != 0 || !c.Bootstrapped {
				t.Errorf("round %d: %s collection %s: pending %d bootstrapped %v after WaitSynced", round, r.node.name, c.Name, c.Pending, c.Bootstrapped)
			}
		}
		cs, err := r.s.Conflicts(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, cs)
	}
	h.checkWrites(round, final, logs)
	h.logf("round %d checked", round)
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, l := range logs {
		n += len(l)
	}
	t.Logf("round %d: %d writes so far (%d ambiguous), %d conflicts logged, %d errors survived, checksums equal on all %d servers",
		round, len(h.writes), h.ambiguous.Load(), n, h.errs.Load(), len(h.nodes))
}

// chaos3Lost is the losing edit of a conflict log entry.
type chaos3Lost struct {
	replica int
	side    Side // in that replica's terms
	doc     bson.Raw
}

// checkWrites checks that no acknowledged write was lost. A write W (made
// on server S, acknowledged, on a document with no ambiguous write) is
// accounted for when:
//  1. it is the final state (a delete: the document is absent), or
//  2. it was superseded: a later write was made on top of W's state, on
//     any server (it had W in its history; for a delete, a re-insert
//     started after the delete ended); or
//  3. it lost a conflict that is logged: the losing edit of an entry in
//     some replica's conflict log is W's state (for a delete: a losing
//     delete on S's side of that replica, i.e. S is the replica's own
//     local server and the local edit lost, or S is not and the remote
//     edit lost); or
//  4. it is a delete that netted out (nettedOut: it only undid S's own
//     edits unseen by anyone since S last agreed, and another server
//     deleted from there too: state-based sync compares net changes).
//
// Under the whole-document policies every conflict keeps one edit as
// written, so in addition the final state must be the last write of one
// of the servers.
func (h *chaos3) checkWrites(round int, final map[string]map[int32]bson.Raw, logs [][]Conflict) {
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
	lost := map[key][]chaos3Lost{}
	for i, cs := range logs {
		for _, c := range cs {
			id, ok := c.DocumentID.Int32OK()
			if !ok {
				t.Errorf("conflict %s on %s has _id %v", c.ID, c.Collection, c.DocumentID)
				continue
			}
			l := chaos3Lost{replica: i, side: LocalSide, doc: c.Local}
			if c.Kept == LocalSide {
				l.side, l.doc = RemoteSide, c.Remote
			}
			lost[key{c.Collection, id}] = append(lost[key{c.Collection, id}], l)
		}
	}
	// nettedOut takes the two-sided form of the conflict list: a losing
	// edit counts for every server.
	asPairs := func(ls []chaos3Lost) []struct {
		side Side
		doc  bson.Raw
	} {
		var out []struct {
			side Side
			doc  bson.Raw
		}
		for _, l := range ls {
			out = append(out, struct {
				side Side
				doc  bson.Raw
			}{l.side, l.doc})
		}
		return out
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
			tr := strings.Join(h.traces[coll+"/"+strconv.Itoa(int(id))], "\n")
			if len(ws) == 0 {
				if fin != nil {
					t.Errorf("round %d: %s/%d was never written but is %v", round, coll, id, fin)
				}
				continue
			}
			last := map[Side]*chaosWrite{}
			for i := range ws {
				last[ws[i].side] = &ws[i]
			}
			isLast := false
			var lasts []string
			for _, w := range last {
				isLast = isLast || bytes.Equal(w.post, fin)
				lasts = append(lasts, string(w.side)+":"+w.mark)
			}
			if !isLast {
				bad++
				t.Errorf("round %d: %s/%d final value %s is no server's last write (%v)\n%s%s",
					round, coll, id, stateOf(fin), lasts, chaos3History(ws, lost[k]), tr)
			}
			for _, w := range ws {
				if bytes.Equal(w.post, fin) {
					continue
				}
				superseded := slices.ContainsFunc(ws, func(v chaosWrite) bool {
					return v.pre == w.mark && (w.mark != "absent" || v.start > w.end)
				})
				logged := slices.ContainsFunc(lost[k], func(l chaos3Lost) bool {
					if w.op != "delete" {
						return l.doc != nil && stateOf(l.doc) == w.mark
					}
					own := string(w.side) == h.reps[l.replica].node.name
					return l.doc == nil && (l.side == LocalSide) == own
				})
				if !superseded && !logged && !nettedOut(w, ws, fin, asPairs(lost[k])) && !h.unseenDelete(w, ws, lost[k]) {
					bad++
					if bad == 1 {
						t.Logf("last errors:\n%s", strings.Join(h.lastErrs, "\n"))
					}
					t.Errorf("round %d: %s/%d: %s write %s (%s on %s) was lost: not final (%s), nothing was written on top of it, no conflict logged it\n%s%s",
						round, coll, id, w.side, w.mark, w.op, w.pre, stateOf(fin), chaos3History(ws, lost[k]), tr)
				}
			}
			if bad > 5 {
				t.Fatalf("round %d: too many lost writes, stopping", round)
			}
		}
	}
}

// unseenDelete reports whether delete w removed a line that some other
// replica never saw while it created the document itself (a write on
// "absent"): against that replica's base (absent) the deleting side's net
// change is nothing, so its insert uploads without a conflict (docs/sync.md,
// "insert / insert-then-delete"), and the delete is not lost. A delete of a
// line state by that replica is not seeing the line: it leaves the replica
// holding nothing of it (seed 16575161704032383990: l2 deleted the first
// state of the line, its delete won, the line went on from another
// replica's unsynced edits over a new remote insert, and l2's later
// re-creation met only its tombstone; were the delete to lose, the conflict
// log would show l2 seeing the line).
func (h *chaos3) unseenDelete(w chaosWrite, ws []chaosWrite, lost []chaos3Lost) bool {
	if w.op != "delete" {
		return false
	}
	line := map[string]bool{}
	for p := w.pre; p != "absent" && !line[p]; {
		line[p] = true
		i := slices.IndexFunc(ws, func(v chaosWrite) bool { return v.mark == p })
		if i < 0 {
			break
		}
		p = ws[i].pre
	}
	return slices.ContainsFunc(ws, func(v chaosWrite) bool {
		if v.op == "delete" || v.pre != "absent" || v.side == w.side || v.side == Side(h.remote.name) {
			return false
		}
		sawLine := slices.ContainsFunc(ws, func(u chaosWrite) bool { return u.side == v.side && u.op != "delete" && line[u.pre] }) ||
			slices.ContainsFunc(lost, func(l chaos3Lost) bool {
				return h.reps[l.replica].node.name == string(v.side) && l.doc != nil && line[stateOf(l.doc)]
			})
		return !sawLine
	})
}

func chaos3History(ws []chaosWrite, lost []chaos3Lost) string {
	var b strings.Builder
	for _, w := range ws {
		fmt.Fprintf(&b, "  [%d-%d] %-6s %-7s %s -> %s\n", w.start, w.end, w.side, w.op, w.pre, w.mark)
	}
	for _, l := range lost {
		fmt.Fprintf(&b, "  conflict of l%d lost on its %s side: %s\n", l.replica, l.side, stateOf(l.doc))
	}
	return b.String()
}
