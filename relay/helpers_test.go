package relay_test

import (
	"context"
	"fmt"
	"github.com/mongotide/mongotide/embedded"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/mongotide/mongotide/internal/redistest"
	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/relay"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(envChild); role != "" {
		os.Exit(runChild(role))
	}
	goleak.VerifyTestMain(m)
}

func embeddedConfig() embedded.Config { return embedded.Config{} }

type Item struct {
	ID any    `bson:"_id"`
	N  int    `bson:"n"`
	S  string `bson:"s,omitempty"`
}

// env is one test's Redis server and MongoDB collection.
type env struct {
	rdb  *redis.Client
	coll *mongo.Collection
	name string
}

func setup(t *testing.T) *env {
	t.Helper()
	client := testenv.Client(t)
	db := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	if len(db) > 40 {
		db = db[:40]
	}
	db = fmt.Sprintf("relay_%s_%d", db, time.Now().UnixNano()%1e6)
	coll := client.Database(db).Collection("items")
	ctx := testCtx(t)
	// Create it first: a change stream on a missing database's collection
	// is fine, but tests compare counts against it.
	if err := coll.Database().CreateCollection(ctx, "items"); err != nil {
		t.Fatal(err)
	}
	return &env{rdb: redistest.Client(t), coll: coll, name: db + ".items"}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	testenv.EventuallySays(t, 30*time.Second, what, cond)
}

func (e *env) publisher(t *testing.T, mod func(*relay.PublisherConfig)) *relay.Publisher {
	t.Helper()
	cfg := relay.PublisherConfig{Collection: e.coll, Redis: e.rdb, Partitions: 4}
	if mod != nil {
		mod(&cfg)
	}
	p, err := relay.NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	return p
}

// entries returns every entry of the relay's partitions.
func (e *env) entries(t *testing.T, partitions int) []redis.XMessage {
	t.Helper()
	var all []redis.XMessage
	for p := range partitions {
		key := fmt.Sprintf("%s{%s:%d}", relay.DefaultKeyPrefix, e.name, p)
		msgs, err := e.rdb.XRange(context.Background(), key, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, msgs...)
	}
	sort.Slice(all, func(i, j int) bool { return idLess(all[i].ID, all[j].ID) })
	return all
}

func idLess(a, b string) bool {
	var am, as, bm, bs uint64
	fmt.Sscanf(a, "%d-%d", &am, &as)
	fmt.Sscanf(b, "%d-%d", &bm, &bs)
	if am != bm {
		return am < bm
	}
	return as < bs
}

// handled records handled events by document and in order.
type handled struct {
	mu    sync.Mutex
	evs   []*listen.ChangeEvent[Item]
	byKey map[string][]int
}

func (h *handled) handle(_ context.Context, id string, ev *listen.ChangeEvent[Item]) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byKey == nil {
		h.byKey = map[string][]int{}
	}
	h.evs = append(h.evs, ev)
	n := -1 // a delete
	switch {
	case ev.UpdateDescription != nil:
		n = int(ev.UpdateDescription.UpdatedFields.Lookup("n").AsInt64())
	case ev.FullDocument != nil:
		n = ev.FullDocument.N
	}
	h.byKey[id] = append(h.byKey[id], n)
	return nil
}

func (h *handled) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.evs)
}

// tokens returns the resume tokens handled, as strings, with their counts.
func (h *handled) tokens() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := map[string]int{}
	for _, ev := range h.evs {
		m[string(ev.ID)]++
	}
	return m
}

func insert(t *testing.T, coll *mongo.Collection, docs ...Item) {
	t.Helper()
	for _, d := range docs {
		if _, err := coll.InsertOne(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
}

func set(t *testing.T, coll *mongo.Collection, id any, n int) {
	t.Helper()
	if _, err := coll.UpdateOne(context.Background(), bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: n}}}}); err != nil {
		t.Fatal(err)
	}
}

func stop(t *testing.T, s interface{ Stop(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

type backoffT = backoff.BackOff

// zeroBackoff retries at once.
type zeroBackoff struct{}

func (zeroBackoff) NextBackOff() time.Duration { return 0 }
func (zeroBackoff) Reset()                     {}
