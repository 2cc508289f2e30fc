package browsertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
)

// Timeout bounds each wait on the browser: starting Chromium on a loaded
// 2-core machine takes seconds.
const Timeout = 60 * time.Second

// RequireTool returns the path of the command name, or skips t naming what
// is missing and how to install it (install); in CI (CI=true) it fails t
// instead.
func RequireTool(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testenv.MissingPrecondition(t, fmt.Sprintf("%s not found, needed for the browser test: %s", name, install))
	}
	return p
}

// Chromium returns the path of chromium, as RequireTool does.
func Chromium(t testing.TB) string {
	t.Helper()
	return RequireTool(t, "chromium", "apt-get install -y chromium (or make deps)")
}

// Serve starts a test server for mux, to which it adds the page file at
// GET / and the reports' endpoint at POST /report. The server closes when t
// ends, after the reports are logged if t failed.
func Serve(t testing.TB, page string, mux *http.ServeMux) (*httptest.Server, *Reports) {
	t.Helper()
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	reports := &Reports{}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(html)
	})
	mux.Handle("POST /report", reports)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	// Registered after srv.Close, so it runs before it.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("page reports:\n%s", reports.Dump())
		}
	})
	return srv, reports
}

// Browser is headless Chromium showing one page until killed: by Kill, or
// when the test ends.
type Browser struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	exited chan struct{}
	once   sync.Once
	killed atomic.Bool // by the test, on purpose
}

// Start starts Chromium (bin, from Chromium) on url, with flags added to
// the headless ones. When t ends, the browser and every process it started
// are killed and waited for, and its stderr is logged if t failed.
func Start(t testing.TB, bin, url string, flags ...string) *Browser {
	t.Helper()
	b := &Browser{exited: make(chan struct{})}
	args := []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--user-data-dir=" + t.TempDir()}
	args = append(append(args, flags...), url)
	b.cmd = exec.Command(bin, args...)
	b.cmd.Stderr = &b.stderr
	// Chromium runs several processes: a group of its own lets Kill reach
	// them all.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		_ = b.cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		b.Kill()
		if t.Failed() {
			t.Logf("chromium stderr:\n%s", b.stderr.String())
		}
	})
	return b
}

// Kill ends the browser and every process it started, and waits for it.
func (b *Browser) Kill() {
	b.once.Do(func() {
		b.killed.Store(true)
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.exited
	})
}

// ExitedEarly says Chromium exited without Kill.
func (b *Browser) ExitedEarly() bool {
	select {
	case <-b.exited:
		return !b.killed.Load()
	default:
		return false
	}
}

// Eventually waits up to Timeout for cond, as testenv.Eventually does
// (detail says what was seen, on a timeout), but fails t at once, with
// "what: chromium exited", when the browser exits before the test killed it
// and cond still does not hold. After Kill it waits on cond alone (for the
// server's side of a browser that died).
func (b *Browser) Eventually(t testing.TB, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	crashed := false
	testenv.Eventually(t, Timeout, what, func() bool {
		if b.ExitedEarly() {
			crashed = true
			return true
		}
		return cond()
	}, detail...)
	if crashed && !cond() {
		t.Fatalf("%s: chromium exited", what)
	}
}

// Report is one report of the page.
type Report struct {
	From string          `json:"from"` // who on the page: a user, a client, "page"
	N    int             `json:"n"`    // the page's sequence: orders From's reports
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
}

// Reports collects the page's reports; it is the handler of POST /report.
type Reports struct {
	mu   sync.Mutex
	list []Report
}

func (rs *Reports) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rep Report
	if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rs.mu.Lock()
	rs.list = append(rs.list, rep)
	rs.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Of returns from's reports of kind, in the order the page made them.
func (rs *Reports) Of(from, kind string) []Report {
	var out []Report
	for _, r := range rs.All(from) {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// All returns from's reports in the order the page made them (it sends
// them concurrently, so they can arrive out of it).
func (rs *Reports) All(from string) []Report {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []Report
	for _, r := range rs.list {
		if r.From == from {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(x, y Report) int { return x.N - y.N })
	return out
}

// Count returns how many reports arrived.
func (rs *Reports) Count() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.list)
}

// Dump renders every report, one a line, in the order they arrived.
func (rs *Reports) Dump() string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var s strings.Builder
	for _, r := range rs.list {
		fmt.Fprintf(&s, "%s #%d %s %s\n", r.From, r.N, r.Kind, r.Data)
	}
	return s.String()
}
