package browsertest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mongotide/mongotide/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestReportsInThePagesOrder: reports that arrive out of order come back
// in the page's, per sender.
func TestReportsInThePagesOrder(t *testing.T) {
	srv, reports := Serve(t, writePage(t, "<html></html>"), http.NewServeMux())
	for _, body := range []string{
		`{"from":"alice","n":2,"kind":"next","data":2}`,
		`{"from":"bob","n":1,"kind":"next","data":1}`,
		`{"from":"alice","n":1,"kind":"next","data":1}`,
		`{"from":"alice","n":3,"kind":"done"}`,
	} {
		post(t, srv.URL+"/report", body, http.StatusNoContent)
	}
	post(t, srv.URL+"/report", `not json`, http.StatusBadRequest)
	var got []string
	for _, r := range reports.Of("alice", "next") {
		got = append(got, string(r.Data))
	}
	if fmt.Sprint(got) != "[1 2]" || len(reports.All("alice")) != 3 || reports.Count() != 4 {
		t.Fatalf("alice's next reports %v, %d of alice's, %d in all:\n%s", got, len(reports.All("alice")), reports.Count(), reports.Dump())
	}
}

// TestBrowserRunsThePage: Chromium loads the page, which reports; Kill
// ends it, and no goroutine is left (goleak, at TestMain).
func TestBrowserRunsThePage(t *testing.T) {
	bin := Chromium(t)
	srv, reports := Serve(t, writePage(t, `<script>
fetch("/report", {method: "POST", body: JSON.stringify({from: "page", n: 1, kind: "loaded", data: navigator.userAgent})});
</script>`), http.NewServeMux())
	b := Start(t, bin, srv.URL+"/")
	b.Eventually(t, "the page's report", func() bool { return len(reports.Of("page", "loaded")) == 1 })
	b.Kill()
	if b.ExitedEarly() {
		t.Fatal("a killed browser counts as exited early")
	}
	b.Kill() // twice is fine
}

// TestEventuallyFailsWhenTheBrowserExits: a browser that exits on its own
// fails a wait at once, naming it.
func TestEventuallyFailsWhenTheBrowserExits(t *testing.T) {
	bin, err := exec.LookPath("false")
	if err != nil {
		testenv.MissingPrecondition(t, "the false command (coreutils) is not on PATH: it stands in for a browser that exits")
	}
	f := &fatalRecorder{TB: t}
	b := Start(f, bin, "about:blank")
	b.Eventually(f, "the impossible", func() bool { return false })
	if !strings.Contains(f.msg, "the impossible: chromium exited") || !b.ExitedEarly() {
		t.Fatalf("failure %q, exited early %v", f.msg, b.ExitedEarly())
	}
}

// fatalRecorder records a Fatalf instead of ending the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper()                        {}
func (f *fatalRecorder) Fatalf(format string, a ...any) { f.msg = fmt.Sprintf(format, a...) }

func writePage(t *testing.T, html string) string {
	p := filepath.Join(t.TempDir(), "page.html")
	if err := os.WriteFile(p, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func post(t *testing.T, url, body string, want int) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %d, want %d", body, resp.StatusCode, want)
	}
}
