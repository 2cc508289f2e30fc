package listen_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestDeliversTypedEvents(t *testing.T) {
	ctx := context.Background()
	coll := newColl(t, testenv.Client(t))
	var r recorder
	mustListen(t, coll, r.handle, listen.WithFullDocument(options.UpdateLookup))

	oid := bson.NewObjectID()
	if _, err := coll.InsertOne(ctx, Book{ID: oid, Title: "Dune", N: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: oid}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 2}}}, {Key: "$unset", Value: bson.D{{Key: "title", Value: ""}}}}); err != nil {
		t.Fatal(err)
	}
	// updateLookup reads the document when the event is returned, so wait
	// before deleting it (MongoDB would return null too).
	r.waitN(t, 2)
	if _, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: oid}}, Book{Title: "Dune Messiah", N: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: oid}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, Book{ID: "isbn-1", N: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, Book{ID: int32(42), N: 6}); err != nil {
		t.Fatal(err)
	}
	evs := r.waitN(t, 6)
	wantOps := []listen.OperationType{listen.Insert, listen.Update, listen.Replace, listen.Delete, listen.Insert, listen.Insert}
	for i, want := range wantOps {
		if evs[i].OperationType != want {
			t.Fatalf("event %d op = %s, want %s", i, evs[i].OperationType, want)
		}
	}
	r.mu.Lock()
	ids := append([]string(nil), r.ids...)
	r.mu.Unlock()
	if ids[0] != oid.Hex() || ids[4] != "isbn-1" || ids[5] != `{"$numberInt":"42"}` {
		t.Fatalf("ids = %q", ids)
	}
	ins := evs[0]
	if ins.FullDocument == nil || ins.FullDocument.Title != "Dune" || ins.FullDocument.N != 1 {
		t.Fatalf("insert fullDocument = %+v", ins.FullDocument)
	}
	if ins.ID == nil || ins.ClusterTime.T == 0 || ins.WallTime.IsZero() || ins.NS.Coll != coll.Name() || ins.NS.DB != coll.Database().Name() {
		t.Fatalf("insert metadata: id=%v ct=%v wall=%v ns=%v", ins.ID, ins.ClusterTime, ins.WallTime, ins.NS)
	}
	if _, err := ins.ID.LookupErr("_data"); err != nil {
		t.Fatalf("resume token %v has no _data", ins.ID)
	}
	upd := evs[1]
	if upd.UpdateDescription == nil {
		t.Fatal("update without UpdateDescription")
	}
	if v, err := upd.UpdateDescription.UpdatedFields.LookupErr("n"); err != nil || v.Int32() != 2 {
		t.Fatalf("updatedFields = %v", upd.UpdateDescription.UpdatedFields)
	}
	if len(upd.UpdateDescription.RemovedFields) != 1 || upd.UpdateDescription.RemovedFields[0] != "title" {
		t.Fatalf("removedFields = %v", upd.UpdateDescription.RemovedFields)
	}
	if upd.FullDocument == nil || upd.FullDocument.N != 2 {
		t.Fatalf("update lookup fullDocument = %+v", upd.FullDocument)
	}
	if evs[2].FullDocument == nil || evs[2].FullDocument.Title != "Dune Messiah" {
		t.Fatalf("replace fullDocument = %+v", evs[2].FullDocument)
	}
	if evs[3].FullDocument != nil || evs[3].DocumentKey == nil {
		t.Fatalf("delete: fullDocument=%+v documentKey=%v", evs[3].FullDocument, evs[3].DocumentKey)
	}
	if len(evs[0].Raw) == 0 || evs[0].Raw.Lookup("operationType").StringValue() != "insert" {
		t.Fatalf("Raw = %v", evs[0].Raw)
	}
}

// Every write committed after Listen returns must be delivered, even when
// it is issued immediately.
func TestGapFreeStart(t *testing.T) {
	client := testenv.Client(t)
	for round := 0; round < 20; round++ {
		coll := newColl(t, client)
		var r recorder
		sub := mustListen(t, coll, r.handle)
		insertN(t, coll, 0, 1)
		if got := ns(r.waitN(t, 1)); got[0] != 0 {
			t.Fatalf("round %d: got %v", round, got)
		}
		if err := sub.Unsubscribe(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOperationTypesAndFilter(t *testing.T) {
	ctx := context.Background()
	coll := newColl(t, testenv.Client(t))
	var all, inserts, published recorder
	hub := listen.NewHub()
	mustListen(t, coll, all.handle, listen.WithHub(hub))
	mustListen(t, coll, inserts.handle, listen.WithHub(hub), listen.WithOperationTypes(listen.Insert))
	mustListen(t, coll, published.handle, listen.WithHub(hub), listen.WithFilter(bson.D{{Key: "published", Value: true}}))

	for i := 0; i < 4; i++ {
		if _, err := coll.InsertOne(ctx, Book{ID: i, N: i, Published: i%2 == 0}); err != nil {
			t.Fatal(err)
		}
	}
	// Update 1 to published: the filter sees the looked-up document.
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "published", Value: true}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: 3}}); err != nil {
		t.Fatal(err)
	}
	all.waitN(t, 6)
	if _, err := coll.InsertOne(ctx, Book{ID: 99, N: 99, Published: true}); err != nil {
		t.Fatal(err)
	}
	// The marker insert arrives last on every listener, so anything that
	// should have been filtered out would already be there.
	all.waitN(t, 7)
	if got := ns(inserts.waitN(t, 5)); len(got) != 5 || got[4] != 99 {
		t.Fatalf("insert-only listener got %v", got)
	}
	for _, ev := range inserts.events() {
		if ev.OperationType != listen.Insert {
			t.Fatalf("insert-only listener got %s", ev.OperationType)
		}
	}
	got := published.waitN(t, 4)
	testenv.Eventually(t, waitTimeout, "published listener settles", func() bool { return ns(published.events())[len(published.events())-1] == 99 })
	if n := ns(published.events()); len(n) != 4 || n[0] != 0 || n[1] != 2 || n[2] != 1 || n[3] != 99 {
		t.Fatalf("published listener got %v (%d events)", n, len(got))
	}
	if hub.StreamCount() != 2 {
		// all and inserts share; the filter implies updateLookup, a
		// different server-side option.
		t.Fatalf("hub has %d streams, want 2", hub.StreamCount())
	}
}

func TestInvalidConfig(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	h := func(context.Context, string, *listen.ChangeEvent[Book]) error { return nil }
	cases := map[string][]listen.Option{
		"WithBufferSize":           {listen.WithBufferSize(-1)},
		"WithSlowListenerPolicy":   {listen.WithSlowListenerPolicy(7)},
		"WithOperationTypes":       {listen.WithOperationTypes("upsert")},
		"WithResumeStore":          {listen.WithResumeStore(nil, "k")},
		"WithConcurrency":          {listen.WithConcurrency(-2)},
		"WithFullDocument":         {listen.WithFullDocument("sometimes")},
		"WithHandlerAttempts":      {listen.WithHandlerAttempts(-1)},
		"WithCheckpointEvery":      {listen.WithCheckpointEvery(-1)},
		"WithCheckpointInterval":   {listen.WithCheckpointInterval(-time.Second)},
		"WithHandlerFailurePolicy": {listen.WithHandlerFailurePolicy(9)},
	}
	for want, opts := range cases {
		_, err := listen.Listen[Book](context.Background(), coll, h, opts...)
		if !errors.Is(err, listen.ErrInvalidConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("options for %s: err = %v, want ErrInvalidConfig naming %q", want, err, want)
		}
	}
	if _, err := listen.Listen[Book](context.Background(), coll, nil); err == nil {
		t.Error("nil handler accepted")
	}
	if _, err := listen.Listen[Book](context.Background(), coll, h, listen.WithFilter(bson.D{{Key: "$bogus", Value: 1}})); err == nil {
		t.Error("bad filter accepted")
	}
}

func TestBadPipelineFailsListen(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	_, err := listen.Listen[Book](context.Background(), coll,
		func(context.Context, string, *listen.ChangeEvent[Book]) error { return nil },
		listen.WithPipeline([]bson.D{{{Key: "$frobnicate", Value: 1}}}))
	if err == nil {
		t.Fatal("Listen with a bad pipeline succeeded")
	}
	if !strings.Contains(err.Error(), coll.Database().Name()) {
		t.Fatalf("error %q does not name the namespace", err)
	}
}

// The ctx given to Listen bounds the start only: cancelling it later does
// not stop the subscription (Stop does), and the handlers' context keeps
// its values.
func TestStatsAndStartContextBoundsStartOnly(t *testing.T) {
	coll := newColl(t, testenv.Client(t))
	type key struct{}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	var r recorder
	var sawValue atomic.Bool
	sub, err := listen.Listen[Book](ctx, coll, func(hctx context.Context, id string, ev *listen.ChangeEvent[Book]) error {
		sawValue.Store(hctx.Value(key{}) == "v" && hctx.Err() == nil)
		return r.handle(hctx, id, ev)
	})
	if err != nil {
		t.Fatal(err)
	}
	insertN(t, coll, 0, 3)
	r.waitN(t, 3)
	testenv.Eventually(t, waitTimeout, "stats", func() bool { return sub.Stats().Delivered == 3 })
	st := sub.Stats()
	if st.LastClusterTime.T == 0 || st.Lag < 0 {
		t.Fatalf("stats = %+v", st)
	}
	cancel()
	insertN(t, coll, 3, 5)
	r.waitN(t, 5)
	if sub.Err() != nil {
		t.Fatalf("Err after the start ctx was cancelled = %v", sub.Err())
	}
	if !sawValue.Load() {
		t.Fatal("the handler's context lost the start ctx's values or was cancelled with it")
	}
	if err := sub.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sub.Err() != nil {
		t.Fatalf("Err after Stop = %v, want nil", sub.Err())
	}
}
