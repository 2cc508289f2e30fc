package embedded

import (
	"errors"
	"github.com/mongotide/mongotide/internal/ctxwait"
	"net"
	"time"
)

// Accept retry backoff, as net/http's Server: out of descriptors (EMFILE,
// ENFILE) or another transient accept error must not end the accept loop,
// and retrying at once would spin a core while the condition lasts.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
			s.logger.Warn("accept failed; retrying", "err", err.Error(), "retryIn", delay)
			if ctxwait.Sleep(s.ctx, delay) != nil {
				return
			}
			continue
		}
		delay = 0
		if !s.admit(nc) {
			return
		}
	}
}

// admit registers and serves an accepted connection, or closes it when the
// server is stopping (then it returns false) or at MaxConnections.
func (s *Server) admit(nc net.Conn) bool {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	if s.stopping {
		_ = nc.Close()
		return false
	}
	if open := len(s.conns); open >= s.cfg.MaxConnections {
		s.rejected++
		_ = nc.Close()
		// mongod's words for the same refusal.
		s.logger.Warn("connection refused because there are too many open connections",
			"remote", nc.RemoteAddr().String(), "connectionCount", open, "maxConnections", s.cfg.MaxConnections)
		return true
	}
	c := s.newConn(nc)
	s.conns[c.id] = c
	s.wg.Add(1)
	go c.serve()
	return true
}
