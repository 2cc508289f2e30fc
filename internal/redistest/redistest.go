// Package redistest starts a real redis-server for tests.
//
// Behaviour tests never mock Redis: Start runs the redis-server binary on a
// free loopback port with persistence off and stops it when the test ends.
// When the binary is missing the test is skipped with the install command,
// except in CI (CI=true), where a missing redis-server fails the test.
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// startTimeout bounds how long a fresh redis-server may take to answer PING.
const startTimeout = 10 * time.Second

// Server is a running redis-server owned by one test.
type Server struct {
	// Addr is host:port of the server.
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
	out  *lockedBuffer
}

// Start launches a redis-server for tb and registers its shutdown in
// tb.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.MissingPrecondition(tb, "redis-server not installed: apt-get install -y redis-server")
	}
	// A port picked by listening on :0 can be taken by someone else before
	// redis binds it; a few attempts make that race harmless.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		srv, err := launch(bin)
		if err == nil {
			tb.Cleanup(srv.stop)
			return srv
		}
		lastErr = err
	}
	tb.Fatalf("redistest: %v", lastErr)
	return nil
}

// Client returns a go-redis client connected to a fresh server, closed in
// tb.Cleanup (before the server stops).
func Client(tb testing.TB) *redis.Client {
	tb.Helper()
	srv := Start(tb)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func launch(bin string, extra ...string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("pick a port: %w", err)
	}
	out := &lockedBuffer{}
	args := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--protected-mode", "yes",
		"--daemonize", "no",
	}
	for i := range extra {
		extra[i] = strings.ReplaceAll(extra[i], "{port}", strconv.Itoa(port))
	}
	cmd := exec.Command(bin, append(args, extra...)...)
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	srv := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, done: make(chan struct{}), out: out}
	go func() {
		_ = cmd.Wait()
		close(srv.done)
	}()
	if err := srv.waitReady(); err != nil {
		srv.stop()
		return nil, fmt.Errorf("%w; output:\n%s", err, out.String())
	}
	return srv, nil
}

// waitReady polls PING until the server answers, the process exits, or the
// deadline passes.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := ping(s.Addr)
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return errors.New("redis-server exited before answering PING")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server at %s did not answer PING within %v: %v", s.Addr, startTimeout, err)
		}
		select {
		case <-s.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func ping(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

func (s *Server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
