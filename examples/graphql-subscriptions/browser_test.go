package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// graphqlWSVersion is the graphql-ws npm client the browser test runs.
const graphqlWSVersion = "6.4.2"

// browserTimeout bounds each wait on the browser: starting Chromium on a
// loaded 2-core machine takes seconds.
const browserTimeout = 60 * time.Second

// TestBrowserGraphQLWS runs the graphql-ws npm client in headless Chromium
// against the server: alice and bob subscribe from one page, each receives
// only their own books, in commit order; bob completes his subscription
// after two events and his listener goes; an unknown token is refused with
// 4403; and when the browser dies, every listener and the server stream go.
func TestBrowserGraphQLWS(t *testing.T) {
	chromium := requireTool(t, "chromium", "apt-get install -y chromium (or make deps)")
	npm := requireTool(t, "npm", "apt-get install -y npm (or make deps)")
	clientJS := installGraphQLWS(t, npm)

	client := testenv.Client(t)
	books, err := booksModel(t.Context(), client.Database("gqltest_browser"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := books.Collection().DeleteMany(t.Context(), bson.D{}); err != nil {
		t.Fatal(err)
	}
	res := &resolver{books: books}
	schema, err := newSchema(res)
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join("testdata", "browser.html"))
	if err != nil {
		t.Fatal(err)
	}
	reports := &browserReports{}
	mux := http.NewServeMux()
	mux.Handle("/graphql", &Handler{Schema: schema, Auth: TokenAuth(demoTokens), InitTimeout: 10 * time.Second})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	mux.HandleFunc("GET /graphql-ws.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, clientJS)
	})
	mux.HandleFunc("POST /report", reports.handle)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	// Registered after srv.Close, so it runs before it.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("browser reports:\n%s", reports.dump())
		}
	})

	browser := startChromium(t, chromium, srv.URL+"/")
	waitListeners := func(what string, n int64) {
		t.Helper()
		reports.eventually(t, browser, what, func() bool {
			return res.active.Load() == n && (n > 0 || books.Hub().StreamCount() == 0)
		})
	}

	reports.waitFor(t, browser, "page", "loaded", func(r report) bool { return string(r.Data) == `"function"` })
	reports.waitFor(t, browser, "alice", "connected", nil)
	reports.waitFor(t, browser, "bob", "connected", nil)
	// graphql-ws reports the server's 4403 (Forbidden) close to the
	// subscription's error sink.
	reports.waitFor(t, browser, "mallory", "error", func(r report) bool { return closeCode(r) == 4403 })
	if got := reports.of("mallory", "connected"); len(got) > 0 {
		t.Fatalf("mallory was acknowledged: %+v", got)
	}
	waitListeners("alice's and bob's listeners running", 2)

	// Bob's book, then alice's, then bob's: were a book of bob's ever
	// delivered to alice, it would come before hers (one shared stream, in
	// commit order).
	create := func(title, owner string) {
		t.Helper()
		if _, err := books.Create(t.Context(), Book{Title: title, Owner: owner}); err != nil {
			t.Fatal(err)
		}
	}
	create("B1", "bob")
	create("A1", "alice")
	create("B2", "bob")

	bob := reports.waitEvents(t, browser, "bob", 2)
	if got := titles(bob); !slices.Equal(got, []string{"bob:INSERT:B1", "bob:INSERT:B2"}) {
		t.Fatalf("bob received %v, want his two books B1, B2", got)
	}
	reports.waitFor(t, browser, "bob", "disposed", nil)
	// dispose sends complete and closes the socket: the listener goes.
	waitListeners("bob's listener released after his client completed", 1)

	create("A2", "alice")
	alice := reports.waitEvents(t, browser, "alice", 2)
	if got := titles(alice); !slices.Equal(got, []string{"alice:INSERT:A1", "alice:INSERT:A2"}) {
		t.Fatalf("alice received %v, want only her books A1, A2", got)
	}

	// A browser that dies without a goodbye: the server notices the broken
	// connection and unsubscribes alice's listener, and the shared server
	// stream closes with it.
	browser.kill()
	waitListeners("every listener and server stream released after the browser died", 0)
}

// requireTool returns the path of name, or skips the test naming the missing
// tool; in CI (CI=true) a missing tool fails it.
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testenv.MissingPrecondition(t, fmt.Sprintf("%s not found, needed for the browser test: %s", name, install))
	}
	return p
}

// installGraphQLWS installs the pinned graphql-ws package from the npm
// registry into a temporary directory and returns its browser (UMD) build.
func installGraphQLWS(t *testing.T, npm string) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", dir, "--no-save", "--no-package-lock",
		"--no-audit", "--no-fund", "--loglevel=error", "graphql-ws@"+graphqlWSVersion)
	cmd.Env = append(os.Environ(), "npm_config_cache="+filepath.Join(dir, ".npm"), "npm_config_update_notifier=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		testenv.MissingPrecondition(t, fmt.Sprintf("npm install graphql-ws@%s (is registry.npmjs.org reachable?): %v\n%s", graphqlWSVersion, err, out))
	}
	js := filepath.Join(dir, "node_modules", "graphql-ws", "umd", "graphql-ws.min.js")
	if _, err := os.Stat(js); err != nil {
		t.Fatalf("graphql-ws@%s has no UMD build: %v", graphqlWSVersion, err)
	}
	return js
}

// chromiumProcess is a headless Chromium showing one page. It runs until
// killed: the page reports to the test over HTTP.
type chromiumProcess struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	exited chan struct{}
	once   sync.Once
	killed atomic.Bool // by the test, on purpose
}

func startChromium(t *testing.T, bin, url string) *chromiumProcess {
	t.Helper()
	p := &chromiumProcess{exited: make(chan struct{})}
	p.cmd = exec.Command(bin,
		"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--user-data-dir="+t.TempDir(), "--enable-logging=stderr", url)
	p.cmd.Stderr = &p.stderr
	// Chromium runs several processes: its own group lets kill reach them all.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("chromium stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

// kill ends the browser and every process it started, and waits for it.
func (p *chromiumProcess) kill() {
	p.once.Do(func() {
		p.killed.Store(true)
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	})
}

// report is one message from the page.
type report struct {
	Client string          `json:"client"`
	N      int             `json:"n"`
	Kind   string          `json:"kind"`
	Data   json.RawMessage `json:"data"`
}

// browserReports collects the page's reports.
type browserReports struct {
	mu   sync.Mutex
	list []report
}

func (b *browserReports) handle(w http.ResponseWriter, r *http.Request) {
	var rep report
	if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	b.list = append(b.list, rep)
	b.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// of returns client's reports of kind, in the order the page made them.
func (b *browserReports) of(client, kind string) []report {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []report
	for _, r := range b.list {
		if r.Client == client && r.Kind == kind {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b report) int { return a.N - b.N })
	return out
}

func (b *browserReports) dump() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var s strings.Builder
	for _, r := range b.list {
		fmt.Fprintf(&s, "%s #%d %s %s\n", r.Client, r.N, r.Kind, r.Data)
	}
	return s.String()
}

// eventually polls cond until it holds, the browser exits, or
// browserTimeout passes.
func (b *browserReports) eventually(t *testing.T, p *chromiumProcess, what string, cond func() bool) {
	t.Helper()
	crashed := false
	testenv.Eventually(t, browserTimeout, what, func() bool {
		select {
		case <-p.exited:
			if !p.killed.Load() { // once killed, only the server side is awaited
				crashed = true
				return true
			}
		default:
		}
		return cond()
	})
	if crashed && !cond() {
		t.Fatalf("%s: chromium exited", what)
	}
}

// waitFor waits for a report of client and kind that satisfies match (nil:
// any).
func (b *browserReports) waitFor(t *testing.T, p *chromiumProcess, client, kind string, match func(report) bool) report {
	t.Helper()
	var found report
	b.eventually(t, p, fmt.Sprintf("%s: %s", client, kind), func() bool {
		for _, r := range b.of(client, kind) {
			if match == nil || match(r) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// waitEvents waits until client has received n subscription events and
// returns them in order. An event for a book of someone else (client names
// the owner) fails the test at once.
func (b *browserReports) waitEvents(t *testing.T, p *chromiumProcess, client string, n int) []report {
	t.Helper()
	var got []report
	b.eventually(t, p, fmt.Sprintf("%s: %d events", client, n), func() bool {
		got = b.of(client, "next")
		for _, title := range titles(got) {
			if !strings.HasPrefix(title, client+":") {
				t.Fatalf("%s received a change that is not theirs: %s (all: %v)", client, title, titles(got))
			}
		}
		return len(got) >= n
	})
	return got
}

// titles renders next reports as "owner:OP:title".
func titles(rs []report) []string {
	var out []string
	for _, r := range rs {
		var v struct {
			Data struct {
				BookChanged struct {
					Op   string
					Book struct{ Title, Owner string }
				}
			}
		}
		if err := json.Unmarshal(r.Data, &v); err != nil {
			out = append(out, "bad: "+string(r.Data))
			continue
		}
		c := v.Data.BookChanged
		out = append(out, c.Book.Owner+":"+c.Op+":"+c.Book.Title)
	}
	return out
}

// closeCode is the WebSocket close code in a report, or 0.
func closeCode(r report) int {
	var v struct{ Code int }
	_ = json.Unmarshal(r.Data, &v)
	return v.Code
}
