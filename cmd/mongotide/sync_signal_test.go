package main

import (
	"bufio"
	"context"
	"fmt"

	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// exitBound is what the tests assert; the target (under 1 s with nothing in
// flight) is measured and logged, not asserted: this machine is shared.
// The CLI bounds each shutdown step itself (see TestExitBoundCoversCLIBounds),
// so an exit later than this is a step that ignores its bound.
const exitBound = 10 * time.Second

func TestExitBoundCoversCLIBounds(t *testing.T) {
	if worst := stopGrace + disconnectGrace + storeStopGrace; worst+2*time.Second > exitBound {
		t.Fatalf("the CLI may take %s to exit after SIGINT; the tests allow %s", worst, exitBound)
	}
}

// buildCLI builds the mongotide binary into a temporary directory.
func buildCLI(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build the CLI for this test: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "mongotide")
	out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// cliProc is a running `mongotide sync` process.
type cliProc struct {
	cmd      *exec.Cmd
	localURI string
	stderr   *syncBuffer
	exited   chan struct{} // closed once Wait returned; then waitErr is set
	waitErr  error
}

// startCLI starts bin with args and waits for the "syncing" line; with
// --local-dir it also reads the "local:" line.
func startCLI(t *testing.T, bin string, args ...string) *cliProc {
	t.Helper()
	p := &cliProc{cmd: exec.Command(bin, args...), stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Buffered beyond what the CLI prints, so the reader never blocks.
	lines := make(chan string, 1000)
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	go func() {
		// Wait closes stdout's pipe only after it has been read to EOF, so
		// it runs once the reader above has drained it.
		<-eof
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill() // fails harmlessly once exited
		<-p.exited
	})
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("CLI exited before syncing; stderr:\n%s", p.stderr.String())
			}
			if u, ok := strings.CutPrefix(l, "local: "); ok {
				p.localURI = u
			}
			if strings.HasPrefix(l, "syncing ") {
				return p
			}
		case <-timeout:
			_ = p.cmd.Process.Kill()
			t.Fatalf("no syncing line in 30 s; stderr:\n%s", p.stderr.String())
		}
	}
}

// interrupt sends SIGINT and returns how long the process took to exit.
func (p *cliProc) interrupt(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		d := time.Since(start)
		if p.waitErr != nil {
			t.Errorf("exit after SIGINT: %v; stderr:\n%s", p.waitErr, p.stderr.String())
		}
		return d
	case <-time.After(exitBound):
		// SIGQUIT makes the Go runtime print every goroutine's stack and
		// exit, so the failure shows where the process was stuck.
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
		}
		t.Fatalf("no exit %s after SIGINT; stderr (with the goroutine dump SIGQUIT printed):\n%s", exitBound, p.stderr.String())
		return 0
	}
}

func connectURI(t *testing.T, ctx context.Context, uri string) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func bootstrapped(ctx context.Context, db *mongo.Database, coll string) bool {
	n, _ := db.Collection("_mongotide_sync_state").CountDocuments(ctx, bson.D{{Key: "_id", Value: "bootstrap." + coll}, {Key: "done", Value: true}})
	return n == 1
}

func durations(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("n=%d p50=%s max=%s", len(s), s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

// TestSyncLocalDirSignal runs `mongotide sync --local-dir` as an OS process:
// the local store prints its URI, keeps its data across restarts, and every
// state exits promptly on SIGINT.
func TestSyncLocalDirSignal(t *testing.T) {
	bin := buildCLI(t)
	remoteSrv := testenv.StartEmbedded(t, embedded.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rc := testenv.Connect(t, remoteSrv.URI(), nil)
	docs := make([]any, 20000)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}, {Key: "pad", Value: strings.Repeat("x", 100)}}
	}
	if _, err := rc.Database("app").Collection("big").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	args := func(coll string) []string {
		return []string{"sync", "-q", "--local-dir", dir, "--remote", remoteSrv.URI(), "--db", "app", "-c", coll}
	}

	// Bootstrapping: 20,000 documents are still copying.
	p := startCLI(t, bin, args("big")...)
	t.Logf("SIGINT while bootstrapping: exit in %s", p.interrupt(t).Round(time.Millisecond))

	// Idle, 10 times over the same directory; the first run writes a
	// document through the printed URI, every later run must still have it.
	var idle []time.Duration
	for i := range 10 {
		p := startCLI(t, bin, args("books")...)
		if !strings.HasPrefix(p.localURI, "mongodb://") {
			t.Fatalf("no local URI printed (got %q)", p.localURI)
		}
		lc := connectURI(t, ctx, p.localURI)
		books := lc.Database("app").Collection("books")
		if i == 0 {
			if _, err := books.InsertOne(ctx, bson.D{{Key: "_id", Value: "persisted"}}); err != nil {
				t.Fatal(err)
			}
		} else if n, err := books.CountDocuments(ctx, bson.D{{Key: "_id", Value: "persisted"}}); err != nil || n != 1 {
			t.Fatalf("run %d: the document written in run 0 is gone (%d, %v)", i, n, err)
		}
		testenv.Eventually(t, 20*time.Second, "bootstrap and upload", func() bool {
			n, _ := rc.Database("app").Collection("books").CountDocuments(ctx, bson.D{})
			return bootstrapped(ctx, lc.Database("app"), "books") && n == 1
		})
		_ = lc.Disconnect(ctx)
		idle = append(idle, p.interrupt(t))
	}
	t.Logf("SIGINT when idle: %s", durations(idle))

	// Mid-upload: a writer keeps the upload busy.
	p = startCLI(t, bin, args("books")...)
	lc := connectURI(t, ctx, p.localURI)
	wctx, stopWriter := context.WithCancel(ctx)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; wctx.Err() == nil; i++ {
			_, _ = lc.Database("app").Collection("books").InsertOne(wctx, bson.D{{Key: "_id", Value: i}})
		}
	}()
	testenv.Eventually(t, 20*time.Second, "uploads flowing", func() bool {
		n, _ := rc.Database("app").Collection("books").CountDocuments(ctx, bson.D{})
		return n > 50
	})
	t.Logf("SIGINT mid-upload: exit in %s", p.interrupt(t).Round(time.Millisecond))
	stopWriter()
	<-writerDone
	_ = lc.Disconnect(ctx)

	// Remote down.
	p = startCLI(t, bin, args("books")...)
	if err := remoteSrv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// A local write: its upload waits on the closed remote (server
	// selection) when the signal comes.
	lc = connectURI(t, ctx, p.localURI)
	if _, err := lc.Database("app").Collection("books").InsertOne(ctx, bson.D{{Key: "_id", Value: "offline"}}); err != nil {
		t.Fatal(err)
	}
	_ = lc.Disconnect(ctx)
	t.Logf("SIGINT with the remote down: exit in %s", p.interrupt(t).Round(time.Millisecond))
}

// TestSyncSignalLocalGone: the local server (not ours) stops with the same
// Ctrl-C; this took 5-15 s before the shutdown bounds.
func TestSyncSignalLocalGone(t *testing.T) {
	bin := buildCLI(t)
	remote := testenv.StartEmbedded(t, embedded.Config{}).URI()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var ds []time.Duration
	for range 5 {
		localSrv := testenv.StartEmbedded(t, embedded.Config{})
		p := startCLI(t, bin, "sync", "-q", "--local", localSrv.URI(), "--remote", remote, "--db", "app", "-c", "books")
		lc := connectURI(t, ctx, localSrv.URI())
		testenv.Eventually(t, 20*time.Second, "bootstrap", func() bool { return bootstrapped(ctx, lc.Database("app"), "books") })
		if _, err := lc.Database("app").Collection("books").InsertOne(ctx, bson.D{{Key: "v", Value: 1}}); err != nil {
			t.Fatal(err)
		}
		_ = lc.Disconnect(ctx)
		stopped := make(chan error, 1)
		go func() { stopped <- localSrv.Stop(context.WithoutCancel(ctx)) }()
		ds = append(ds, p.interrupt(t))
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("SIGINT with the local server stopping at once: %s", durations(ds))

}
