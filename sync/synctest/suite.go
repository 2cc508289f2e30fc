package synctest

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/mongotide/mongotide/internal/testenv"
	mtsync "github.com/mongotide/mongotide/sync"
	"github.com/mongotide/mongotide/sync/internal/pairtable"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Run runs the conformance suite over tr.
func Run(t *testing.T, tr Transport) {
	t.Run("OutcomeTable", func(t *testing.T) { outcomeTable(t, tr) })
	t.Run("OfflineThenCatchUp", func(t *testing.T) { offlineThenCatchUp(t, tr) })
	t.Run("OutageNoticedAndStopWhileDown", func(t *testing.T) { outageNoticed(t, tr) })
}

// FastBackoff retries every 20-200 ms, forever: a test's syncer and
// client notice a remote's return at once.
func FastBackoff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 20 * time.Millisecond
	b.MaxInterval = 200 * time.Millisecond
	b.MaxElapsedTime = 0
	return b
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	testenv.EventuallySays(t, 30*time.Second, what, cond)
}

func rawValue(t *testing.T, v any) bson.RawValue {
	t.Helper()
	typ, data, err := bson.MarshalValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return bson.RawValue{Type: typ, Value: data}
}

func readDoc(ctx context.Context, c *mongo.Collection, id bson.RawValue) (bson.Raw, error) {
	raw, err := c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if err == mongo.ErrNoDocuments {
		return nil, nil
	}
	return append(bson.Raw(nil), raw...), err
}

// docIs waits until coll's document id is exactly want (nil: absent).
func docIs(t *testing.T, ctx context.Context, coll *mongo.Collection, id bson.RawValue, want bson.Raw) {
	t.Helper()
	eventually(t, coll.Database().Name()+" holds the expected document", func() (bool, string) {
		got, err := readDoc(ctx, coll, id)
		if err != nil {
			return false, err.Error()
		}
		return string(got) == string(want), fmt.Sprintf("got %s, want %s", fmtDoc(got), fmtDoc(want))
	})
}

// dump is coll's documents by _id, as raw BSON.
func dump(ctx context.Context, coll *mongo.Collection) (map[string]string, error) {
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	out := map[string]string{}
	for cur.Next(ctx) {
		out[cur.Current.Lookup("_id").String()] = string(cur.Current)
	}
	return out, cur.Err()
}

// SameContents waits until a and b hold the same n documents, byte for
// byte (failing t after 30 s, naming what differs).
func SameContents(t *testing.T, ctx context.Context, a, b *mongo.Collection, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s and %s hold the same %d documents", a.Database().Name(), b.Database().Name(), n), func() (bool, string) {
		da, err := dump(ctx, a)
		if err != nil {
			return false, err.Error()
		}
		db, err := dump(ctx, b)
		if err != nil {
			return false, err.Error()
		}
		if len(da) != n || len(db) != n {
			return false, fmt.Sprintf("%d and %d documents", len(da), len(db))
		}
		for k, v := range da {
			if db[k] != v {
				return false, "document " + k + " differs"
			}
		}
		return true, ""
	})
}

func startSyncer(t *testing.T, ctx context.Context, cfg mtsync.Config) *mtsync.Syncer {
	t.Helper()
	s, err := mtsync.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// outcomeTable runs every row of the outcome table (internal/pairtable,
// docs/sync.md) under every policy: replica B uploads its edit first, then
// replica A meets the conflict; every side ends with the expected
// document, A alone logs the expected conflict, and once settled another
// write does not move the document's version (no ping-pong).
func outcomeTable(t *testing.T, tr Transport) {
	for _, run := range pairtable.Runs() {
		t.Run(run.Name, func(t *testing.T) {
			t.Parallel()
			for _, c := range pairtable.Cases() {
				t.Run(c.Name, func(t *testing.T) { pairCase(t, tr, run, c) })
			}
		})
	}
}

// pair is replicas A and B (stopped, their local databases on one server)
// and the remote, after pairtable.Base reached all three.
type pair struct {
	clock      *Clock
	remote     Remote
	a, b       *mtsync.Syncer
	la, lb, rc *mongo.Collection
	aReported  atomic.Int64
	bReported  atomic.Int64
}

func newPair(t *testing.T, ctx context.Context, tr Transport, policy mtsync.ConflictPolicy) *pair {
	t.Helper()
	p := &pair{clock: &Clock{}}
	var resolve func(context.Context, mtsync.Conflict) (bson.Raw, error)
	if policy == mtsync.Custom {
		resolve = func(_ context.Context, c mtsync.Conflict) (bson.Raw, error) {
			return pairtable.CustomResolve(c.Local, c.Remote)
		}
	}
	p.remote = tr.Start(t, Setup{Collections: []string{"c"}, Policy: policy, Resolve: resolve, Clock: p.clock.Now})
	p.rc = p.remote.DB().Collection("c")
	local := NewLocal(t, p.clock.Now, "a")
	p.la, p.lb = local.Collection("c"), local.Client().Database("b").Collection("c")
	device := func(db *mongo.Database, id string, reported *atomic.Int64) *mtsync.Syncer {
		cfg := mtsync.Config{Local: db, Collections: []string{"c"}, ReplicaID: id, Clock: p.clock.Now, Backoff: FastBackoff,
			OnConflict: func(mtsync.Conflict) { reported.Add(1) }}
		p.remote.Configure(t, &cfg)
		s, err := mtsync.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Stop(context.Background()) })
		return s
	}
	p.a = device(local, "A", &p.aReported)
	p.b = device(local.Client().Database("b"), "B", &p.bReported)
	for _, s := range []*mtsync.Syncer{p.a, p.b} {
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.la.InsertOne(ctx, pairtable.Base); err != nil {
		t.Fatal(err)
	}
	SameContents(t, ctx, p.la, p.rc, 1)
	SameContents(t, ctx, p.lb, p.rc, 1)
	for _, s := range []*mtsync.Syncer{p.a, p.b} {
		if err := s.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// versionEntry is the remote's version entry of (coll, id), which sync
// keeps in _mongotide_sync_versions whatever the transport.
func versionEntry(ctx context.Context, db *mongo.Database, coll string, id bson.RawValue) bson.Raw {
	raw, _ := db.Collection("_mongotide_sync_versions").FindOne(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "c", Value: coll}, {Key: "id", Value: id}}}}).Raw()
	return raw
}

func pairCase(t *testing.T, tr Transport, run pairtable.Run, c pairtable.Case) {
	ctx := testCtx(t)
	policy, err := mtsync.ParseConflictPolicy(run.Policy)
	if err != nil {
		t.Fatal(err)
	}
	p := newPair(t, ctx, tr, policy)
	want, wantLog, err := c.Expect(run)
	if err != nil {
		t.Fatal(err)
	}
	lDoc, rDoc, err := c.Docs()
	if err != nil {
		t.Fatal(err)
	}
	id := rawValue(t, c.ID)

	first, second := c.Local, c.Remote
	firstColl, secondColl := p.la, p.lb
	if run.LocalLater {
		first, second = c.Remote, c.Local
		firstColl, secondColl = p.lb, p.la
	}
	if err := first(ctx, firstColl); err != nil {
		t.Fatal(err)
	}
	p.clock.Advance()
	if err := second(ctx, secondColl); err != nil {
		t.Fatal(err)
	}

	// B uploads onto an unchanged base; then A meets the conflict.
	if err := p.b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	docIs(t, ctx, p.rc, id, rDoc)
	if err := p.b.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, coll := range []*mongo.Collection{p.la, p.lb, p.rc} {
		docIs(t, ctx, coll, id, want)
	}
	for _, s := range []*mtsync.Syncer{p.a, p.b} {
		if err := s.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
	}
	n := 1
	if want == nil {
		n = 0
	}
	if c.ID != pairtable.Base[0].Value {
		n++ // Base is still there
	}
	SameContents(t, ctx, p.la, p.rc, n)
	SameContents(t, ctx, p.lb, p.rc, n)

	// Settled: another write goes through both replicas and the
	// document's remote version does not move (no ping-pong).
	before := versionEntry(ctx, p.remote.DB(), "c", id)
	if _, err := p.la.InsertOne(ctx, bson.D{{Key: "_id", Value: "probe"}}); err != nil {
		t.Fatal(err)
	}
	probe, _ := bson.Marshal(bson.D{{Key: "_id", Value: "probe"}})
	docIs(t, ctx, p.lb, rawValue(t, "probe"), probe)
	for _, s := range []*mtsync.Syncer{p.a, p.b} {
		if err := s.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if after := versionEntry(ctx, p.remote.DB(), "c", id); string(before) != string(after) {
		t.Fatalf("remote version moved after settling: %v -> %v", before, after)
	}
	docIs(t, ctx, p.la, id, want)
	p.checkLogs(t, ctx, policy, id, wantLog, lDoc, rDoc)
}

// checkLogs checks that A alone logged the conflict (wantLog, nil: none).
func (p *pair) checkLogs(t *testing.T, ctx context.Context, policy mtsync.ConflictPolicy, id bson.RawValue, wantLog *pairtable.Log, lDoc, rDoc bson.Raw) {
	t.Helper()
	logA, err := p.a.Conflicts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if logB, err := p.b.Conflicts(ctx, ""); err != nil || len(logB) != 0 || p.bReported.Load() != 0 {
		t.Fatalf("B logged %+v (%d reported), %v; want nothing", logB, p.bReported.Load(), err)
	}
	if wantLog == nil {
		if len(logA) != 0 || p.aReported.Load() != 0 {
			t.Fatalf("A logged %+v (%d reported), want nothing", logA, p.aReported.Load())
		}
		return
	}
	if len(logA) != 1 || p.aReported.Load() != 1 {
		t.Fatalf("A logged %d conflicts (%d reported), want 1: %+v", len(logA), p.aReported.Load(), logA)
	}
	got := logA[0]
	if string(got.Kept) != wantLog.Kept || !slices.Equal(got.Fields, wantLog.Fields) || string(got.Reason) != wantLog.Reason ||
		got.Policy != policy || got.Collection != "c" || !got.DocumentID.Equal(id) {
		t.Fatalf("conflict = kept %s fields %v reason %q policy %s coll %s id %s; want %+v",
			got.Kept, got.Fields, got.Reason, got.Policy, got.Collection, got.DocumentID, *wantLog)
	}
	if string(got.Local) != string(lDoc) || string(got.Remote) != string(rDoc) {
		t.Fatalf("conflict edits = local %s remote %s; want %s and %s", fmtDoc(got.Local), fmtDoc(got.Remote), fmtDoc(lDoc), fmtDoc(rDoc))
	}
	if got.LocalVersion.Replica != p.remote.Replica("A") || got.RemoteVersion.Replica != p.remote.Replica("B") {
		t.Fatalf("conflict versions = %+v / %+v, want replicas %s and %s", got.LocalVersion, got.RemoteVersion, p.remote.Replica("A"), p.remote.Replica("B"))
	}
}

// offlineThenCatchUp: the remote goes away; local writes go on, the
// replica reports offline, and once the remote is back the pending local
// changes upload by themselves, without another local write; the download
// direction comes back too.
func offlineThenCatchUp(t *testing.T, tr Transport) {
	ctx := testCtx(t)
	clock := &Clock{}
	remote := tr.Start(t, Setup{Collections: []string{"c"}, Clock: clock.Now, Restartable: true})
	rc := remote.DB().Collection("c")
	lc := NewLocal(t, clock.Now, "device").Collection("c")

	var offline, online atomic.Int64
	cfg := mtsync.Config{
		Local: lc.Database(), Collections: []string{"c"}, Backoff: FastBackoff, Clock: clock.Now,
		OnOffline: func(error) { offline.Add(1) },
		OnOnline:  func() { online.Add(1) },
	}
	remote.Configure(t, &cfg)
	s := startSyncer(t, ctx, cfg)
	if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "before"}}); err != nil {
		t.Fatal(err)
	}
	SameContents(t, ctx, lc, rc, 1)
	// Until the bootstrap has finished, changes are not counted as
	// pending (the outage below would then find nothing to report).
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}

	remote.Stop(t, ctx)
	if _, err := lc.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "offline"}}}}); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 4; i++ {
		if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "offline reported", func() (bool, string) {
		st, err := s.Status(ctx)
		return err == nil && offline.Load() > 0 && !st.Online && st.Collections[0].Pending > 0,
			fmt.Sprintf("offline calls=%d status=%+v err=%v", offline.Load(), st, err)
	})

	remote.Restart(t, ctx)
	SameContents(t, ctx, lc, rc, 4)
	var doc struct{ V string }
	if err := rc.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&doc); err != nil || doc.V != "offline" {
		t.Fatalf("remote doc 1 = %+v (%v), want the offline edit", doc, err)
	}
	eventually(t, "online again", func() (bool, string) {
		st, err := s.Status(ctx)
		return err == nil && st.Online && st.Collections[0].Pending == 0 && online.Load() >= 2,
			fmt.Sprintf("online calls=%d status=%+v", online.Load(), st)
	})
	if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: "after"}}); err != nil {
		t.Fatal(err)
	}
	SameContents(t, ctx, lc, rc, 5)
}

// outageNoticed: with no local write pending, an outage (and the remote's
// return) is noticed; and Stop returns while the remote is down and an
// upload is stuck retrying.
func outageNoticed(t *testing.T, tr Transport) {
	ctx := testCtx(t)
	clock := &Clock{}
	remote := tr.Start(t, Setup{Collections: []string{"c"}, Clock: clock.Now, Restartable: true})
	lc := NewLocal(t, clock.Now, "device").Collection("c")

	var offline, online atomic.Int64
	cfg := mtsync.Config{
		Local: lc.Database(), Collections: []string{"c"}, Backoff: FastBackoff, Clock: clock.Now,
		OnOffline: func(error) { offline.Add(1) },
		OnOnline:  func() { online.Add(1) },
	}
	remote.Configure(t, &cfg)
	s := startSyncer(t, ctx, cfg)
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "online reported", func() (bool, string) {
		return online.Load() > 0, fmt.Sprintf("online calls=%d", online.Load())
	})

	remote.Stop(t, ctx)
	eventually(t, "offline reported with no local write", func() (bool, string) {
		st, err := s.Status(ctx)
		return err == nil && offline.Load() > 0 && !st.Online, fmt.Sprintf("offline calls=%d status=%+v err=%v", offline.Load(), st, err)
	})
	remote.Restart(t, ctx)
	eventually(t, "online again with no local write", func() (bool, string) {
		st, err := s.Status(ctx)
		return err == nil && st.Online && online.Load() >= 2, fmt.Sprintf("online calls=%d status=%+v", online.Load(), st)
	})

	remote.Stop(t, ctx)
	if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: "stuck"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the upload is pending", func() (bool, string) {
		st, err := s.Status(ctx)
		return err == nil && st.Collections[0].Pending > 0, fmt.Sprintf("status=%+v err=%v", st, err)
	})
	// A bound on Stop is the behaviour under test.
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.Stop(sctx); err != nil {
		t.Fatalf("Stop while the remote is down: %v", err)
	}
}
