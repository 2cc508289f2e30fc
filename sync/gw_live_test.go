package sync_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	mtsync "github.com/mongotide/mongotide/sync"
	"github.com/mongotide/mongotide/sync/synctest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Live tests of syncing through a gateway beyond the conformance suite:
// the first sync of both sides' documents with exact types, a refused edit,
// and a cursor the gateway no longer takes.

func gwCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func gwDevice(t *testing.T, ctx context.Context, remote synctest.Remote, local *mongo.Database, colls []string, tweak func(*mtsync.Config)) *mtsync.Syncer {
	t.Helper()
	cfg := mtsync.Config{Local: local, Collections: colls, Backoff: synctest.FastBackoff}
	remote.Configure(t, &cfg)
	if tweak != nil {
		tweak(&cfg)
	}
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

// The first sync: the gateway's documents come down, the device's own
// (written before it ever synced) go up, every BSON type byte for byte
// (an int64 that fits in 32 bits stays an int64, -0.0 keeps its sign).
func TestGatewayFirstSyncBothWaysExactTypes(t *testing.T) {
	ctx := gwCtx(t)
	clock := &synctest.Clock{}
	remote := synctest.Gateway().Start(t, synctest.Setup{Collections: []string{"c"}, Clock: clock.Now})
	rc := remote.DB().Collection("c")
	local := synctest.NewLocal(t, clock.Now, "device")
	lc := local.Collection("c")
	dec, _ := bson.ParseDecimal128("1.50")
	typed := bson.D{{Key: "i64", Value: int64(5)}, {Key: "i32", Value: int32(5)}, {Key: "negz", Value: math.Copysign(0, -1)},
		{Key: "one", Value: 1.0}, {Key: "dec", Value: dec}, {Key: "at", Value: bson.NewDateTimeFromTime(time.UnixMilli(1700000000123))},
		{Key: "oid", Value: bson.ObjectID{1, 2, 3}}, {Key: "bin", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}},
		{Key: "nested", Value: bson.D{{Key: "a", Value: bson.A{int64(1), "x", nil}}}}}
	for i := range 3 {
		if _, err := rc.InsertOne(ctx, append(bson.D{{Key: "_id", Value: fmt.Sprintf("r%d", i)}}, typed...)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := lc.InsertOne(ctx, append(bson.D{{Key: "_id", Value: "l0"}}, typed...)); err != nil {
		t.Fatal(err)
	}
	s := gwDevice(t, ctx, remote, local, []string{"c"}, nil)
	synctest.SameContents(t, ctx, lc, rc, 4)
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	done, err := s.Bootstrapped(ctx)
	if err != nil || !done["c"] {
		t.Fatalf("Bootstrapped = %v, %v", done, err)
	}
	// Both ways, live.
	if _, err := lc.UpdateOne(ctx, bson.D{{Key: "_id", Value: "r1"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "i64", Value: int64(6)}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.DeleteOne(ctx, bson.D{{Key: "_id", Value: "r2"}}); err != nil {
		t.Fatal(err)
	}
	synctest.SameContents(t, ctx, lc, rc, 3)
	for _, op := range []func() error{
		func() error { _, err := s.Verify(ctx); return err },
		func() error { _, err := s.Replicas(ctx); return err },
		func() error { _, err := s.Compact(ctx); return err },
	} {
		if err := op(); !errors.Is(err, mtsync.ErrGatewayRemote) {
			t.Fatalf("a database-only operation through a gateway: %v, want ErrGatewayRemote", err)
		}
	}
}

// A local edit the gateway refuses (no write access) is logged as refused
// and reported, is not sent again, and gives way to the next remote change
// of the document.
func TestGatewayRefusedEditIsLogged(t *testing.T) {
	ctx := gwCtx(t)
	clock := &synctest.Clock{}
	remote := synctest.Gateway().Start(t, synctest.Setup{Collections: []string{"c"}, ReadOnly: []string{"ro"}, Clock: clock.Now})
	rro := remote.DB().Collection("ro")
	if _, err := rro.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "server"}}); err != nil {
		t.Fatal(err)
	}
	local := synctest.NewLocal(t, clock.Now, "device")
	lro := local.Collection("ro")
	var refused atomic.Int64
	var conflicts atomic.Int64
	s := gwDevice(t, ctx, remote, local, []string{"ro"}, func(c *mtsync.Config) {
		c.OnError = func(err error) {
			if errors.Is(err, mtsync.ErrRefused) {
				refused.Add(1)
			}
		}
		c.OnConflict = func(mtsync.Conflict) { conflicts.Add(1) }
	})
	synctest.SameContents(t, ctx, lro, rro, 1)
	if _, err := lro.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "mine"}}}}); err != nil {
		t.Fatal(err)
	}
	testenv.EventuallySays(t, 30*time.Second, "the refusal logged and reported", func() (bool, string) {
		log, err := s.Conflicts(ctx, "ro")
		return err == nil && len(log) == 1 && refused.Load() == 1 && conflicts.Load() == 1, fmt.Sprintf("log %+v (%v), refused %d", log, err, refused.Load())
	})
	log, _ := s.Conflicts(ctx, "ro")
	if c := log[0]; c.Reason != mtsync.ReasonRefused || c.Refusal == "" || c.Kept != mtsync.RemoteSide || c.Local == nil {
		t.Fatalf("refusal entry = %+v", c)
	}
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	var doc struct{ V string }
	if err := rro.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&doc); err != nil || doc.V != "server" {
		t.Fatalf("remote = %+v, %v: the refused edit must not land", doc, err)
	}
	// The next remote change of the document comes down over it.
	if _, err := rro.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "server2"}}}}); err != nil {
		t.Fatal(err)
	}
	synctest.SameContents(t, ctx, lro, rro, 1)
	if refused.Load() != 1 {
		t.Fatalf("refused reported %d times, want once (not sent again)", refused.Load())
	}
}

// A cursor the gateway no longer takes (here its cursor key changed) takes
// the snapshot again: a document deleted meanwhile is deleted locally, an
// updated one comes down, and a local edit made meanwhile survives and goes
// up.
func TestGatewayCursorRefusedTakesSnapshotAgain(t *testing.T) {
	ctx := gwCtx(t)
	clock := &synctest.Clock{}
	remote := synctest.Gateway().Start(t, synctest.Setup{Collections: []string{"c"}, Clock: clock.Now})
	rc := remote.DB().Collection("c")
	for i := range 4 {
		if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "v", Value: "start"}}); err != nil {
			t.Fatal(err)
		}
	}
	local := synctest.NewLocal(t, clock.Now, "device")
	lc := local.Collection("c")
	s := gwDevice(t, ctx, remote, local, []string{"c"}, nil)
	synctest.SameContents(t, ctx, lc, rc, 4)
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.DeleteOne(ctx, bson.D{{Key: "_id", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "remote"}}}}); err != nil {
		t.Fatal(err)
	}
	clock.Advance()
	if _, err := lc.UpdateOne(ctx, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "local"}}}}); err != nil {
		t.Fatal(err)
	}
	remote.(synctest.CursorKeyRotator).RotateCursorKey(t, ctx)
	var snapshots atomic.Int64
	s2 := gwDevice(t, ctx, remote, local, []string{"c"}, func(c *mtsync.Config) {
		c.OnBootstrap = func(p mtsync.BootstrapProgress) {
			if p.Done {
				snapshots.Add(1)
			}
		}
	})
	synctest.SameContents(t, ctx, lc, rc, 3)
	if err := s2.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[int]string{1: "remote", 2: "local", 3: "start"}
	for id, v := range want {
		var doc struct{ V string }
		if err := rc.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc); err != nil || doc.V != v {
			t.Fatalf("remote %d = %+v, %v; want %q", id, doc, err, v)
		}
	}
	if snapshots.Load() != 1 {
		t.Fatalf("%d snapshots taken, want 1 (taken again once)", snapshots.Load())
	}
}

// A first snapshot stopped after a page and resumed by a later start still
// uploads the local documents written before the first sync.
func TestGatewayResumedSnapshotUploadsLocalDocs(t *testing.T) {
	ctx := gwCtx(t)
	clock := &synctest.Clock{}
	remote := synctest.Gateway().Start(t, synctest.Setup{Collections: []string{"c"}, Clock: clock.Now})
	rc := remote.DB().Collection("c")
	for i := range 6 {
		if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	local := synctest.NewLocal(t, clock.Now, "device")
	lc := local.Collection("c")
	if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: "mine"}}); err != nil {
		t.Fatal(err)
	}
	var firstP atomic.Pointer[mtsync.Syncer]
	ready, stopped := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	first := gwDevice(t, ctx, remote, local, []string{"c"}, func(c *mtsync.Config) {
		c.BatchSize = 2
		c.OnBootstrap = func(p mtsync.BootstrapProgress) {
			if !p.Done && p.Copied > 0 && once.CompareAndSwap(false, true) {
				<-ready
				_ = firstP.Load().Stop(context.Background()) // from the callback: asks, returns at once
				close(stopped)
			}
		}
	})
	firstP.Store(first)
	close(ready)
	select {
	case <-stopped:
	case <-ctx.Done():
		t.Fatal("the first snapshot never reported a page")
	}
	select {
	case <-first.Done():
	case <-ctx.Done():
		t.Fatal("the first syncer did not stop")
	}
	if done, err := first.Bootstrapped(ctx); err != nil || done["c"] {
		t.Fatalf("Bootstrapped after a stop mid-snapshot = %v, %v; want false", done, err)
	}
	gwDevice(t, ctx, remote, local, []string{"c"}, nil)
	synctest.SameContents(t, ctx, lc, rc, 7)
}
