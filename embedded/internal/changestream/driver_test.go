package changestream_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// These tests go through the real v2 driver and the embedded server (or the
// server named by MONGOTIDE_TEST_URI).

func dbName(t *testing.T) string {
	return strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
}

func insertN(t *testing.T, coll *mongo.Collection, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := coll.InsertOne(t.Context(), bson.D{{Key: "_id", Value: int32(i)}}); err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
}

// readIDs reads n events and returns their documentKey._id values.
func readIDs(t *testing.T, cs *mongo.ChangeStream, n int) []int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var ids []int32
	for len(ids) < n {
		if !cs.Next(ctx) {
			t.Fatalf("change stream ended after %d of %d events: %v", len(ids), n, cs.Err())
		}
		ids = append(ids, cs.Current.Lookup("documentKey", "_id").Int32())
	}
	return ids
}

func wantSeq(t *testing.T, got []int32, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Fatalf("got %d events %v, want ids %d..%d", len(got), got, from, to-1)
	}
	for i, id := range got {
		if int(id) != from+i {
			t.Fatalf("got ids %v, want %d..%d in order, no gaps or duplicates", got, from, to-1)
		}
	}
}

func failCommand(t *testing.T, client *mongo.Client, data bson.D) {
	t.Helper()
	admin := client.Database("admin")
	err := admin.RunCommand(t.Context(), bson.D{
		{Key: "configureFailPoint", Value: "failCommand"},
		{Key: "mode", Value: bson.D{{Key: "times", Value: int32(1)}}},
		{Key: "data", Value: data},
	}).Err()
	if err != nil {
		t.Fatalf("configureFailPoint: %v", err)
	}
	t.Cleanup(func() {
		_ = admin.RunCommand(context.Background(), bson.D{
			{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"},
		}).Err()
	})
}

func TestDriverResumeAfterSocketKill(t *testing.T) {
	client := testenv.Client(t)
	coll := client.Database(dbName(t)).Collection("c")
	cs, err := coll.Watch(t.Context(), mongo.Pipeline{}, options.ChangeStream().SetBatchSize(3).SetMaxAwaitTime(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(context.Background())

	insertN(t, coll, 0, 10)
	got := readIDs(t, cs, 5)
	failCommand(t, client, bson.D{{Key: "failCommands", Value: bson.A{"getMore"}}, {Key: "closeConnection", Value: true}})
	insertN(t, coll, 10, 20)
	got = append(got, readIDs(t, cs, 15)...)
	wantSeq(t, got, 0, 20)
}

func TestDriverResumeWithSavedToken(t *testing.T) {
	client := testenv.Client(t)
	coll := client.Database(dbName(t)).Collection("c")
	other := client.Database(dbName(t)).Collection("other")
	cs, err := coll.Watch(t.Context(), mongo.Pipeline{}, options.ChangeStream().SetMaxAwaitTime(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	insertN(t, coll, 0, 6)
	wantSeq(t, readIDs(t, cs, 4), 0, 4)
	saved := cs.ResumeToken()
	if err := cs.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	insertN(t, coll, 6, 9)

	for _, opts := range []*options.ChangeStreamOptionsBuilder{
		options.ChangeStream().SetResumeAfter(saved), options.ChangeStream().SetStartAfter(saved),
	} {
		r, err := coll.Watch(t.Context(), mongo.Pipeline{}, opts.SetMaxAwaitTime(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		wantSeq(t, readIDs(t, r, 5), 4, 9)
		_ = r.Close(t.Context())
	}

	// A quiet stream's token still advances (postBatchResumeToken), so it
	// never goes stale while other collections are written.
	quiet, err := coll.Watch(t.Context(), mongo.Pipeline{}, options.ChangeStream().SetMaxAwaitTime(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close(context.Background())
	first := fmt.Sprint(quiet.ResumeToken())
	if _, err := other.InsertOne(t.Context(), bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for fmt.Sprint(quiet.ResumeToken()) == first {
		if time.Now().After(deadline) {
			t.Fatal("resume token of an idle stream did not advance past other collections' writes")
		}
		if quiet.TryNext(t.Context()) {
			t.Fatalf("unexpected event %s", quiet.Current)
		}
	}
}

func TestDriverServerErrors(t *testing.T) {
	client := testenv.Client(t)
	coll := client.Database(dbName(t)).Collection("c")
	_, err := coll.Watch(t.Context(), mongo.Pipeline{{{Key: "$unsupported", Value: "foo"}}})
	var ce mongo.CommandError
	if !asCommandError(err, &ce) || ce.Code != 40324 {
		t.Fatalf("unknown stage: %v", err)
	}
	_, err = coll.Watch(t.Context(), mongo.Pipeline{}, options.ChangeStream().SetResumeAfter(bson.D{{Key: "_data", Value: "zz"}}))
	if !asCommandError(err, &ce) || ce.Code != 9 {
		t.Fatalf("bad token: %v", err)
	}

	cs, err := coll.Watch(t.Context(), mongo.Pipeline{{{Key: "$project", Value: bson.D{{Key: "_id", Value: 0}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(context.Background())
	insertN(t, coll, 0, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if cs.Next(ctx) {
		t.Fatalf("event without _id was returned: %s", cs.Current)
	}
	var se mongo.ServerError
	if !asServerError(cs.Err(), &se) || !se.HasErrorCode(280) || !se.HasErrorLabel("NonResumableChangeStreamError") {
		t.Fatalf("projecting out _id: %v", cs.Err())
	}
}

func TestDriverInvalidateAndStartAfter(t *testing.T) {
	client := testenv.Client(t)
	db := client.Database(dbName(t))
	coll := db.Collection("c")
	insertN(t, coll, 0, 1) // the collection exists before the stream opens
	cs, err := coll.Watch(t.Context(), mongo.Pipeline{}, options.ChangeStream().SetMaxAwaitTime(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(context.Background())
	insertN(t, coll, 1, 2)
	if err := coll.Drop(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var ops []string
	for cs.Next(ctx) {
		ops = append(ops, cs.Current.Lookup("operationType").StringValue())
	}
	if fmt.Sprint(ops) != "[insert drop invalidate]" || cs.Err() != nil || cs.ID() != 0 {
		t.Fatalf("events %v, err %v, cursor id %d", ops, cs.Err(), cs.ID())
	}
	invalidate := cs.ResumeToken()

	_, err = coll.Watch(t.Context(), mongo.Pipeline{}, options.ChangeStream().SetResumeAfter(invalidate))
	var ce mongo.CommandError
	if !asCommandError(err, &ce) || ce.Code != 260 {
		t.Fatalf("resumeAfter an invalidate: %v", err)
	}
	r, err := coll.Watch(t.Context(), mongo.Pipeline{}, options.ChangeStream().SetStartAfter(invalidate).SetMaxAwaitTime(100*time.Millisecond))
	if err != nil {
		t.Fatalf("startAfter an invalidate: %v", err)
	}
	defer r.Close(context.Background())
	insertN(t, coll, 10, 12)
	wantSeq(t, readIDs(t, r, 2), 10, 12)
}
