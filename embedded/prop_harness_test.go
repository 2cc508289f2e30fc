package embedded_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// propHarness runs one segment of the property test: one server (restarted
// on its Dir in dir mode), one client, two streams open from the start.
type propHarness struct {
	t     *testing.T
	ctx   context.Context
	stop  context.CancelFunc
	mode  string
	seed  uint64
	steps int // steps to run
	gen   *propGen
	// ctl draws the checks (resume, restart) from its own source, so a
	// replay with fewer steps runs the same writes.
	ctl *propGen

	cfg    embedded.Config
	srv    *embedded.Server
	client *mongo.Client
	coll   *mongo.Collection // d.c: the collection under test
	mark   *mongo.Collection // d.mark: one insert per step ends its events

	lookup *mongo.ChangeStream // fullDocument updateLookup, pre-images whenAvailable
	images *mongo.ChangeStream // post- and pre-images required
	// history is every event of the images stream since the start
	// (markers included); lookupToken is the lookup stream's last token.
	history     []bson.Raw
	lookupToken bson.Raw
	startAt     bson.Timestamp // before the first write

	state    map[string]bson.Raw // _id key -> stored document, after the last step
	step     int
	marker   int64
	lastTime bson.Timestamp
	cur      propStep // the step running, for failure messages
	closed   bool
	stats    propStats
}

// propStats are the figures a run logs.
type propStats struct {
	steps, events, refused, resumes, restarts int
	byOp                                      map[string]int
	byCode                                    map[string]int
}

func (s *propStats) add(o propStats) {
	s.steps += o.steps
	s.events += o.events
	s.refused += o.refused
	s.resumes += o.resumes
	s.restarts += o.restarts
	for k, v := range o.byOp {
		if s.byOp == nil {
			s.byOp = map[string]int{}
		}
		s.byOp[k] += v
	}
	for k, v := range o.byCode {
		if s.byCode == nil {
			s.byCode = map[string]int{}
		}
		s.byCode[k] += v
	}
}

func (s propStats) String() string {
	return fmt.Sprintf("%d steps, %d events, %d refused writes %v, %d resumes checked, %d restarts; writes %v",
		s.steps, s.events, s.refused, s.byCode, s.resumes, s.restarts, s.byOp)
}

func newPropHarness(t *testing.T, mode string, seed uint64, steps int) *propHarness {
	ctx, cancel := context.WithCancel(context.Background())
	h := &propHarness{
		t: t, ctx: ctx, stop: cancel, mode: mode, seed: seed, steps: steps,
		gen:   &propGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))},
		ctl:   &propGen{r: rand.New(rand.NewPCG(seed^0x5bd1e995, seed))},
		state: map[string]bson.Raw{},
	}
	h.stats.byOp, h.stats.byCode = map[string]int{}, map[string]int{}
	t.Cleanup(h.close)
	t.Cleanup(func() {
		if t.Failed() && !h.closed {
			t.Logf("FAILED at step %d of seed %d (%s). Replay:\n  go test ./embedded/ -count=1 -run 'TestPropWriteEvents/%s$' -embedded.propseed=%d -embedded.propsteps=%d",
				h.step, h.seed, mode, mode, h.seed, h.step+1)
		}
	})
	if mode == "dir" {
		// A fixed address, so the client reconnects to the restarted
		// server.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		h.cfg = embedded.Config{Addr: l.Addr().String(), Dir: t.TempDir()}
		l.Close()
	}
	h.startServer()
	client, err := mongo.Connect(options.Client().ApplyURI(h.srv.URI()).SetHeartbeatInterval(500 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	h.client = client
	db := client.Database("d")
	if err := db.CreateCollection(ctx, "c", options.CreateCollection().SetChangeStreamPreAndPostImages(bson.D{{Key: "enabled", Value: true}})); err != nil {
		t.Fatal(err)
	}
	h.coll, h.mark = db.Collection("c"), db.Collection("mark")
	var ping bson.Raw
	if ping, err = db.RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Raw(); err != nil {
		t.Fatal(err)
	}
	tt, ti, ok := ping.Lookup("operationTime").TimestampOK()
	if !ok {
		t.Fatalf("ping answered no operationTime: %v", ping)
	}
	h.startAt = bson.Timestamp{T: tt, I: ti}
	h.openStreams(nil, nil)
	return h
}

func (h *propHarness) startServer() {
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	srv, err := embedded.Start(ctx, h.cfg)
	if err != nil {
		h.t.Fatalf("start embedded: %v", err)
	}
	h.srv = srv
}

func lookupOpts() *options.ChangeStreamOptionsBuilder {
	return options.ChangeStream().SetFullDocument(options.UpdateLookup).SetFullDocumentBeforeChange(options.WhenAvailable)
}

func imagesOpts() *options.ChangeStreamOptionsBuilder {
	return options.ChangeStream().SetFullDocument(options.Required).SetFullDocumentBeforeChange(options.Required)
}

// openStreams opens both streams at the start, or after the given tokens.
func (h *propHarness) openStreams(lookupAfter, imagesAfter bson.Raw) {
	lo, io := lookupOpts(), imagesOpts()
	if lookupAfter != nil {
		lo.SetResumeAfter(lookupAfter)
		io.SetResumeAfter(imagesAfter)
	}
	db := h.client.Database("d")
	var err error
	if h.lookup, err = db.Watch(h.ctx, mongo.Pipeline{}, lo); err != nil {
		h.fatalf("open the updateLookup stream: %v", err)
	}
	if h.images, err = db.Watch(h.ctx, mongo.Pipeline{}, io); err != nil {
		h.fatalf("open the images stream: %v", err)
	}
}

func (h *propHarness) closeStreams() {
	for _, cs := range []*mongo.ChangeStream{h.lookup, h.images} {
		if cs != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = cs.Close(ctx)
			cancel()
		}
	}
	h.lookup, h.images = nil, nil
}

// close ends the segment: streams, client, server (idempotent; also a
// cleanup when the test fails).
func (h *propHarness) close() {
	if h.closed {
		return
	}
	h.closed = true
	h.closeStreams()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if h.client != nil {
		_ = h.client.Disconnect(ctx)
	}
	if h.srv != nil {
		if err := h.srv.Stop(ctx); err != nil {
			h.t.Errorf("stop embedded: %v", err)
		}
	}
	h.stop()
}

// run runs the segment's steps (or until dur since start has passed).
func (h *propHarness) run(start time.Time, dur time.Duration) {
	// One restart early enough to be in every CI run, more at random.
	restartAt := 20 + h.ctl.pick(200)
	for h.step = 0; h.step < h.steps; h.step++ {
		if dur > 0 && time.Since(start) >= dur {
			return
		}
		h.runStep()
		if h.t.Failed() {
			return
		}
		if h.ctl.chance(0.04) {
			h.checkResume()
		}
		if restart := h.ctl.chance(0.005); h.mode == "dir" && (h.step == restartAt || restart) {
			h.restart()
		}
	}
	// The whole history once more, from the start.
	h.checkFromStart("at the end")
}

// runStep runs one write and checks everything it must have caused.
func (h *propHarness) runStep() {
	pre := h.state
	h.cur = h.genStep()
	h.stats.steps++
	h.stats.byOp[opName(h.cur.desc)]++
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	out := h.cur.run(ctx, h)
	h.checkError(out.err)
	evImages, evLookup := h.endStep()
	post := h.readState()
	h.checkEvents(out, pre, post, evImages, evLookup)
	h.stats.events += len(evImages)
	h.state = post
}

func opName(desc bson.D) string {
	s, _ := desc[0].Value.(string)
	return s
}

// endStep writes the step's marker and returns every event before it on
// each stream.
func (h *propHarness) endStep() (images, lookup []bson.Raw) {
	h.marker++
	if _, err := h.mark.InsertOne(h.ctx, bson.D{{Key: "_id", Value: h.marker}}); err != nil {
		h.fatalf("insert marker %d: %v", h.marker, err)
	}
	images = h.untilMarker(h.images, "images", true)
	lookup = h.untilMarker(h.lookup, "updateLookup", false)
	return images, lookup
}

func (h *propHarness) untilMarker(cs *mongo.ChangeStream, name string, record bool) []bson.Raw {
	var evs []bson.Raw
	ctx, cancel := context.WithTimeout(h.ctx, 20*time.Second)
	defer cancel()
	for {
		if !cs.Next(ctx) {
			h.fatalf("%s stream stopped before marker %d: %v (events so far: %s)", name, h.marker, cs.Err(), extJSONs(evs))
		}
		ev := slices.Clone(cs.Current)
		if isMarker(ev, h.marker) {
			if record {
				h.history = append(h.history, evs...)
				h.history = append(h.history, ev)
			} else {
				h.lookupToken = slices.Clone(cs.ResumeToken())
			}
			return evs
		}
		if coll, _ := ev.Lookup("ns", "coll").StringValueOK(); coll == "mark" {
			h.fatalf("%s stream: unexpected marker event %s while waiting for %d", name, extJSON(ev), h.marker)
		}
		evs = append(evs, ev)
	}
}

func isMarker(ev bson.Raw, n int64) bool {
	coll, _ := ev.Lookup("ns", "coll").StringValueOK()
	id, ok := ev.Lookup("documentKey", "_id").Int64OK()
	return coll == "mark" && ok && id == n
}

// readState returns every document of d.c by _id key.
func (h *propHarness) readState() map[string]bson.Raw {
	cur, err := h.coll.Find(h.ctx, bson.D{})
	if err != nil {
		h.fatalf("find: %v", err)
	}
	defer cur.Close(context.Background())
	st := map[string]bson.Raw{}
	for cur.Next(h.ctx) {
		raw := slices.Clone(cur.Current)
		k := idKey(raw.Lookup("_id"))
		if _, dup := st[k]; dup {
			h.fatalf("find returned _id %v twice", raw.Lookup("_id"))
		}
		st[k] = raw
	}
	if err := cur.Err(); err != nil {
		h.fatalf("find: %v", err)
	}
	return st
}

// idKey is an _id's map key: its BSON type and bytes.
func idKey(v bson.RawValue) string { return string(rune(v.Type)) + string(v.Value) }

func idKeyOf(id any) string {
	raw, err := bson.Marshal(bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return fmt.Sprintf("unencodable %v: %v", id, err) // test ids are constants
	}
	return idKey(bson.Raw(raw).Lookup("_id"))
}

// fatalf fails the test with the step's write and the seed.
func (h *propHarness) fatalf(format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf("%s step %d (seed %d): %s\n  write: %s", h.mode, h.step, h.seed, fmt.Sprintf(format, args...), extJSON(h.cur.desc))
}

func extJSON(v any) string {
	if v == nil {
		return "<none>"
	}
	b, err := bson.MarshalExtJSON(v, false, false)
	if err != nil {
		return fmt.Sprintf("%v (%v)", v, err)
	}
	return string(b)
}

func extJSONs(evs []bson.Raw) string {
	s := make([]string, len(evs))
	for i, e := range evs {
		s[i] = extJSON(e)
	}
	return "[" + strings.Join(s, ",\n    ") + "]"
}
