package sync

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func fastBackoff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 20 * time.Millisecond
	b.MaxInterval = 200 * time.Millisecond
	b.MaxElapsedTime = 0
	return b
}

// restartable is a remote embedded server that a test stops and restarts on
// the same address and data directory, with a client that follows it.
type restartable struct {
	cfg     embedded.Config
	running *embedded.Server
	client  *mongo.Client
}

func startRestartable(t *testing.T, ctx context.Context) *restartable {
	t.Helper()
	testenv.SkipIfExternal(t, "stopping and restarting the remote server")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rs := &restartable{cfg: embedded.Config{Addr: addr, Dir: t.TempDir()}}
	rs.restart(t, ctx)
	t.Cleanup(func() {
		if rs.running != nil {
			_ = rs.running.Stop(context.Background())
		}
	})
	rs.client = testenv.Connect(t, rs.running.URI(), options.Client().SetServerSelectionTimeout(time.Second))
	return rs
}

func (rs *restartable) stop(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := rs.running.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	rs.running = nil
}

func (rs *restartable) restart(t *testing.T, ctx context.Context) {
	t.Helper()
	srv, err := embedded.Start(ctx, rs.cfg)
	if err != nil {
		t.Fatalf("start remote on %s: %v", rs.cfg.Addr, err)
	}
	rs.running = srv
}

// The remote goes away: local writes go on, the syncer reports offline,
// and once the remote is back (restarted on its data directory) the pending
// local changes upload by themselves, without another local write.
func TestOfflineThenCatchUp(t *testing.T) {
	ctx := testCtx(t)
	rs := startRestartable(t, ctx)
	remote := rs.client.Database("offline")
	local := newDB(t, "local")
	lc := local.Collection("c")

	var offline, online atomic.Int64
	s := startSyncer(t, ctx, Config{
		Local: local, Remote: remote, Collections: []string{"c"}, Backoff: fastBackoff,
		OnOffline: func(error) { offline.Add(1) },
		OnOnline:  func() { online.Add(1) },
	})
	if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "before"}}); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, lc, remote.Collection("c"), 1)
	// The bootstrap may have copied the document and still be finishing;
	// until it has, changes are not counted as pending (the outage below
	// would then find nothing pending to report).
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}

	rs.stop(t, ctx)
	// Local writes go on while the remote is down.
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

	rs.restart(t, ctx)
	sameContents(t, ctx, lc, remote.Collection("c"), 4)
	if m := findOne(t, ctx, remote.Collection("c"), 1); m["v"] != "offline" {
		t.Fatalf("remote doc 1 = %v, want the offline edit", m)
	}
	eventually(t, "online again", func() (bool, string) {
		st, err := s.Status(ctx)
		return err == nil && st.Online && st.Collections[0].Pending == 0 && online.Load() >= 2,
			fmt.Sprintf("online calls=%d status=%+v", online.Load(), st)
	})
	// The download direction reconnected too.
	if _, err := remote.Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: "after"}}); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, lc, remote.Collection("c"), 5)
}

// With no local write pending, the remote's own change stream notices an
// outage (and its return); and Stop returns while the remote is down and an
// upload is stuck retrying, instead of waiting out the driver's own
// transaction retry loop (up to 120 s).
func TestOutageNoticedWithoutWritesAndStopWhileDown(t *testing.T) {
	ctx := testCtx(t)
	rs := startRestartable(t, ctx)
	remote := rs.client.Database("outage")
	local := newDB(t, "local")
	lc := local.Collection("c")

	var offline, online atomic.Int64
	s, err := New(Config{
		Local: local, Remote: remote, Collections: []string{"c"}, Backoff: fastBackoff,
		OnOffline: func(error) { offline.Add(1) },
		OnOnline:  func() { online.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "online reported", func() (bool, string) {
		return online.Load() > 0, fmt.Sprintf("online calls=%d", online.Load())
	})

	rs.stop(t, ctx)
	eventually(t, "offline reported with no local write", func() (bool, string) {
		st, err := s.Status(ctx)
		return err == nil && offline.Load() > 0 && !st.Online, fmt.Sprintf("offline calls=%d status=%+v err=%v", offline.Load(), st, err)
	})

	rs.restart(t, ctx)
	eventually(t, "online again with no local write", func() (bool, string) {
		st, err := s.Status(ctx)
		return err == nil && st.Online && online.Load() >= 2, fmt.Sprintf("online calls=%d status=%+v", online.Load(), st)
	})

	// Down again, with an upload that cannot land.
	rs.stop(t, ctx)
	if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: "stuck"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the upload is pending", func() (bool, string) {
		st, err := s.Status(ctx)
		return err == nil && st.Collections[0].Pending > 0, fmt.Sprintf("status=%+v err=%v", st, err)
	})
	// A bound on Stop is the behaviour under test: it must honour its
	// context's cancellation of the work, not outlive it.
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.Stop(sctx); err != nil {
		t.Fatalf("Stop while the remote is down: %v", err)
	}
}
