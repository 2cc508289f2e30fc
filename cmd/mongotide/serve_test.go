package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
)

var serveURL = regexp.MustCompile(`on (http://\S+)`)

func serveSecretFile(t *testing.T) (string, []byte) {
	t.Helper()
	secret := []byte("serve-test-secret-serve-test-secret-0123")
	path := filepath.Join(t.TempDir(), "jwt")
	if err := os.WriteFile(path, append(secret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, secret
}

func serveToken(t *testing.T, secret []byte, sub string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func getJSON(t *testing.T, url, tok string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

// TestServeEmbeddedDefault: `mongotide serve` without --uri starts the
// embedded server, prints its URL, serves a token holder's documents and
// only those, and Ctrl-C (the context main cancels on SIGINT) ends an open
// SSE stream and exits 0 promptly.
func TestServeEmbeddedDefault(t *testing.T) {
	secretFile, secret := serveSecretFile(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", "app", "--collections", "notes", "--jwt-secret-file", secretFile, "--sse-query-token"}, &stdout, &stderr)
	}()
	var base, uri string
	testenv.Eventually(t, time.Minute, "the serving line", func() bool {
		if m := serveURL.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
		}
		if m := regexp.MustCompile(`embedded server at (\S+)`).FindStringSubmatch(stderr.String()); m != nil {
			uri = m[1]
		}
		return base != "" && uri != ""
	}, func() string { return "stdout: " + stdout.String() + " stderr: " + stderr.String() })
	if !strings.Contains(stdout.String(), "serving app.notes on http://127.0.0.1:") {
		t.Fatalf("stdout %q", stdout.String())
	}
	client := connectURI(t, ctx, uri)
	notes := client.Database("app").Collection("notes")
	if _, err := notes.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: "a"}, {Key: "owner", Value: "alice"}},
		bson.D{{Key: "_id", Value: "b"}, {Key: "owner", Value: "bob"}},
	}); err != nil {
		t.Fatal(err)
	}
	alice := serveToken(t, secret, "alice")
	if code, m := getJSON(t, base+"/v1/snapshot?collection=notes", alice); code != 200 || len(m["documents"].([]any)) != 1 {
		t.Fatalf("alice's snapshot: %d %v", code, m)
	}
	if code, _ := getJSON(t, base+"/v1/documents/notes/b", alice); code != 404 {
		t.Fatalf("alice reading bob's note: %d, want 404", code)
	}
	if code, _ := getJSON(t, base+"/v1/documents/notes/a", serveToken(t, []byte("another-secret-another-secret-another"), "alice")); code != 401 {
		t.Fatalf("forged token: %d, want 401", code)
	}

	// --sse-query-token: an EventSource's token comes in the URL.
	qres, err := http.Get(base + "/v1/changes?collections=notes&live=sse&access_token=" + alice)
	if err != nil {
		t.Fatal(err)
	}
	qres.Body.Close()
	if qres.StatusCode != 200 {
		t.Fatalf("SSE pull with access_token: %d, want 200", qres.StatusCode)
	}

	req, _ := http.NewRequest("GET", base+"/v1/changes?collections=notes&live=sse", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	if !sc.Scan() {
		t.Fatal("no SSE line")
	}
	// Disconnected before the server goes: a client left connected to a
	// stopped server waits out its deadline on Disconnect.
	if err := client.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit code %d after Ctrl-C; stderr: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit within 30 s of Ctrl-C")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("serve took %s to exit", d)
	}
	rest, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(rest), "event: end") {
		t.Fatalf("the SSE stream ended without an end event: %q", rest)
	}
}

// TestServeUsage: a short secret or an empty collection list is a usage
// error (exit 2) before anything starts.
func TestServeUsage(t *testing.T) {
	short := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(short, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"serve", "--jwt-secret-file", short},
		{"serve", "--jwt-secret-file", filepath.Join(t.TempDir(), "missing")},
		{"serve", "--collections", ""},
	} {
		var stdout, stderr syncBuffer
		if code := run(context.Background(), args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%v: exit %d, want %d; stderr %s", args, code, exitUsage, stderr.String())
		}
	}
}

// TestServeSIGINT runs `mongotide serve` as an OS process: it prints its
// URL, answers, and exits 0 promptly on SIGINT.
func TestServeSIGINT(t *testing.T) {
	bin := buildCLI(t)
	secretFile, _ := serveSecretFile(t)
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--jwt-secret-file", secretFile)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	var base string
	select {
	case l := <-lines:
		m := serveURL.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("first line %q", l)
		}
		base = m[1]
	case <-time.After(time.Minute):
		t.Fatalf("no URL within a minute; stderr: %s", stderr.String())
	}
	if res, err := http.Get(base + "/v1/ready"); err != nil || res.StatusCode != 200 {
		t.Fatalf("ready: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30 s of SIGINT")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("exit took %s after SIGINT", d)
	}
}
