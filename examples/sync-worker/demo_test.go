package main

import (
	"fmt"
	"github.com/mongotide/mongotide/internal/testenv"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestDemoOnEmbeddedDefaults runs the worker as `go run` does: no URIs, so
// two embedded servers of its own and demo writes. The seeded remote notes
// are bootstrapped with progress lines (and no line per document), demo
// writes sync both ways, and the two sides hold the same notes.
func TestDemoOnEmbeddedDefaults(t *testing.T) {
	t.Setenv("MONGODB_LOCAL_URI", "")
	t.Setenv("MONGODB_REMOTE_URI", "")
	cfg, err := parseFlags([]string{"-status-every", "50ms", "-demo-every", "20ms", "-seed", "1200"}, t.Output())
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
		"demo: 1200 notes written on the remote before the worker starts",
		// Batches of 500: two progress lines, then the last one.
		"bootstrap notes: 500 documents copied",
		"bootstrap notes: 1000 documents copied",
		// The demo starts writing as the copy runs: the copy may include
		// a note or two of its own.
		"bootstrap notes: done, 12",
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
	// The copied notes were not logged one by one: only the demo's are.
	if n := strings.Count(w.out.String(), "synced remote -> local"); n >= 1200 {
		t.Errorf("%d download lines: the bootstrap's documents were logged one by one", n)
	}
	// The demo keeps writing, but touches a note only in the few ticks after
	// creating it: compare the notes created before now (an ObjectID's time
	// has second precision, so those of earlier seconds), which stop
	// changing soon after. The cut-off is fixed once: a window moving with
	// the clock is never caught up with when the syncer runs more than its
	// width behind the writer, as on a loaded machine; a fixed set is,
	// however slowly.
	older := bson.D{{Key: "_id", Value: bson.D{{Key: "$lt", Value: bson.NewObjectIDFromTimestamp(time.Now())}}}}
	var diff string
	testenv.Eventually(t, 2*time.Minute, "notes older than the cut-off identical on both sides", func() bool {
		l, r := notes(t, w.local.Collection("notes"), older), notes(t, w.remote.Collection("notes"), older)
		if len(l) >= 1200 && reflect.DeepEqual(l, r) {
			return true
		}
		if d := noteDiff(l, r); d != diff {
			diff = d
			t.Logf("not yet: %s", d)
		}
		return false
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

// noteDiff describes how two _id-ordered note lists differ.
func noteDiff(local, remote []bson.M) string {
	byID := func(docs []bson.M) map[any]bson.M {
		m := map[any]bson.M{}
		for _, d := range docs {
			m[d["_id"]] = d
		}
		return m
	}
	l, r := byID(local), byID(remote)
	var out []string
	for id, d := range l {
		if rd, ok := r[id]; !ok {
			out = append(out, fmt.Sprintf("%v only local", id))
		} else if !reflect.DeepEqual(d, rd) {
			out = append(out, fmt.Sprintf("%v local %v remote %v", id, d, rd))
		}
	}
	for id := range r {
		if _, ok := l[id]; !ok {
			out = append(out, fmt.Sprintf("%v only remote", id))
		}
	}
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("and %d more", len(out)-5))
	}
	return fmt.Sprintf("%d local, %d remote: %s", len(local), len(remote), strings.Join(out, "; "))
}
