package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoRedis is returned by StartRedis when redis-server is not on PATH.
var ErrNoRedis = errors.New("bench: redis-server not found on PATH")

// Redis is a throwaway redis-server (no persistence) for the checkpoint
// measurement.
type Redis struct {
	Client *redis.Client
	cmd    *exec.Cmd
	done   chan struct{}
}

// StartRedis launches redis-server on a free loopback port and connects.
func StartRedis(ctx context.Context) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedis
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	r := &Redis{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.done) }()
	r.Client = redis.NewClient(&redis.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))})
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := r.Client.Ping(ctx).Err()
		if err == nil {
			return r, nil
		}
		select {
		case <-r.done:
			r.Stop()
			return nil, fmt.Errorf("redis-server exited: %w", err)
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			r.Stop()
			return nil, fmt.Errorf("redis-server did not answer PING: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop closes the client and kills the server.
func (r *Redis) Stop() {
	_ = r.Client.Close()
	_ = r.cmd.Process.Kill()
	<-r.done
}

// Addr is the server's host:port.
func (r *Redis) Addr() string { return r.Client.Options().Addr }
