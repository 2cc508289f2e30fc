package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout is generous: the CI machine runs every package's tests at once.
const waitTimeout = 30 * time.Second

// lineBuffer collects the worker's output; safe for concurrent use.
type lineBuffer struct {
	mu  gosync.Mutex
	buf bytes.Buffer
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitLine waits until the output contains want.
func (b *lineBuffer) waitLine(t *testing.T, want string) {
	t.Helper()
	testenv.Eventually(t, waitTimeout, fmt.Sprintf("output line %q", want),
		func() bool { return strings.Contains(b.String(), want) },
		func() string { return "output:\n" + b.String() })
}

// worker is run() in the background.
type worker struct {
	out           *lineBuffer
	local, remote *mongo.Database
	cancel        context.CancelFunc
	done          chan error
}

// startWorker runs the worker with cfg until stop (or the test's end).
func startWorker(t *testing.T, cfg config) *worker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{out: &lineBuffer{}, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan [2]*mongo.Database, 1)
	cfg.ready = func(local, remote *mongo.Database) { ready <- [2]*mongo.Database{local, remote} }
	go func() { w.done <- run(ctx, cfg, w.out) }()
	t.Cleanup(func() {
		cancel()
		<-w.done
		if t.Failed() {
			t.Logf("worker output:\n%s", w.out.String())
		}
	})
	select {
	case dbs := <-ready:
		w.local, w.remote = dbs[0], dbs[1]
	case err := <-w.done:
		w.done <- err
		t.Fatalf("run ended before ready: %v\n%s", err, w.out.String())
	case <-time.After(waitTimeout):
		t.Fatalf("not ready within %v:\n%s", waitTimeout, w.out.String())
	}
	return w
}

// stop cancels the worker, as SIGINT does, and checks it shut down cleanly.
func (w *worker) stop(t *testing.T) {
	t.Helper()
	w.cancel()
	select {
	case err := <-w.done:
		w.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("run after cancel: %v\n%s", err, w.out.String())
		}
	case <-time.After(waitTimeout):
		t.Fatalf("run did not return within %v of cancel:\n%s", waitTimeout, w.out.String())
	}
	if !strings.Contains(w.out.String(), stoppedLine) {
		t.Fatalf("output lacks %q:\n%s", stoppedLine, w.out.String())
	}
}

// twoSides returns the URIs and database names of a local and a remote: two
// embedded servers, or two databases of MONGOTIDE_TEST_URI.
func twoSides(t *testing.T) config {
	t.Helper()
	if testenv.UsingExternal() {
		uri := testenv.URI(t)
		suffix := fmt.Sprint(time.Now().UnixNano() % 1e9)
		return config{LocalURI: uri, RemoteURI: uri, DB: "syncworker_local_" + suffix, RemoteDB: "syncworker_remote_" + suffix}
	}
	return config{
		LocalURI:  testenv.StartEmbedded(t, embedded.Config{}).URI(),
		RemoteURI: testenv.StartEmbedded(t, embedded.Config{}).URI(),
	}
}

// waitDoc waits until coll holds a document _id id whose field key is want,
// or, with want nil, until it holds no such document.
func waitDoc(t *testing.T, coll *mongo.Collection, id string, key string, want any) {
	t.Helper()
	var last string
	testenv.Eventually(t, waitTimeout,
		fmt.Sprintf("%s.%s: _id %q with %s = %v (nil: absent)", coll.Database().Name(), coll.Name(), id, key, want),
		func() bool {
			var doc bson.M
			err := coll.FindOne(t.Context(), bson.D{{Key: "_id", Value: id}}).Decode(&doc)
			last = fmt.Sprintf("document %v, error %v", doc, err)
			return want == nil && errors.Is(err, mongo.ErrNoDocuments) || want != nil && err == nil && doc[key] == want
		},
		func() string { return "last saw " + last })
}

// TestSyncsBothWays: a write on either side arrives on the other, inserts,
// updates and deletes alike, and the worker logs each one.
func TestSyncsBothWays(t *testing.T) {
	cfg := twoSides(t)
	cfg.StatusEvery = 50 * time.Millisecond
	w := startWorker(t, cfg)
	local, remote := w.local.Collection("notes"), w.remote.Collection("notes")
	ctx := t.Context()

	if _, err := local.InsertOne(ctx, bson.D{{Key: "_id", Value: "from-local"}, {Key: "text", Value: "a"}}); err != nil {
		t.Fatal(err)
	}
	waitDoc(t, remote, "from-local", "text", "a")
	if _, err := remote.InsertOne(ctx, bson.D{{Key: "_id", Value: "from-remote"}, {Key: "text", Value: "b"}}); err != nil {
		t.Fatal(err)
	}
	waitDoc(t, local, "from-remote", "text", "b")
	if _, err := remote.UpdateByID(ctx, "from-local", bson.D{{Key: "$set", Value: bson.D{{Key: "text", Value: "a2"}}}}); err != nil {
		t.Fatal(err)
	}
	waitDoc(t, local, "from-local", "text", "a2")
	if _, err := local.DeleteOne(ctx, bson.D{{Key: "_id", Value: "from-remote"}}); err != nil {
		t.Fatal(err)
	}
	waitDoc(t, remote, "from-remote", "", nil)

	for _, want := range []string{
		"synced local -> remote notes/from-local written",
		"synced remote -> local notes/from-remote written",
		"synced remote -> local notes/from-local written",
		"synced local -> remote notes/from-remote deleted",
	} {
		w.out.waitLine(t, want)
	}
	// The status line counts both directions.
	w.out.waitLine(t, "status: online, notes: bootstrapped, pending 0, up 2 down 2")
	w.stop(t)
}
