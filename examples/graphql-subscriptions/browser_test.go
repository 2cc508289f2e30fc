package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/browsertest"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// graphqlWSVersion is the graphql-ws npm client the browser test runs.
const graphqlWSVersion = "6.4.2"

// TestBrowserGraphQLWS runs the graphql-ws npm client in headless Chromium
// against the server: alice and bob subscribe from one page, each receives
// only their own books, in commit order; bob completes his subscription
// after two events and his listener goes; an unknown token is refused with
// 4403; and when the browser dies, every listener and the server stream go.
func TestBrowserGraphQLWS(t *testing.T) {
	chromium := browsertest.Chromium(t)
	npm := browsertest.RequireTool(t, "npm", "apt-get install -y npm (or make deps)")
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
	mux := http.NewServeMux()
	mux.Handle("/graphql", &Handler{Schema: schema, Auth: TokenAuth(demoTokens), InitTimeout: 10 * time.Second})
	mux.HandleFunc("GET /graphql-ws.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, clientJS)
	})
	srv, reports := browsertest.Serve(t, filepath.Join("testdata", "browser.html"), mux)

	browser := browsertest.Start(t, chromium, srv.URL+"/", "--enable-logging=stderr")
	waitListeners := func(what string, n int64) {
		t.Helper()
		browser.Eventually(t, what, func() bool {
			return res.active.Load() == n && (n > 0 || books.Hub().StreamCount() == 0)
		})
	}

	waitFor(t, browser, reports, "page", "loaded", func(r browsertest.Report) bool { return string(r.Data) == `"function"` })
	waitFor(t, browser, reports, "alice", "connected", nil)
	waitFor(t, browser, reports, "bob", "connected", nil)
	// graphql-ws reports the server's 4403 (Forbidden) close to the
	// subscription's error sink.
	waitFor(t, browser, reports, "mallory", "error", func(r browsertest.Report) bool { return closeCode(r) == 4403 })
	if got := reports.Of("mallory", "connected"); len(got) > 0 {
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

	bob := waitEvents(t, browser, reports, "bob", 2)
	if got := titles(bob); !slices.Equal(got, []string{"bob:INSERT:B1", "bob:INSERT:B2"}) {
		t.Fatalf("bob received %v, want his two books B1, B2", got)
	}
	waitFor(t, browser, reports, "bob", "disposed", nil)
	// dispose sends complete and closes the socket: the listener goes.
	waitListeners("bob's listener released after his client completed", 1)

	create("A2", "alice")
	alice := waitEvents(t, browser, reports, "alice", 2)
	if got := titles(alice); !slices.Equal(got, []string{"alice:INSERT:A1", "alice:INSERT:A2"}) {
		t.Fatalf("alice received %v, want only her books A1, A2", got)
	}

	// A browser that dies without a goodbye: the server notices the broken
	// connection and unsubscribes alice's listener, and the shared server
	// stream closes with it.
	browser.Kill()
	waitListeners("every listener and server stream released after the browser died", 0)
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

// waitFor waits for a report of client and kind that satisfies match (nil:
// any).
func waitFor(t *testing.T, browser *browsertest.Browser, reports *browsertest.Reports, client, kind string, match func(browsertest.Report) bool) browsertest.Report {
	t.Helper()
	var found browsertest.Report
	browser.Eventually(t, fmt.Sprintf("%s: %s", client, kind), func() bool {
		for _, r := range reports.Of(client, kind) {
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
func waitEvents(t *testing.T, browser *browsertest.Browser, reports *browsertest.Reports, client string, n int) []browsertest.Report {
	t.Helper()
	var got []browsertest.Report
	browser.Eventually(t, fmt.Sprintf("%s: %d events", client, n), func() bool {
		got = reports.Of(client, "next")
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
func titles(rs []browsertest.Report) []string {
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
func closeCode(r browsertest.Report) int {
	var v struct{ Code int }
	_ = json.Unmarshal(r.Data, &v)
	return v.Code
}
