package model_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/listen"
	"github.com/mongotide/mongotide/model"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type Book struct {
	ID        bson.ObjectID `bson:"_id,omitempty"`
	Title     string        `bson:"title"`
	Year      int           `bson:"year"`
	Published bool          `bson:"published"`
}

var seq atomic.Int64

func books(t *testing.T) *model.Model[Book] {
	t.Helper()
	db := fmt.Sprintf("model_%d", seq.Add(1))
	return model.New[Book](testenv.Client(t).Database(db).Collection("books"))
}

func TestCRUD(t *testing.T) {
	ctx := context.Background()
	m := books(t)
	id, err := m.Create(ctx, Book{Title: "Dune", Year: 1965})
	if err != nil {
		t.Fatal(err)
	}
	oid, ok := id.(bson.ObjectID)
	if !ok {
		t.Fatalf("Create returned %T, want a generated ObjectID", id)
	}
	for _, b := range []Book{{Title: "Emma", Year: 1815}, {Title: "Ubik", Year: 1969}} {
		if _, err := m.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	got, err := m.FindByID(ctx, oid)
	if err != nil || got.Title != "Dune" || got.ID != oid {
		t.Fatalf("FindByID = %+v, %v", got, err)
	}
	found, err := m.Find(ctx, bson.D{{Key: "year", Value: bson.D{{Key: "$gt", Value: 1900}}}}, bson.D{{Key: "year", Value: -1}})
	if err != nil || len(found) != 2 || found[0].Title != "Ubik" || found[1].Title != "Dune" {
		t.Fatalf("Find = %+v, %v", found, err)
	}
	if n, err := m.Count(ctx, nil); err != nil || n != 3 {
		t.Fatalf("Count = %d, %v", n, err)
	}
	if err := m.Update(ctx, oid, bson.D{{Key: "$set", Value: bson.D{{Key: "published", Value: true}}}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.FindByID(ctx, oid); !got.Published {
		t.Fatal("Update did not apply")
	}
	if err := m.Replace(ctx, oid, Book{Title: "Dune (2nd ed.)", Year: 1966}); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, oid); err != nil {
		t.Fatal(err)
	}
	missing := bson.NewObjectID()
	if _, err := m.FindByID(ctx, oid); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("FindByID after Delete = %v, want ErrNotFound", err)
	}
	if err := m.Update(ctx, missing, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}}); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("Update(missing) = %v", err)
	}
	if err := m.Delete(ctx, missing); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("Delete(missing) = %v", err)
	}
	if all, err := m.Find(ctx, nil, nil); err != nil || len(all) != 2 {
		t.Fatalf("Find(all) = %+v, %v", all, err)
	}
}

type calls struct {
	mu  sync.Mutex
	got []string
}

func (c *calls) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, s)
}

func (c *calls) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

func TestListenHelpers(t *testing.T) {
	ctx := context.Background()
	m := books(t)
	var ins, upd, del, all calls
	subs := []func() (*listen.Subscription, error){
		func() (*listen.Subscription, error) {
			return m.ListenForInserts(ctx, func(_ context.Context, id string, b Book) error { ins.add(b.Title); return nil })
		},
		func() (*listen.Subscription, error) {
			return m.ListenForUpdates(ctx, func(_ context.Context, id string, ev *listen.ChangeEvent[Book]) error {
				upd.add(fmt.Sprintf("%s:%s:%v", ev.OperationType, ev.FullDocument.Title, ev.FullDocument.Published))
				return nil
			})
		},
		func() (*listen.Subscription, error) {
			return m.ListenForDeletes(ctx, func(_ context.Context, id string) error { del.add(id); return nil })
		},
		func() (*listen.Subscription, error) {
			return m.ListenForChanges(ctx, func(_ context.Context, id string, ev *listen.ChangeEvent[Book]) error {
				all.add(string(ev.OperationType))
				return nil
			})
		},
	}
	for _, s := range subs {
		sub, err := s()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := sub.Unsubscribe(); err != nil {
				t.Error(err)
			}
		})
	}
	id, err := m.Create(ctx, Book{Title: "Dune"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Update(ctx, id, bson.D{{Key: "$set", Value: bson.D{{Key: "published", Value: true}}}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitTimeout, "the update", func() bool { return len(upd.list()) == 1 })
	if err := m.Replace(ctx, id, Book{Title: "Dune II"}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitTimeout, "the replace", func() bool { return len(upd.list()) == 2 })
	if err := m.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitTimeout, "all four events", func() bool { return len(all.list()) == 4 })
	testenv.Eventually(t, waitTimeout, "the delete", func() bool { return len(del.list()) == 1 })
	if got := ins.list(); len(got) != 1 || got[0] != "Dune" {
		t.Fatalf("inserts = %v", got)
	}
	if got := upd.list(); got[0] != "update:Dune:true" || got[1] != "replace:Dune II:false" {
		t.Fatalf("updates = %v", got)
	}
	if got := del.list(); got[0] != id.(bson.ObjectID).Hex() {
		t.Fatalf("deletes = %v, want [%s]", got, id.(bson.ObjectID).Hex())
	}
	// The insert-only, delete-only and all-events listeners share one
	// server stream; updates (updateLookup) need a second.
	if n := m.Hub().StreamCount(); n != 2 {
		t.Fatalf("model holds %d server streams, want 2", n)
	}
}

func TestNilArguments(t *testing.T) {
	m := model.New[Book](nil)
	if _, err := m.ListenForChanges(context.Background(), func(context.Context, string, *listen.ChangeEvent[Book]) error { return nil }); err == nil {
		t.Fatal("ListenForChanges on a nil collection succeeded")
	}
	var coll *mongo.Collection
	if _, err := model.New[Book](coll).ListenForInserts(context.Background(), nil); err == nil {
		t.Fatal("nil handler accepted")
	}
}

// The typed helpers keep their own operation types whatever options say.
func TestHelpersOverrideOperationTypes(t *testing.T) {
	ctx := context.Background()
	m := books(t)
	var ins calls
	sub, err := m.ListenForInserts(ctx, func(_ context.Context, _ string, b Book) error { ins.add(b.Title); return nil },
		listen.WithOperationTypes(listen.Update, listen.Delete), listen.WithOnError(func(err error) { ins.add("error: " + err.Error()) }))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	id, err := m.Create(ctx, Book{Title: "A"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Update(ctx, id, bson.D{{Key: "$set", Value: bson.D{{Key: "year", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(ctx, Book{Title: "B"}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitTimeout, "the second insert", func() bool { return len(ins.list()) >= 2 })
	if got := ins.list(); len(got) != 2 || got[0] != "A" || got[1] != "B" {
		t.Fatalf("ListenForInserts saw %v", got)
	}
}

// waitTimeout bounds every wait on a condition: generous, a bound for a
// broken run on a loaded machine, not a schedule.
const waitTimeout = 30 * time.Second
