package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinary builds the worker and runs it as a user would: on the embedded
// defaults, stopped by a signal, and with bad command lines.
func TestBinary(t *testing.T) {
	bin := buildWorker(t)

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run("stops cleanly on "+sig.String(), func(t *testing.T) {
			p := startProcess(t, bin, "-demo-every", "20ms", "-status-every", "100ms")
			p.out.waitLine(t, readyLine)
			// Something synced before the signal, so the shutdown has work
			// in flight to stop.
			p.out.waitLine(t, "synced local -> remote")
			p.out.waitLine(t, "synced remote -> local")
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			code := p.wait(t)
			out := p.out.String()
			if code != 0 {
				t.Fatalf("exit code %d after %v, want 0\nstdout:\n%s\nstderr:\n%s", code, sig, out, p.stderr.String())
			}
			for _, want := range []string{"shutting down (" + sig.String() + " signal received)", "final status: ", stoppedLine} {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			if p.stderr.Len() > 0 {
				t.Errorf("stderr not empty:\n%s", p.stderr.String())
			}
		})
	}

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"-local-uri", "mongodb://h/?replicaSet=rs0", "-remote-uri", "mongodb://h/?replicaSet=rs0"}, "local and remote are the same database"},
		{[]string{"-collections", " , "}, "-collections names no collection"},
		{[]string{"-conflict", "newest"}, `-conflict "newest" is not one of last-writer-wins, field-merge, remote-wins, local-wins`},
	}
	for _, tc := range bad {
		t.Run("usage error "+strings.Join(tc.args, " "), func(t *testing.T) {
			p := startProcess(t, bin, tc.args...)
			if code := p.wait(t); code != 2 {
				t.Fatalf("exit code %d, want 2\nstderr:\n%s", code, p.stderr.String())
			}
			if !strings.Contains(p.stderr.String(), tc.want) {
				t.Fatalf("stderr lacks %q:\n%s", tc.want, p.stderr.String())
			}
		})
	}

	t.Run("help", func(t *testing.T) {
		p := startProcess(t, bin, "-h")
		if code := p.wait(t); code != 0 {
			t.Fatalf("exit code %d, want 0", code)
		}
		if !strings.Contains(p.stderr.String(), "-remote-uri") {
			t.Fatalf("help lacks -remote-uri:\n%s", p.stderr.String())
		}
	})

	t.Run("unreachable remote fails with exit code 1", func(t *testing.T) {
		// A closed port: the first ping fails fast, the message names the side.
		p := startProcess(t, bin, "-remote-uri", "mongodb://127.0.0.1:1/?replicaSet=rs0&serverSelectionTimeoutMS=500")
		if code := p.wait(t); code != 1 {
			t.Fatalf("exit code %d, want 1\nstderr:\n%s", code, p.stderr.String())
		}
		if !strings.Contains(p.stderr.String(), "sync-worker: remote: connect mongodb://127.0.0.1:1/") {
			t.Fatalf("stderr does not name the remote:\n%s", p.stderr.String())
		}
	})
}

// buildWorker compiles the example into a temporary directory.
func buildWorker(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the worker: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "sync-worker")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type process struct {
	cmd    *exec.Cmd
	out    *lineBuffer // stdout
	stderr bytes.Buffer
	copied chan struct{} // closed once stdout is read to EOF
}

// startProcess starts bin with args on the embedded defaults. It is killed
// at the end of the test if still running.
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{out: &lineBuffer{}, copied: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), "MONGODB_LOCAL_URI=", "MONGODB_REMOTE_URI=")
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.copied)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.out.Write(append(sc.Bytes(), '\n'))
		}
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.copied
			_ = p.cmd.Wait()
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *process) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.copied:
	case <-time.After(waitTimeout):
		t.Fatalf("still running %v later\nstdout:\n%s", waitTimeout, p.out.String())
	}
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return p.cmd.ProcessState.ExitCode()
}
