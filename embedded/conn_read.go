package embedded

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/wire"
)

// Why a connection was dropped while reading.
var (
	errIdle    = errors.New("idle timeout: no request for Config.IdleTimeout")
	errStalled = errors.New("read timeout: the client stopped sending in the middle of a message (Config.MessageReadTimeout)")
	errBudget  = errors.New("the server's memory for partially received messages is exhausted (Config.MaxPendingMessageBytes)")
)

// readMode is what the deadlineReader is reading.
type readMode uint8

const (
	// readIdle: between requests; IdleTimeout applies.
	readIdle readMode = iota
	// readMessage: inside a message; each read must make progress within
	// MessageReadTimeout.
	readMessage
	// readExternal: waitIdle manages the deadline itself.
	readExternal
)

// deadlineReader is the connection's socket as its bufio.Reader sees it:
// it arms the read deadline of the current mode before every read. Only
// the serve goroutine changes mode, and only while no other goroutine
// reads (waitIdle's peek starts after and ends before its mode change).
type deadlineReader struct {
	nc          net.Conn
	idle, stall time.Duration
	mode        readMode
	deadlineSet bool
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	var limit time.Duration
	switch d.mode {
	case readIdle:
		limit = d.idle
	case readMessage:
		limit = d.stall
	case readExternal:
		return d.nc.Read(p)
	}
	switch {
	case limit > 0:
		_ = d.nc.SetReadDeadline(time.Now().Add(limit))
		d.deadlineSet = true
	case d.deadlineSet:
		_ = d.nc.SetReadDeadline(time.Time{})
		d.deadlineSet = false
	}
	n, err := d.nc.Read(p)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		if d.mode == readIdle {
			return n, errIdle
		}
		return n, errStalled
	}
	return n, err
}

// external hands deadlines to the caller (waitIdle), clearing any left by
// the previous read so a long wait is not cut short by it.
func (d *deadlineReader) external() {
	d.mode = readExternal
	if d.deadlineSet {
		_ = d.nc.SetReadDeadline(time.Time{})
		d.deadlineSet = false
	}
}

// firstChunk is the buffer a message starts with before its bytes arrive.
const firstChunk = 64 << 10

// readMessage reads one whole message (header included), reusing buf when
// it is large enough. The buffer grows as bytes arrive rather than to the
// length the header announces: a client that announces 48 MB and stalls
// holds 64 KiB, not 48 MB (issue 10: 20 such connections held 918 MiB).
func (c *conn) readMessage(buf []byte) ([]byte, error) {
	c.dr.mode = readIdle
	if _, err := c.r.Peek(1); err != nil {
		return nil, err
	}
	c.dr.mode = readMessage
	var hb [wire.HeaderLen]byte
	if _, err := io.ReadFull(c.r, hb[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: connection closed inside a message header", wire.ErrMalformed)
		}
		return nil, err
	}
	h, err := wire.ParseHeader(hb[:])
	if err != nil {
		return nil, err
	}
	n := int(h.Length)
	if want := min(n, firstChunk); cap(buf) < want {
		buf = make([]byte, 0, want)
	}
	buf = append(buf[:0], hb[:]...)
	var held int64 // budget taken by this message's growth
	defer func() { c.s.pending.Add(-held) }()
	for len(buf) < n {
		if len(buf) == cap(buf) {
			newCap := min(n, 2*cap(buf))
			if !c.s.reservePending(int64(newCap - cap(buf))) {
				c.logger.Warn("closing connection: "+errBudget.Error(), "messageBytes", n, "received", len(buf))
				return nil, errBudget
			}
			held += int64(newCap - cap(buf))
			grown := make([]byte, len(buf), newCap)
			copy(grown, buf)
			buf = grown
		}
		m, err := c.r.Read(buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+m]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: connection closed after %d of %d message bytes", wire.ErrMalformed, len(buf), n)
			}
			return nil, err
		}
	}
	return buf, nil
}

// reservePending takes n bytes of the budget for partially received
// messages, or reports that it would pass Config.MaxPendingMessageBytes.
func (s *Server) reservePending(n int64) bool {
	limit := s.cfg.MaxPendingMessageBytes
	if limit < 0 {
		s.pending.Add(n)
		return true
	}
	for {
		cur := s.pending.Load()
		if cur+n > limit {
			return false
		}
		if s.pending.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// handshakeTLS completes a TLS connection's handshake within
// MessageReadTimeout, so a client that connects and stalls in it is
// dropped like one stalled inside a message. Plain connections pass.
func (c *conn) handshakeTLS() error {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	if d := c.s.cfg.MessageReadTimeout; d > 0 {
		_ = tc.SetDeadline(time.Now().Add(d))
		defer func() { _ = tc.SetDeadline(time.Time{}) }()
	}
	return tc.HandshakeContext(c.s.ctx)
}
