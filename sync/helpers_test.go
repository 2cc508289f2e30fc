package sync

import (
	"context"
	"fmt"
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

// newDB returns a fresh database on its own embedded server (or, against
// MONGOTIDE_TEST_URI, a uniquely named database on that server).
func newDB(t *testing.T, name string) *mongo.Database {
	t.Helper()
	return newDBTB(t, name)
}

func newDBTB(t testing.TB, name string) *mongo.Database {
	t.Helper()
	var uri string
	if testenv.UsingExternal() {
		uri = testenv.URI(t)
	} else {
		uri = testenv.StartEmbedded(t, embedded.Config{Clock: clockOf(t).Now}).URI()
	}
	client := testenv.Connect(t, uri, options.Client())
	dbName := fmt.Sprintf("sync_%s_%s_%d", strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()), name, time.Now().UnixNano()%1e6)
	if len(dbName) > 60 {
		dbName = dbName[len(dbName)-60:]
	}
	return client.Database(dbName)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually waits until cond holds (testenv.Eventually); cond also says
// what it saw, which a failure reports.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	testenv.EventuallySays(t, 30*time.Second, what, cond)
}

// dump returns coll's documents as raw BSON keyed by their _id's extended
// JSON, for exact comparisons.
func dump(t *testing.T, ctx context.Context, coll *mongo.Collection) map[string]string {
	t.Helper()
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		t.Fatalf("find in %s: %v", coll.Name(), err)
	}
	defer cur.Close(ctx)
	out := map[string]string{}
	for cur.Next(ctx) {
		out[cur.Current.Lookup("_id").String()] = string(cur.Current)
	}
	if err := cur.Err(); err != nil {
		t.Fatalf("cursor on %s: %v", coll.Name(), err)
	}
	return out
}

// sameContents waits until a and b hold byte-identical documents.
func sameContents(t *testing.T, ctx context.Context, a, b *mongo.Collection, wantCount int) {
	t.Helper()
	eventually(t, "both sides identical", func() (bool, string) {
		da, db := dump(t, ctx, a), dump(t, ctx, b)
		if len(da) != wantCount || len(db) != wantCount {
			return false, fmt.Sprintf("%d and %d documents, want %d", len(da), len(db), wantCount)
		}
		for k, v := range da {
			if db[k] != v {
				return false, fmt.Sprintf("document %s differs", k)
			}
		}
		return true, ""
	})
}

func startSyncer(t *testing.T, ctx context.Context, cfg Config) *Syncer {
	t.Helper()
	s, err := New(withClock(t, cfg))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

// startSynced starts a Syncer (stopped at the test's end) and waits until
// it has synced everything written before.
func startSynced(t *testing.T, ctx context.Context, cfg Config) *Syncer {
	t.Helper()
	s := startSyncer(t, ctx, cfg)
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatalf("WaitSynced: %v", err)
	}
	return s
}

func findOne(t *testing.T, ctx context.Context, coll *mongo.Collection, id any) bson.M {
	t.Helper()
	var m bson.M
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&m)
	if err == mongo.ErrNoDocuments {
		return nil
	}
	if err != nil {
		t.Fatalf("findOne: %v", err)
	}
	return m
}

// testClock is a test's wall clock: real time plus an offset the test moves
// forward, so an edit is made "later" than another without waiting. The
// embedded servers of newDB and the syncers the helpers build share it
// (an edit's version is its server's commit time; the syncer's own clock
// versions the rest). Against MONGOTIDE_TEST_URI the server's clock cannot
// be moved: Advance then waits for real time to pass instead.
type testClock struct {
	off      atomic.Int64
	external bool
}

func (c *testClock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// Advance moves the clock past every time read from it so far by more than
// millisecond rounding, so the next write is unambiguously later.
func (c *testClock) Advance() {
	const step = 20 * time.Millisecond
	if !c.external {
		c.off.Add(int64(step))
		return
	}
	t0 := time.Now()
	for time.Since(t0) < step {
		time.Sleep(time.Millisecond)
	}
}

// clocks holds each running test's clock (tests that run in parallel each
// get their own).
var clocks gosync.Map // testing.TB -> *testClock

// clockOf returns tb's clock, made on first use and dropped when tb ends.
func clockOf(tb testing.TB) *testClock {
	if c, ok := clocks.Load(tb); ok {
		return c.(*testClock)
	}
	c, loaded := clocks.LoadOrStore(tb, &testClock{external: testenv.UsingExternal()})
	if !loaded {
		tb.Cleanup(func() { clocks.Delete(tb) })
	}
	return c.(*testClock)
}

// withClock gives cfg tb's clock unless it has one.
func withClock(tb testing.TB, cfg Config) Config {
	if cfg.Clock == nil {
		cfg.Clock = clockOf(tb).Now
	}
	return cfg
}

// Jump moves tb's clock (and the servers' cluster time with it) forward by
// d; false against MONGOTIDE_TEST_URI, whose clock cannot be moved.
func (c *testClock) Jump(d time.Duration) bool {
	if c.external {
		return false
	}
	c.off.Add(int64(d))
	return true
}
