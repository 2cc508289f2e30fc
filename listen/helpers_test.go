package listen_test

import (
	"context"
	"fmt"
	"github.com/mongotide/mongotide/internal/testenv"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(envLeaseChild) != "" {
		os.Exit(runLeaseChild())
	}
	goleak.VerifyTestMain(m)
}

type Book struct {
	ID        any    `bson:"_id,omitempty"`
	Title     string `bson:"title"`
	N         int    `bson:"n"`
	Published bool   `bson:"published"`
}

var collSeq atomic.Int64

// newColl returns a fresh collection (unique database per call) on client.
func newColl(t *testing.T, client *mongo.Client) *mongo.Collection {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	db := fmt.Sprintf("lt_%s_%d", name, collSeq.Add(1))
	return client.Database(db).Collection("books")
}

// recorder collects events delivered to a handler.
type recorder struct {
	mu   sync.Mutex
	evs  []*listen.ChangeEvent[Book]
	ids  []string
	errs []error
}

func (r *recorder) handle(_ context.Context, id string, ev *listen.ChangeEvent[Book]) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
	r.ids = append(r.ids, id)
	return nil
}

func (r *recorder) onError(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.evs)
}

func (r *recorder) events() []*listen.ChangeEvent[Book] {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*listen.ChangeEvent[Book](nil), r.evs...)
}

func (r *recorder) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

func (r *recorder) waitN(t *testing.T, n int) []*listen.ChangeEvent[Book] {
	t.Helper()
	testenv.Eventually(t, waitTimeout, fmt.Sprintf("%d events", n), func() bool { return r.len() >= n })
	return r.events()
}

// ns returns the N field of each event's full document (-1 when absent).
func ns(evs []*listen.ChangeEvent[Book]) []int {
	out := make([]int, len(evs))
	for i, ev := range evs {
		out[i] = -1
		if ev.FullDocument != nil {
			out[i] = ev.FullDocument.N
		}
	}
	return out
}

func insertN(t *testing.T, coll *mongo.Collection, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := coll.InsertOne(context.Background(), Book{ID: i, Title: fmt.Sprint("b", i), N: i}); err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
}

func mustListen(t *testing.T, coll *mongo.Collection, h listen.Handler[Book], opts ...listen.Option) *listen.Subscription {
	t.Helper()
	sub, err := listen.Listen[Book](context.Background(), coll, h, opts...)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return sub
}

// failPoint configures failCommand and turns it off in Cleanup.
func failPoint(t *testing.T, client *mongo.Client, mode any, data bson.D) {
	t.Helper()
	admin := client.Database("admin")
	cmd := bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: mode}, {Key: "data", Value: data}}
	if err := admin.RunCommand(context.Background(), cmd).Err(); err != nil {
		t.Fatalf("configureFailPoint: %v", err)
	}
	t.Cleanup(func() {
		off := bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"}}
		_ = admin.RunCommand(context.Background(), off).Err()
	})
}

func times(n int) bson.D { return bson.D{{Key: "times", Value: n}} }

// checkSequence asserts got is exactly 0..n-1 in order.
func checkSequence(t *testing.T, got []int, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d events %v, want %d", len(got), got, n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("event %d is n=%d, want %d (all: %v)", i, v, i, got)
		}
	}
}

// waitTimeout bounds every wait on a condition: generous, a bound for a
// broken run on a loaded machine, not a schedule.
const waitTimeout = 30 * time.Second
