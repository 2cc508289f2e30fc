package main

import (
	"reflect"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestDemoOnEmbeddedDefaults runs the worker as `go run` does: no URIs, so
// two embedded servers of its own and demo writes. The seeded remote notes
// are bootstrapped, demo writes sync both ways, and the two sides hold the
// same notes.
func TestDemoOnEmbeddedDefaults(t *testing.T) {
	t.Setenv("MONGODB_LOCAL_URI", "")
	t.Setenv("MONGODB_REMOTE_URI", "")
	cfg, err := parseFlags([]string{"-status-every", "50ms", "-demo-every", "20ms"}, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Demo {
		t.Fatal("demo writes are off on the embedded defaults")
	}
	w := startWorker(t, cfg)
	for _, want := range []string{
		"local: embedded server at mongodb://",
		"remote: embedded server at mongodb://",
		"bootstrap notes: done, 3 documents copied from the remote",
		"in sync: everything written before start-up is on both sides",
		"demo: local  insert notes/",
		"synced local -> remote notes/",
		"demo: remote insert notes/",
		"synced remote -> local notes/",
		"demo: local  delete notes/",
		"deleted",
		"status: online, notes: bootstrapped",
	} {
		w.out.waitLine(t, want)
	}
	// The demo keeps writing, but touches a note only in the few ticks after
	// creating it: compare the notes created a second or more ago (an
	// ObjectID's time has second precision, hence the two).
	eventually(t, "older notes identical on both sides", func() bool {
		older := bson.D{{Key: "_id", Value: bson.D{{Key: "$lt", Value: bson.NewObjectIDFromTimestamp(time.Now().Add(-2 * time.Second))}}}}
		l, r := notes(t, w.local.Collection("notes"), older), notes(t, w.remote.Collection("notes"), older)
		return len(l) >= 3 && reflect.DeepEqual(l, r)
	})
	w.stop(t)
}

// notes returns the documents of coll matching filter, in _id order.
func notes(t *testing.T, coll *mongo.Collection, filter bson.D) []bson.M {
	t.Helper()
	cur, err := coll.Find(t.Context(), filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.M
	if err := cur.All(t.Context(), &docs); err != nil {
		t.Fatal(err)
	}
	return docs
}
