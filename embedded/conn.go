package embedded

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/wire"
	"github.com/mongotide/mongotide/internal/bsonx"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// conn is one client connection. Commands on a connection run one at a
// time on its serve goroutine, as drivers never pipeline requests.
type conn struct {
	id     int64
	s      *Server
	nc     net.Conn
	logger *slog.Logger

	// appName is the client's handshake client.application.name, matched by
	// failCommand's appName. Written once by the handshake on the serve
	// goroutine; read by the same goroutine.
	appName string

	nextRequestID atomic.Int32
	closeOnce     sync.Once
	// wbuf is reused for replies; only the serve goroutine touches it.
	wbuf []byte
	// r is the connection's buffered reader, owned by the serve goroutine
	// (waitIdle borrows it while that goroutine waits).
	r *bufio.Reader
	// endExhaust is set when the client spoke during an awaitable hello:
	// the reply then ends any exhaust stream. Serve goroutine only.
	endExhaust bool
	// dr sits under r and applies the idle and message read deadlines.
	dr *deadlineReader

	// authUser is the user this connection authenticated as ("" before
	// authentication); sasl is its conversation in progress. Serve
	// goroutine only.
	authUser string
	sasl     *saslConversation

	// monitor is set once the connection served an awaitable hello: it
	// belongs to a driver's monitor, whose hang-up does not wake the
	// others (see Server.wakeMonitors). helloWake is the wake channel
	// current at the connection's last hello: an awaitable hello that finds
	// it closed answers at once, as a hang-up came while the hello was on
	// its way. Serve goroutine only.
	monitor   bool
	helloWake <-chan struct{}
}

type connKey struct{}

// connFrom returns the connection a command arrived on (nil in tests that
// call handlers directly).
func connFrom(ctx context.Context) *conn {
	c, _ := ctx.Value(connKey{}).(*conn)
	return c
}

func (s *Server) newConn(nc net.Conn) *conn {
	id := s.nextConnID.Add(1)
	return &conn{id: id, s: s, nc: nc, logger: s.logger.With("conn", id)}
}

// close closes the socket; the serve goroutine then ends.
func (c *conn) close() {
	c.closeOnce.Do(func() { _ = c.nc.Close() })
}

func (c *conn) serve() {
	defer c.s.wg.Done()
	defer c.s.removeConn(c)
	defer c.close()
	c.logger.Debug("connection accepted", "remote", c.nc.RemoteAddr().String())
	why := "server closed it"
	defer func() {
		c.logger.Debug("connection closed", "why", why)
		if why == whyClientClosed && !c.monitor {
			c.s.wakeMonitors()
		}
	}()
	if err := c.handshakeTLS(); err != nil {
		c.logger.Info("closing connection: TLS handshake failed", "err", err.Error())
		why = "TLS handshake failed"
		return
	}
	c.dr = &deadlineReader{nc: c.nc, idle: c.s.cfg.IdleTimeout, stall: c.s.cfg.MessageReadTimeout}
	r := bufio.NewReaderSize(c.dr, 64<<10)
	c.r = r
	ctx := context.WithValue(c.s.ctx, connKey{}, c)
	var buf []byte
	for {
		b, err := c.readMessage(buf)
		if err != nil {
			switch {
			case errors.Is(err, errIdle), errors.Is(err, errStalled):
				c.logger.Info("closing connection", "reason", err.Error())
				why = err.Error()
			case errors.Is(err, wire.ErrMalformed):
				c.logger.Warn("closing connection: malformed message", "reason", err.Error())
				why = "malformed message"
			case c.s.ctx.Err() != nil:
				why = "server stopping"
			case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
				why = whyClientClosed
			default:
				why = err.Error()
			}
			return
		}
		m, err := wire.Decode(b)
		if err != nil {
			c.logger.Warn("closing connection: malformed message", "reason", err.Error())
			why = "malformed message"
			return
		}
		var keep bool
		switch m := m.(type) {
		case *wire.Query:
			keep = c.serveQuery(ctx, m)
		case *wire.Msg:
			keep = c.serveMsg(ctx, m)
		}
		if !keep {
			return
		}
		// Commands are decoded into fresh values (bson.Unmarshal copies),
		// so the buffer can be reused; a rare huge message is not kept.
		if cap(b) <= maxKeptBuffer {
			buf = b[:0]
		} else {
			buf = nil
		}
	}
}

// whyClientClosed is why a connection ended when the client closed it.
const whyClientClosed = "client closed it"

// maxKeptBuffer bounds the read and write buffers a connection keeps
// between messages.
const maxKeptBuffer = 1 << 20

func (c *conn) write(msg []byte) bool {
	if _, err := c.nc.Write(msg); err != nil {
		if c.s.ctx.Err() == nil {
			c.logger.Debug("connection closed while writing a reply", "err", err.Error())
		}
		return false
	}
	return true
}

// serveQuery answers a legacy OP_QUERY: only the handshake (isMaster/hello
// on <db>.$cmd) is accepted, as on MongoDB 6+.
func (c *conn) serveQuery(ctx context.Context, q *wire.Query) bool {
	cmd, err := bsonx.Decode(q.Query)
	if err != nil {
		c.logger.Warn("closing connection: malformed OP_QUERY document", "reason", err.Error())
		return false
	}
	// Old drivers wrap the command as {$query: {...}, $readPreference: ...}.
	if len(cmd) > 0 && cmd[0].Key == "$query" {
		if inner, ok := cmd[0].Value.(bson.D); ok {
			cmd = inner
		}
	}
	db, isCmd := cutSuffix(q.FullCollectionName, ".$cmd")
	var reply bson.D
	name := ""
	if len(cmd) > 0 {
		name = cmd[0].Key
	}
	switch {
	case !isCmd || (name != "isMaster" && name != "ismaster" && name != "hello"):
		what := name
		if !isCmd {
			what = "query on " + q.FullCollectionName
		}
		ce := errorf(codeUnsupportedOpQueryCommand, "UnsupportedOpQueryCommand",
			"Unsupported OP_QUERY command: %s. The client driver may require an upgrade. Only the isMaster/hello handshake is accepted over OP_QUERY; use OP_MSG", what)
		reply = append(bson.D{{Key: "ok", Value: 0.0}}, ce.body()...)
	default:
		req := &request{Name: name, DB: db, Body: cmd}
		res := c.runCommand(ctx, req, false)
		if res.closeConn {
			c.logger.Debug("closing connection as a failpoint asked")
			return false
		}
		reply = res.body
	}
	raw, err := bson.Marshal(reply)
	if err != nil {
		c.logger.Warn("closing connection: cannot encode reply", "err", err.Error())
		return false
	}
	return c.write(wire.AppendReply(nil, c.nextRequestID.Add(1), q.Header.RequestID, wire.ReplyAwaitCapable, raw))
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}

// serveMsg runs one OP_MSG command and writes its reply (none for
// moreToCome requests; a stream of replies for an exhaust hello).
func (c *conn) serveMsg(ctx context.Context, m *wire.Msg) bool {
	req, perr := decodeMsg(m)
	var res result
	if perr != nil {
		res = errorResult(perr)
	} else {
		res = c.runCommand(ctx, req, m.ExhaustAllowed())
	}
	if res.closeConn {
		c.logger.Debug("closing connection as a failpoint asked")
		return false
	}
	if m.MoreToCome() {
		return true
	}
	responseTo := m.Header.RequestID
	for {
		raw, err := bson.Marshal(res.body)
		if err != nil {
			raw, _ = bson.Marshal(append(bson.D{{Key: "ok", Value: 0.0}},
				errorf(codeInternalError, "InternalError", "cannot encode reply: %v", err).body()...))
		}
		if len(raw) > maxInternalBSONSize {
			c.logger.Warn("reply too large; answering BSONObjectTooLarge", "bytes", len(raw))
			raw, _ = bson.Marshal(c.s.finishReply(nil, replyTooLarge(len(raw))).body)
		}
		if c.endExhaust {
			res.exhaust = false
			c.endExhaust = false
		}
		var flags uint32
		if res.exhaust {
			flags = wire.FlagMoreToCome
		}
		id := c.nextRequestID.Add(1)
		out := wire.AppendMsg(c.wbuf[:0], id, responseTo, flags, raw)
		if cap(out) <= maxKeptBuffer {
			c.wbuf = out[:0]
		}
		if !c.write(out) {
			return false
		}
		if !res.exhaust {
			return true
		}
		// Exhaust: act as if the client sent the same hello again, answering
		// after the next maxAwaitTimeMS, until the connection or server ends.
		// Like MongoDB, the next round awaits a change from the
		// topologyVersion just sent, not the client's original one (which,
		// if stale, would make every round answer at once).
		responseTo = id
		req.Body = withTopologyVersion(req.Body, c.s.topologyVersionElem().Value)
		res = c.runCommand(ctx, req, true)
		if res.closeConn || c.s.ctx.Err() != nil {
			return false
		}
	}
}

// errClientGone reports that the peer closed the connection while the
// server waited.
var errClientGone = errors.New("client closed the connection")

// waitIdle waits d while nothing arrives from the client, as an awaitable
// hello does. It returns early with errClientGone when the client hangs
// up (so a vanished monitor does not hold a goroutine for the whole
// wait), with nil when the client sends something (it is left buffered
// for the next read) or another client hangs up an application
// connection (see Server.wakeMonitors), or with ctx's error. Only the
// serve goroutine may call it.
func (c *conn) waitIdle(ctx context.Context, d time.Duration) error {
	c.monitor = true
	wake := c.s.monitorWake()
	if last := c.helloWake; last != nil && last != wake {
		// A client hung up since this connection's last hello: the
		// monitor that sent this hello may be the one Disconnect is
		// waiting for (see Server.wakeMonitors).
		c.helloWake = wake
		return nil
	}
	c.helloWake = wake
	defer func() { c.helloWake = c.s.monitorWake() }()
	t := time.NewTimer(d)
	defer t.Stop()
	if c.r == nil {
		select {
		case <-t.C:
			return nil
		case <-wake:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	peeked := make(chan error, 1)
	c.dr.external()
	defer func() { c.dr.mode = readIdle }()
	go func() {
		_, err := c.r.Peek(1)
		peeked <- err
	}()
	var result error
	select {
	case <-t.C:
	case <-wake:
	case <-ctx.Done():
		result = ctx.Err()
	case err := <-peeked:
		if err != nil {
			return errClientGone
		}
		// The client sent a new request: answer now, and stop any exhaust
		// stream so the serve loop gets to read it.
		c.endExhaust = true
		return nil
	}
	// Unblock the peek, wait for it, and restore blocking reads. bufio
	// hands the timeout error to Peek and does not keep it.
	_ = c.nc.SetReadDeadline(time.Now())
	err := <-peeked
	_ = c.nc.SetReadDeadline(time.Time{})
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		return errClientGone
	}
	return result
}

// withTopologyVersion returns body with its topologyVersion replaced.
func withTopologyVersion(body bson.D, tv any) bson.D {
	out := make(bson.D, len(body))
	copy(out, body)
	for i := range out {
		if out[i].Key == "topologyVersion" {
			out[i].Value = tv
		}
	}
	return out
}
