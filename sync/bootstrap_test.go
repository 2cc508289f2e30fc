package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A bootstrap interrupted after its first batch resumes after the
// checkpointed _id: documents already copied are not copied again, and a
// remote write made meanwhile arrives through the stream captured before the
// copy began.
func TestBootstrapResumesAfterInterruption(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	rc, lc := remote.Collection("c"), local.Collection("c")
	var docs []any
	for i := range 20 {
		docs = append(docs, bson.D{{Key: "_id", Value: int32(i)}})
	}
	if _, err := rc.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}

	// First run: the bootstrap alone, cut off after one batch of 5.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	first, err := New(Config{Local: local, Remote: remote, Collections: []string{"c"}, BatchSize: 5,
		OnBootstrap: func(BootstrapProgress) { cancel() }})
	if err != nil {
		t.Fatal(err)
	}
	first.replica = "first"
	if err := first.bootstrap(cctx, &collState{name: "c"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted bootstrap returned %v, want context.Canceled", err)
	}
	if n, err := lc.CountDocuments(ctx, bson.D{}); err != nil || n != 5 {
		t.Fatalf("after the first batch local holds %d documents (%v), want 5", n, err)
	}
	// Written while the syncer is down, after the resume point was captured.
	if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: "late"}}); err != nil {
		t.Fatal(err)
	}

	var (
		mu       gosync.Mutex
		progress []BootstrapProgress
	)
	var downloads atomic.Int64
	startSyncer(t, ctx, Config{Local: local, Remote: remote, Collections: []string{"c"}, BatchSize: 5,
		OnBootstrap: func(p BootstrapProgress) { mu.Lock(); progress = append(progress, p); mu.Unlock() },
		OnSync:      func(SyncEvent) { downloads.Add(1) },
	})
	sameContents(t, ctx, lc, rc, 21)
	eventually(t, "bootstrap done", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		if len(progress) == 0 {
			return false, "no progress yet"
		}
		last := progress[len(progress)-1]
		return last.Done, fmt.Sprintf("%+v", last)
	})
	mu.Lock()
	defer mu.Unlock()
	if progress[0].Copied != 10 {
		t.Fatalf("second run progress %+v, want it to continue at 10", progress)
	}
	if last := progress[len(progress)-1]; last.Copied != 21 {
		t.Fatalf("final progress %+v, want done at 21", last)
	}
	// 15 documents not yet copied plus "late" (it sorts after the ints, so
	// the copy sees it; the stream's replay of its insert is a no-op).
	if n := downloads.Load(); n != 16 {
		t.Fatalf("second run applied %d documents, want 16 (the first 5 must not be copied again)", n)
	}
}

// Every BSON type survives both directions byte for byte.
func TestFidelity(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	lc, rc := local.Collection("c"), remote.Collection("c")
	startSyncer(t, ctx, Config{Local: local, Remote: remote, Collections: []string{"c"}})
	dec, err := bson.ParseDecimal128("1234.5600")
	if err != nil {
		t.Fatal(err)
	}
	typed := func(id string) bson.D {
		return bson.D{
			{Key: "_id", Value: id},
			{Key: "i32", Value: int32(1)}, {Key: "i64", Value: int64(1)}, {Key: "f", Value: 1.0},
			{Key: "dec", Value: dec},
			{Key: "date", Value: bson.DateTime(1_700_000_000_123)},
			{Key: "bin", Value: bson.Binary{Subtype: 0x80, Data: []byte{1, 2}}},
			{Key: "uuid", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}},
			{Key: "re", Value: bson.Regex{Pattern: "^a.*", Options: "im"}},
			{Key: "nested", Value: bson.A{bson.A{int32(1), bson.A{"x"}}, bson.D{{Key: "k", Value: nil}}}},
			{Key: "min", Value: bson.MinKey{}}, {Key: "max", Value: bson.MaxKey{}},
			{Key: "ts", Value: bson.Timestamp{T: 5, I: 6}},
			{Key: "oid", Value: bson.NewObjectID()},
			{Key: "js", Value: bson.JavaScript("x")},
			{Key: "b", Value: true},
		}
	}
	inserted := map[string]bson.D{"from-local": typed("from-local"), "from-remote": typed("from-remote")}
	if _, err := lc.InsertOne(ctx, inserted["from-local"]); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.InsertOne(ctx, inserted["from-remote"]); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, lc, rc, 2)
	for id, doc := range inserted {
		want, err := bson.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		for side, c := range map[string]*mongo.Collection{"local": lc, "remote": rc} {
			if got := dump(t, ctx, c)[fmt.Sprintf("%q", id)]; got != string(want) {
				t.Fatalf("%s on %s:\n got %v\nwant %v", id, side, bson.Raw(got), bson.Raw(want))
			}
		}
	}
}

// The copy pages through _ids of every type in BSON order, small batches
// straddling the type brackets, including _ids an unwrapped $expr bound
// would read as expressions ("$a", {k: "$x"}).
func TestBootstrapMixedIDTypes(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	ids := []any{
		bson.MinKey{}, nil, int32(-3), int64(2), 2.5, int32(7), "", "$a", "a", "b",
		bson.D{{Key: "k", Value: "$x"}}, bson.D{{Key: "k", Value: int32(1)}},
		bson.Binary{Subtype: 0, Data: []byte{1}}, bson.NewObjectID(), bson.NewObjectID(),
		false, true, bson.DateTime(5), bson.Timestamp{T: 1, I: 1}, bson.MaxKey{},
	}
	docs := make([]any, len(ids))
	for i, id := range ids {
		docs[len(ids)-1-i] = bson.D{{Key: "_id", Value: id}, {Key: "n", Value: int32(i)}}
	}
	for _, size := range []int{1, 3, 4, 100} {
		t.Run(fmt.Sprint("batch", size), func(t *testing.T) {
			l := local.Collection(fmt.Sprint("c", size))
			r := remote.Collection(fmt.Sprint("c", size))
			if _, err := r.InsertMany(ctx, docs); err != nil {
				t.Fatal(err)
			}
			var last atomic.Int64
			startSyncer(t, ctx, Config{Local: local, Remote: remote, Collections: []string{l.Name()}, BatchSize: size,
				OnBootstrap: func(p BootstrapProgress) {
					if p.Done {
						last.Store(p.Copied)
					}
				}})
			sameContents(t, ctx, l, r, len(ids))
			eventually(t, "bootstrap done", func() (bool, string) {
				return last.Load() == int64(len(ids)), fmt.Sprintf("done after %d copied", last.Load())
			})
		})
	}
}

// Local writes made while a first bootstrap runs reach the remote through
// the upload stream (the copy skips its final local scan when the local
// side started empty), and a local document the copy has not reached yet
// is not overwritten by the remote's older one.
func TestBootstrapWithLocalWritesMeanwhile(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	lc, rc := local.Collection("c"), remote.Collection("c")
	var docs []any
	for i := range 40 {
		docs = append(docs, bson.D{{Key: "_id", Value: int32(i)}, {Key: "v", Value: "remote"}})
	}
	if _, err := rc.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	var once gosync.Once
	wrote := make(chan error, 1)
	startSyncer(t, ctx, Config{Local: local, Remote: remote, Collections: []string{"c"}, BatchSize: 5,
		OnBootstrap: func(BootstrapProgress) {
			once.Do(func() {
				_, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: "new"}, {Key: "v", Value: "local"}})
				if err == nil {
					_, err = lc.ReplaceOne(ctx, bson.D{{Key: "_id", Value: int32(30)}}, bson.D{{Key: "v", Value: "local"}}, options.Replace().SetUpsert(true))
				}
				wrote <- err
			})
		}})
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, lc, rc, 41)
	for _, id := range []any{"new", int32(30)} {
		if got := findOne(t, ctx, rc, id); got["v"] != "local" {
			t.Fatalf("remote %v = %v, want the local write", id, got)
		}
	}
}

// A duplicate _id from a bulk insert is recognised as a lost race with a
// local insert; a duplicate on another unique index is not.
func TestInsertsRaced(t *testing.T) {
	ctx := testCtx(t)
	c := newDB(t, "local").Collection("c")
	if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "u", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: int32(1)}, {Key: "u", Value: "taken"}}); err != nil {
		t.Fatal(err)
	}
	_, err := c.BulkWrite(ctx, []mongo.WriteModel{
		mongo.NewInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: int32(2)}}),
		mongo.NewInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: int32(1)}}),
	}, options.BulkWrite().SetOrdered(false))
	idx, rerr := insertsRaced(err)
	if rerr != nil || len(idx) != 1 || idx[0] != 1 {
		t.Fatalf("duplicate _id: raced %v, err %v (from %v), want [1], nil", idx, rerr, err)
	}
	_, err = c.BulkWrite(ctx, []mongo.WriteModel{
		mongo.NewInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: int32(3)}, {Key: "u", Value: "taken"}}),
	}, options.BulkWrite().SetOrdered(false))
	if _, rerr := insertsRaced(err); rerr == nil {
		t.Fatalf("duplicate on a unique index other than _id passed as a race (from %v)", err)
	}
	if idx, rerr := insertsRaced(nil); idx != nil || rerr != nil {
		t.Fatalf("no error: %v, %v", idx, rerr)
	}
}

// Raw insert commands split by size, send an oversized document through the
// driver, and report duplicate _ids (in any command) by their index.
func TestInsertRaw(t *testing.T) {
	ctx := testCtx(t)
	c := newDB(t, "local").Collection("c")
	if _, err := c.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: int32(3)}}, bson.D{{Key: "_id", Value: int32(7)}}}); err != nil {
		t.Fatal(err)
	}
	var docs []bson.Raw
	for i := range 10 {
		pad := strings.Repeat("p", 900)
		if i == 5 {
			pad = strings.Repeat("q", 5000) // larger than a command may hold here
		}
		raw, err := bson.Marshal(bson.D{{Key: "_id", Value: int32(i)}, {Key: "pad", Value: pad}})
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, raw)
	}
	raced, err := insertRawMax(ctx, c, docs, 2500)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(raced, []int{3, 7}) {
		t.Fatalf("raced %v, want [3 7]", raced)
	}
	if n, err := c.CountDocuments(ctx, bson.D{}); err != nil || n != 10 {
		t.Fatalf("%d documents (%v), want 10", n, err)
	}
	if got := findOne(t, ctx, c, int32(5)); len(got["pad"].(string)) != 5000 {
		t.Fatalf("the oversized document was not inserted: %v", got)
	}
	// A duplicate _id in the oversized document's own insert is a race too.
	raced, err = insertRawMax(ctx, c, docs[5:6], 2500)
	if err != nil || !slices.Equal(raced, []int{0}) {
		t.Fatalf("oversized duplicate: raced %v, err %v", raced, err)
	}
	// Any other write error fails the insert.
	u := c.Database().Collection("u")
	if _, err := u.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "u", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
	dup, _ := bson.Marshal(bson.D{{Key: "_id", Value: int32(20)}, {Key: "u", Value: 1}})
	dup2, _ := bson.Marshal(bson.D{{Key: "_id", Value: int32(21)}, {Key: "u", Value: 1}})
	if _, err := insertRawMax(ctx, u, []bson.Raw{dup, dup2}, 2500); err == nil || !strings.Contains(err.Error(), "dup") {
		t.Fatalf("duplicate on another unique index: err %v, want a duplicate key error", err)
	}
}

// The documents a bootstrap copies come back as insert events on the upload
// stream (it starts from a point captured before the copy); they are known
// to be the syncer's own writes by commit time and skipped without reading
// anything.
func TestBootstrapEchoesSkipped(t *testing.T) {
	ctx := testCtx(t)
	srv := testenv.StartEmbedded(t, embedded.Config{})
	var finds, copied atomic.Int64
	var done atomic.Bool
	lclient := testenv.Connect(t, srv.URI(), options.Client().SetMonitor(&event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if e.CommandName == "find" && done.Load() {
				if c, _ := e.Command.Lookup("find").StringValueOK(); c == "c" {
					finds.Add(1)
				}
			}
		}}))
	local, remote := lclient.Database("local_echo"), newDB(t, "remote")
	// The test's own reads go through another client.
	lc := testenv.Connect(t, srv.URI(), nil).Database("local_echo").Collection("c")
	var docs []any
	for i := range 300 {
		docs = append(docs, bson.D{{Key: "_id", Value: int32(i)}})
	}
	if _, err := remote.Collection("c").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	s := startSyncer(t, ctx, Config{Local: local, Remote: remote, Collections: []string{"c"}, BatchSize: 100,
		OnBootstrap: func(p BootstrapProgress) {
			if p.Done {
				copied.Store(p.Copied)
				done.Store(true)
			}
		}})
	sameContents(t, ctx, lc, remote.Collection("c"), 300)
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if copied.Load() != 300 {
		t.Fatalf("bootstrap copied %d, want 300", copied.Load())
	}
	if n := finds.Load(); n != 0 {
		t.Fatalf("%d reads of local documents after the bootstrap, want 0 (its echoes are skipped)", n)
	}
	// A write of the application is not an echo.
	if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: "app"}}); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, lc, remote.Collection("c"), 301)
}

func TestOwnWrites(t *testing.T) {
	var o ownWrites
	id := func(v any) bson.RawValue {
		typ, data, err := bson.MarshalValue(v)
		if err != nil {
			t.Fatal(err)
		}
		return bson.RawValue{Type: typ, Value: data}
	}
	ts := bson.Timestamp{T: 10, I: 1}
	o.add(&ts, "c", id(int32(1)), id("x"))
	o.add(nil, "c", id(int32(2)))
	for _, c := range []struct {
		ts   bson.Timestamp
		coll string
		id   any
		want bool
	}{
		{ts, "c", int32(1), true}, {ts, "c", "x", true},
		{ts, "c", int32(2), false}, {ts, "d", int32(1), false}, {ts, "c", int64(1), false},
		{bson.Timestamp{T: 10, I: 2}, "c", int32(1), false},
	} {
		if got := o.has(c.ts, c.coll, id(c.id)); got != c.want {
			t.Errorf("has(%v, %s, %v) = %v, want %v", c.ts, c.coll, c.id, got, c.want)
		}
	}
	for i := range ownWritesCap {
		o.add(&bson.Timestamp{T: 20, I: uint32(i)}, "c", id(int32(1)))
	}
	if o.has(ts, "c", id(int32(1))) || !o.has(bson.Timestamp{T: 20, I: ownWritesCap - 1}, "c", id(int32(1))) {
		t.Errorf("the oldest commit is not forgotten first beyond %d", ownWritesCap)
	}
}

// A bootstrap batch settles a pending conflict the way a download does: the
// local side already holds the outcome (the remote's document, kept by a
// remote-won conflict whose log write never happened, as when the syncer
// stopped during the bootstrap's final upload of local documents), so the
// conflict took effect and is logged as the base moves. The batch compared
// versions only, and the remote document, written without mongotide, gets a
// new version at every handling: the conflict was dropped unlogged
// (TestChaosReplicas seed 6834088217738587107).
func TestBootstrapSettlesPendingConflictByContent(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	lc, rc := local.Collection("c"), remote.Collection("c")
	won := bson.D{{Key: "_id", Value: int32(1)}, {Key: "v", Value: "remote"}}
	for _, c := range []*mongo.Collection{lc, rc} {
		if _, err := c.InsertOne(ctx, won); err != nil {
			t.Fatal(err)
		}
	}
	c := Conflict{ID: "pending-1", Collection: "c", DocumentID: rawID(t, int32(1)), Kept: RemoteSide,
		Local: mustRaw(t, bson.D{{Key: "_id", Value: int32(1)}, {Key: "v", Value: "lost"}}), Remote: mustRaw(t, won),
		RemoteVersion: Version{HLC: 1, Replica: RemoteReplica}}
	if err := markPending(ctx, local.Collection(localDocsColl), "c", rawID(t, int32(1)), &pendingConflict{Conflict: &c, Result: c.RemoteVersion}); err != nil {
		t.Fatal(err)
	}
	var reported atomic.Int64
	s := startSyncer(t, ctx, Config{Local: local, Remote: remote, Collections: []string{"c"},
		OnConflict: func(Conflict) { reported.Add(1) }})
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := s.Conflicts(ctx, "c")
	if err != nil || len(list) != 1 || list[0].ID != "pending-1" {
		t.Fatalf("conflict log = %+v, %v; want the pending conflict", list, err)
	}
	if n := reported.Load(); n != 1 {
		t.Fatalf("OnConflict called %d times, want 1", n)
	}
	base, _, err := loadMeta(ctx, s.localDocs, "c", rawID(t, int32(1)))
	if err != nil || base.Pending != nil || base.Hash != contentHash(mustRaw(t, won)) {
		t.Fatalf("base = %+v, %v; want the remote document, nothing pending", base, err)
	}
}
