package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// listenRun is one `mongotide listen` running in the background.
type listenRun struct {
	stdout, stderr syncBuffer
	cancel         context.CancelFunc
	done           chan int
}

func startListen(t *testing.T, args ...string) *listenRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &listenRun{cancel: cancel, done: make(chan int, 1)}
	go func() { r.done <- run(ctx, append([]string{"listen"}, args...), &r.stdout, &r.stderr) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the command (Ctrl-C) and returns its exit code.
func (r *listenRun) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case code, ok := <-r.done:
		if ok {
			close(r.done)
			return code
		}
		return -1
	case <-time.After(time.Minute):
		t.Fatal("listen did not stop within a minute of cancellation")
		return -1
	}
}

// events parses the JSON lines printed so far.
func (r *listenRun) events(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range r.stdout.lines() {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func (r *listenRun) waitEvents(t *testing.T, n int) []map[string]any {
	t.Helper()
	testenv.Eventually(t, time.Minute, fmt.Sprintf("%d events (stderr: %s)", n, &r.stderr), func() bool { return len(r.stdout.lines()) >= n })
	return r.events(t)
}

func (b *syncBuffer) Format(f fmt.State, _ rune) { fmt.Fprint(f, b.String()) }

// streamReady waits until the listener's server stream is open: listen
// prints nothing when it is, so the test writes probe documents until one
// shows up, then a sentinel, and returns how many lines precede the events
// the test writes next.
func streamReady(t *testing.T, r *listenRun, coll *mongo.Collection) int {
	t.Helper()
	ctx := context.Background()
	probes := 0
	testenv.Eventually(t, time.Minute, "the listener to print a probe event", func() bool {
		if len(r.stdout.lines()) > 0 {
			return true
		}
		probes++
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "probe", Value: probes}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		return len(r.stdout.lines()) > 0
	})
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "sentinel"}}); err != nil {
		t.Fatal(err)
	}
	n := 0
	testenv.Eventually(t, time.Minute, "the sentinel event", func() bool {
		for i, l := range r.stdout.lines() {
			if strings.Contains(l, `"sentinel"`) {
				n = i + 1
				return true
			}
		}
		return false
	})
	return n
}

func docField(t *testing.T, ev map[string]any, field string) any {
	t.Helper()
	doc, ok := ev["fullDocument"].(map[string]any)
	if !ok {
		t.Fatalf("event has no fullDocument: %v", ev)
	}
	return doc[field]
}

func TestListenPrintsEventsAsJSONLines(t *testing.T) {
	uri := testenv.URI(t)
	coll := testenv.Connect(t, uri, nil).Database("clitest").Collection("listen_json")
	r := startListen(t, "--uri", uri, "--db", "clitest", "--coll", "listen_json")
	skip := streamReady(t, r, coll)
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("b%d", i)}, {Key: "n", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "b2"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 20}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: "b3"}}); err != nil {
		t.Fatal(err)
	}
	evs := r.waitEvents(t, skip+5)[skip:]
	want := []struct{ op, id string }{{"insert", "b1"}, {"insert", "b2"}, {"insert", "b3"}, {"update", "b2"}, {"delete", "b3"}}
	for i, w := range want {
		ev := evs[i]
		if ev["operationType"] != w.op {
			t.Errorf("event %d: operationType %v, want %s", i, ev["operationType"], w.op)
		}
		key, _ := ev["documentKey"].(map[string]any)
		if key["_id"] != w.id {
			t.Errorf("event %d: documentKey %v, want _id %s", i, ev["documentKey"], w.id)
		}
		if ns, _ := ev["ns"].(map[string]any); ns["coll"] != "listen_json" {
			t.Errorf("event %d: ns %v", i, ev["ns"])
		}
	}
	// Relaxed extended JSON: numbers are plain JSON numbers.
	if n := docField(t, evs[0], "n"); n != float64(1) {
		t.Errorf("fullDocument.n = %#v, want the JSON number 1", n)
	}
	if code := r.stop(t); code != exitOK {
		t.Fatalf("exit code %d after Ctrl-C, stderr: %s", code, &r.stderr)
	}
}

func TestListenFilterAndOps(t *testing.T) {
	uri := testenv.URI(t)
	coll := testenv.Connect(t, uri, nil).Database("clitest").Collection("listen_filter")
	r := startListen(t, "--uri", uri, "--db", "clitest", "--coll", "listen_filter",
		"--filter", `{"genre": "sci-fi"}`, "--ops", "insert,delete", "--pretty")
	ctx := context.Background()
	// The filter hides probes, so readiness is a matching insert.
	probes := 0
	testenv.Eventually(t, time.Minute, "the listener to print a probe", func() bool {
		if r.stdout.String() != "" {
			return true
		}
		probes++
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("probe%d", probes)}, {Key: "genre", Value: "sci-fi"}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		return r.stdout.String() != ""
	})
	writes := []bson.D{
		{{Key: "_id", Value: "emma"}, {Key: "genre", Value: "classic"}},
		{{Key: "_id", Value: "dune"}, {Key: "genre", Value: "sci-fi"}},
	}
	for _, d := range writes {
		if _, err := coll.InsertOne(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	// An update of a sci-fi book is filtered out by --ops.
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "dune"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "last"}, {Key: "genre", Value: "sci-fi"}}); err != nil {
		t.Fatal(err)
	}
	// --pretty output is a sequence of indented JSON documents.
	var ids []string
	testenv.Eventually(t, time.Minute, "the last insert", func() bool { return strings.Contains(r.stdout.String(), `"last"`) })
	dec := json.NewDecoder(strings.NewReader(r.stdout.String()))
	for dec.More() {
		var ev map[string]any
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("pretty output does not parse: %v\n%s", err, &r.stdout)
		}
		key, _ := ev["documentKey"].(map[string]any)
		id, _ := key["_id"].(string)
		if !strings.HasPrefix(id, "probe") {
			ids = append(ids, fmt.Sprintf("%v:%s", ev["operationType"], id))
		}
	}
	if got, want := strings.Join(ids, " "), "insert:dune insert:last"; got != want {
		t.Errorf("events %q, want %q", got, want)
	}
	if !strings.Contains(r.stdout.String(), "\n  \"") {
		t.Errorf("--pretty output is not indented:\n%s", &r.stdout)
	}
}

func TestListenResumeFileResumesWithoutLoss(t *testing.T) {
	uri := testenv.URI(t)
	coll := testenv.Connect(t, uri, nil).Database("clitest").Collection("listen_resume")
	tokenPath := filepath.Join(t.TempDir(), "books.token")
	args := []string{"--uri", uri, "--db", "clitest", "--coll", "listen_resume", "--resume-file", tokenPath}
	ctx := context.Background()
	insert := func(from, to int) {
		for i := from; i <= to; i++ {
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	ids := func(evs []map[string]any) []int {
		var out []int
		for _, ev := range evs {
			if ev["operationType"] != "insert" {
				continue
			}
			if key, _ := ev["documentKey"].(map[string]any); key != nil {
				if f, ok := key["_id"].(float64); ok {
					out = append(out, int(f))
				}
			}
		}
		return out
	}

	first := startListen(t, args...)
	skip := streamReady(t, first, coll)
	insert(1, 3)
	first.waitEvents(t, skip+3)
	if code := first.stop(t); code != exitOK {
		t.Fatalf("first run: exit code %d, stderr: %s", code, &first.stderr)
	}
	if _, err := os.Stat(tokenPath); err != nil {
		t.Fatalf("no resume file after the first run: %v", err)
	}
	// Written while nobody listens: the second run must print exactly these.
	insert(4, 6)
	second := startListen(t, args...)
	evs := second.waitEvents(t, 3)
	insert(7, 7)
	evs = second.waitEvents(t, 4)
	if got, want := fmt.Sprint(ids(evs)), "[4 5 6 7]"; got != want {
		t.Errorf("second run printed inserts %s, want %s (first run: %v)", got, want, ids(first.events(t)))
	}
	if code := second.stop(t); code != exitOK {
		t.Fatalf("second run: exit code %d, stderr: %s", code, &second.stderr)
	}
}

func TestListenCorruptResumeFileFails(t *testing.T) {
	uri := testenv.URI(t)
	tokenPath := filepath.Join(t.TempDir(), "bad.token")
	if err := os.WriteFile(tokenPath, []byte("not bson"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	code := run(context.Background(), []string{"listen", "--uri", uri, "--db", "clitest", "--coll", "c", "--resume-file", tokenPath}, &stdout, &stderr)
	if code != exitError {
		t.Fatalf("exit code %d, want %d; stderr: %s", code, exitError, &stderr)
	}
	if !strings.Contains(stderr.String(), tokenPath) {
		t.Errorf("stderr does not name the resume file: %s", &stderr)
	}
}

func TestListenBadFlagsExit2(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--coll", "c"}, "--db is required"},
		{[]string{"--db", "d"}, "--coll is required"},
		{[]string{"--db", "d", "--coll", "c", "--filter", `{"genre": `}, "invalid --filter"},
		{[]string{"--db", "d", "--coll", "c", "--filter", `[1, 2]`}, "invalid --filter"},
		{[]string{"--db", "d", "--coll", "c", "--filter", `{"year": {"$bogus": 1}}`}, "$bogus"},
		{[]string{"--db", "d", "--coll", "c", "--ops", "insert,upsert"}, `unknown operation type "upsert"`},
		{[]string{"--db", "d", "--coll", "c", "--resume-file", "/no/such/dir/tok"}, "directory /no/such/dir does not exist"},
		{[]string{"--db", "d", "--coll", "c", "--resume-file", os.TempDir()}, "is a directory"},
		{[]string{"--db", "d", "--coll", "c", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"--db", "d", "--coll", "c", "extra"}, "accepts 0 arg(s)"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var stdout, stderr syncBuffer
			code := run(context.Background(), append([]string{"listen"}, c.args...), &stdout, &stderr)
			if code != exitUsage {
				t.Fatalf("exit code %d, want %d; stderr: %s", code, exitUsage, &stderr)
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), c.want)
			}
			if stdout.String() != "" {
				t.Errorf("stdout not empty: %q", stdout.String())
			}
		})
	}
}

func TestListenUnreachableURIExit1(t *testing.T) {
	var stdout, stderr syncBuffer
	code := run(context.Background(), []string{"listen", "--uri", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200", "--db", "d", "--coll", "c"}, &stdout, &stderr)
	if code != exitError {
		t.Fatalf("exit code %d, want %d; stderr: %s", code, exitError, &stderr)
	}
	if !strings.Contains(stderr.String(), "127.0.0.1:1") {
		t.Errorf("stderr does not name the server: %s", &stderr)
	}
}

func TestListenWithoutURIStartsEmbedded(t *testing.T) {
	r := startListen(t, "--db", "clitest", "--coll", "embedded_default")
	var uri string
	testenv.Eventually(t, time.Minute, "the embedded URI on stderr", func() bool {
		s := r.stderr.String()
		i := strings.Index(s, "mongodb://")
		if i < 0 || !strings.Contains(s[i:], "\n") {
			return false
		}
		uri = strings.TrimSpace(s[i : i+strings.IndexByte(s[i:], '\n')])
		return true
	})
	client := testenv.Connect(t, uri, nil)
	coll := client.Database("clitest").Collection("embedded_default")
	skip := streamReady(t, r, coll)
	if skip < 1 {
		t.Fatal("no event printed")
	}
	if code := r.stop(t); code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, &r.stderr)
	}
}

func TestListenFollowsADroppedCollection(t *testing.T) {
	uri := testenv.URI(t)
	coll := testenv.Connect(t, uri, nil).Database("clitest").Collection("listen_drop")
	r := startListen(t, "--uri", uri, "--db", "clitest", "--coll", "listen_drop")
	skip := streamReady(t, r, coll)
	ctx := context.Background()
	if err := coll.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "after-drop"}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "the insert after the drop", func() bool { return strings.Contains(r.stdout.String(), `"after-drop"`) })
	var ops []string
	for _, ev := range r.events(t)[skip:] {
		ops = append(ops, fmt.Sprint(ev["operationType"]))
	}
	if got, want := strings.Join(ops, " "), "drop invalidate insert"; got != want {
		t.Errorf("operation types %q, want %q", got, want)
	}
	if code := r.stop(t); code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, &r.stderr)
	}
}
