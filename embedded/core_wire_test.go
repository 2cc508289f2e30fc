package embedded_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/embedded/internal/wire"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// rawConn is a TCP connection speaking the wire protocol by hand, for what
// the driver never sends (malformed bytes, hand-built exhaust requests).
type rawConn struct {
	t  *testing.T
	nc net.Conn
	id int32
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc}
}

func (r *rawConn) send(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *rawConn) msg(flags uint32, cmd bson.D) int32 {
	r.t.Helper()
	body, err := bson.Marshal(cmd)
	if err != nil {
		r.t.Fatal(err)
	}
	r.id++
	r.send(wire.AppendMsg(nil, r.id, 0, flags, body))
	return r.id
}

// read returns the next reply's header, flags (OP_MSG) and document.
func (r *rawConn) read() (wire.Header, uint32, bson.Raw) {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := wire.ReadMessage(r.nc, nil)
	if err != nil {
		r.t.Fatalf("read reply: %v", err)
	}
	h, err := wire.ParseHeader(b)
	if err != nil {
		r.t.Fatal(err)
	}
	switch h.OpCode {
	case wire.OpMsg:
		m, err := wire.ParseMsg(h, b)
		if err != nil {
			r.t.Fatal(err)
		}
		return h, m.Flags, m.Body
	case wire.OpReply:
		rep, err := wire.ParseReply(h, b)
		if err != nil {
			r.t.Fatal(err)
		}
		return h, 0, rep.Documents[0]
	}
	r.t.Fatalf("unexpected reply op code %v", h.OpCode)
	return h, 0, nil
}

// expectClosed waits for the server to close the connection.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := r.nc.Read(make([]byte, 1))
	if !errors.Is(err, io.EOF) && !isReset(err) {
		r.t.Fatalf("connection not closed by the server: read returned %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "broken pipe"))
}

// syncBuffer collects log output written from server goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLegacyHandshakeOverOpQuery(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	r := dialRaw(t, srv.Addr())
	q, _ := bson.Marshal(bson.D{{Key: "isMaster", Value: 1}, {Key: "helloOk", Value: true},
		{Key: "client", Value: bson.D{{Key: "application", Value: bson.D{{Key: "name", Value: "raw"}}}}}})
	r.send(wire.AppendQuery(nil, 42, "admin.$cmd", q))
	h, _, doc := r.read()
	if h.OpCode != wire.OpReply || h.ResponseTo != 42 {
		t.Fatalf("reply header %+v, want OP_REPLY to 42", h)
	}
	if doc.Lookup("ismaster").Boolean() != true || doc.Lookup("helloOk").Boolean() != true ||
		doc.Lookup("maxWireVersion").Int32() != 25 {
		t.Fatalf("handshake reply %v", doc)
	}
	// Anything but the handshake over OP_QUERY is refused, as on MongoDB 6+.
	q, _ = bson.Marshal(bson.D{{Key: "find", Value: "c"}})
	r.send(wire.AppendQuery(nil, 43, "test.$cmd", q))
	_, _, doc = r.read()
	if doc.Lookup("ok").Double() != 0 || doc.Lookup("code").Int32() != 352 {
		t.Fatalf("OP_QUERY find reply %v, want code 352", doc)
	}
	// The connection is still usable with OP_MSG.
	r.msg(0, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
	if _, _, doc = r.read(); doc.Lookup("ok").Double() != 1 {
		t.Fatalf("ping reply %v", doc)
	}
}

func TestOpMsgChecksumAndSequences(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	r := dialRaw(t, srv.Addr())
	body, _ := bson.Marshal(bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
	r.send(wire.AppendMsg(nil, 5, 0, wire.FlagChecksumPresent, body))
	h, _, doc := r.read()
	if h.ResponseTo != 5 || doc.Lookup("ok").Double() != 1 {
		t.Fatalf("checksummed ping: %+v %v", h, doc)
	}
	// A sequence whose identifier duplicates a body field is rejected with
	// a command error, not a closed connection.
	d1, _ := bson.Marshal(bson.D{{Key: "a", Value: 1}})
	body, _ = bson.Marshal(bson.D{{Key: "ping", Value: 1}, {Key: "documents", Value: bson.A{}}, {Key: "$db", Value: "admin"}})
	r.send(wire.AppendMsgWithSequences(nil, 6, 0, body, []wire.Sequence{{Identifier: "documents", Documents: [][]byte{d1}}}))
	_, _, doc = r.read()
	if doc.Lookup("ok").Double() != 0 || !strings.Contains(doc.Lookup("errmsg").StringValue(), "duplicate field") {
		t.Fatalf("duplicate sequence reply %v", doc)
	}
	// moreToCome: no reply; the next request is answered normally.
	r.msg(wire.FlagMoreToCome, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
	id := r.msg(0, bson.D{{Key: "buildInfo", Value: 1}, {Key: "$db", Value: "admin"}})
	h, _, doc = r.read()
	if h.ResponseTo != id || doc.Lookup("version").StringValue() != "8.0.0" {
		t.Fatalf("after moreToCome got reply to %d (%v), want reply to %d", h.ResponseTo, doc, id)
	}
	// Missing $db.
	r.msg(0, bson.D{{Key: "ping", Value: 1}})
	if _, _, doc = r.read(); doc.Lookup("code").Int32() != 40571 {
		t.Fatalf("missing $db reply %v", doc)
	}
}

func TestExhaustHelloStreams(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	r := dialRaw(t, srv.Addr())
	r.msg(0, bson.D{{Key: "hello", Value: 1}, {Key: "$db", Value: "admin"}})
	_, _, first := r.read()
	tv := first.Lookup("topologyVersion").Document()
	const await = 150 * time.Millisecond
	start := time.Now()
	id := r.msg(wire.FlagExhaustAllowed, bson.D{{Key: "hello", Value: 1}, {Key: "topologyVersion", Value: tv},
		{Key: "maxAwaitTimeMS", Value: int64(await / time.Millisecond)}, {Key: "$db", Value: "admin"}})
	prev := id
	for i := 1; i <= 3; i++ {
		h, flags, doc := r.read()
		if flags&wire.FlagMoreToCome == 0 {
			t.Fatalf("streamed reply %d lacks moreToCome", i)
		}
		if h.ResponseTo != prev {
			t.Fatalf("streamed reply %d answers %d, want %d", i, h.ResponseTo, prev)
		}
		prev = h.RequestID
		if doc.Lookup("isWritablePrimary").Boolean() != true {
			t.Fatalf("streamed reply %v", doc)
		}
		if el := time.Since(start); el < time.Duration(i)*await*8/10 {
			t.Fatalf("reply %d after %v: the server did not wait maxAwaitTimeMS (%v) per reply", i, el, await)
		}
	}
}

func TestMalformedInputClosesOnlyThatConnection(t *testing.T) {
	logs := &syncBuffer{}
	srv := testenv.StartEmbedded(t, embedded.Config{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	client := testenv.Connect(t, srv.URI(), nil)
	if err := client.Ping(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	good, _ := bson.Marshal(bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
	badChecksum := wire.AppendMsg(nil, 1, 0, wire.FlagChecksumPresent, good)
	badChecksum[len(badChecksum)-1] ^= 0xFF
	compressed := wire.AppendMsg(nil, 1, 0, 0, good)
	binary.LittleEndian.PutUint32(compressed[12:], uint32(wire.OpCompressed))
	hugeLen := make([]byte, 16)
	binary.LittleEndian.PutUint32(hugeLen, 48000001)
	cases := map[string][]byte{
		"garbage":      []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"bad checksum": badChecksum,
		"compressed":   compressed,
		"too large":    hugeLen,
		"bad bson":     append(wire.AppendMsg(nil, 1, 0, 0, good)[:21], 0xFF, 0, 0, 0, 0),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if name == "bad bson" {
				binary.LittleEndian.PutUint32(b, uint32(len(b)))
			}
			r := dialRaw(t, srv.Addr())
			r.send(b)
			r.expectClosed()
			if err := client.Ping(context.Background(), nil); err != nil {
				t.Fatalf("other connection broken after %s: %v", name, err)
			}
		})
	}
	testenv.Eventually(t, 5*time.Second, "malformed-input warnings", func() bool {
		return strings.Count(logs.String(), "level=WARN msg=\"closing connection: malformed message\"") >= len(cases)
	})
	out := logs.String()
	for _, want := range []string{"checksum mismatch", "OP_COMPRESSED", "exceeds maxMessageSizeBytes", "conn="} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// TestAwaitingHelloNoticesClientGone: a monitor that vanishes during an
// awaitable hello must not hold its server connection for maxAwaitTimeMS.
func TestAwaitingHelloNoticesClientGone(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	// The count is read over a raw connection too: a driver client's
	// monitors open and close connections of their own at any time, which
	// made an exact count flaky under load.
	admin := dialRaw(t, srv.Addr())
	connections := func() int32 {
		admin.msg(0, bson.D{{Key: "serverStatus", Value: 1}, {Key: "$db", Value: "admin"}})
		_, _, res := admin.read()
		n, ok := res.Lookup("connections", "current").Int32OK()
		if !ok {
			t.Fatalf("serverStatus: no connections.current in %v", res)
		}
		return n
	}
	base := connections()
	r := dialRaw(t, srv.Addr())
	r.msg(0, bson.D{{Key: "hello", Value: 1}, {Key: "$db", Value: "admin"}})
	_, _, first := r.read()
	r.msg(wire.FlagExhaustAllowed, bson.D{{Key: "hello", Value: 1}, {Key: "topologyVersion", Value: first.Lookup("topologyVersion").Document()},
		{Key: "maxAwaitTimeMS", Value: int64(60000)}, {Key: "$db", Value: "admin"}})
	testenv.Eventually(t, 15*time.Second, "the raw connection to be counted", func() bool { return connections() == base+1 })
	r.nc.Close()
	testenv.Eventually(t, 15*time.Second, "the server to drop the vanished client's connection", func() bool { return connections() == base })
}

// TestAwaitingHelloAnswersAfterWaitOnLiveConnection: the peek used to
// notice a vanished client must leave a live connection fully usable.
func TestAwaitingHelloAnswersAfterWaitOnLiveConnection(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	r := dialRaw(t, srv.Addr())
	r.msg(0, bson.D{{Key: "hello", Value: 1}, {Key: "$db", Value: "admin"}})
	_, _, first := r.read()
	tv := first.Lookup("topologyVersion").Document()
	for i := 0; i < 3; i++ {
		id := r.msg(0, bson.D{{Key: "hello", Value: 1}, {Key: "topologyVersion", Value: tv},
			{Key: "maxAwaitTimeMS", Value: int64(50)}, {Key: "$db", Value: "admin"}})
		h, _, doc := r.read()
		if h.ResponseTo != id || doc.Lookup("ok").Double() != 1 {
			t.Fatalf("awaitable hello %d: reply to %d: %v", i, h.ResponseTo, doc)
		}
		id = r.msg(0, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
		if h, _, doc = r.read(); h.ResponseTo != id || doc.Lookup("ok").Double() != 1 {
			t.Fatalf("ping after awaitable hello %d: %v", i, doc)
		}
	}
}

// TestExhaustHelloWithStaleTopologyVersion: a stale topologyVersion gets
// one immediate answer; the stream then waits from the current one instead
// of answering again at once forever.
func TestExhaustHelloWithStaleTopologyVersion(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	r := dialRaw(t, srv.Addr())
	const await = 200 * time.Millisecond
	stale := bson.D{{Key: "processId", Value: bson.NewObjectID()}, {Key: "counter", Value: int64(0)}}
	start := time.Now()
	r.msg(wire.FlagExhaustAllowed, bson.D{{Key: "hello", Value: 1}, {Key: "topologyVersion", Value: stale},
		{Key: "maxAwaitTimeMS", Value: int64(await / time.Millisecond)}, {Key: "$db", Value: "admin"}})
	r.read()
	if el := time.Since(start); el > await/2 {
		t.Fatalf("stale topologyVersion answered after %v, want at once", el)
	}
	for i := 1; i <= 3; i++ {
		r.read()
		if el := time.Since(start); el < time.Duration(i)*await*8/10 {
			t.Fatalf("streamed reply %d after %v: the stream does not wait from the current topologyVersion", i, el)
		}
	}
}

// TestExhaustStreamEndsWhenClientSpeaks: a request arriving during an
// exhaust hello stream ends the stream (last reply without moreToCome) and
// is then served, instead of the stream spinning on unread input.
func TestExhaustStreamEndsWhenClientSpeaks(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	r := dialRaw(t, srv.Addr())
	r.msg(0, bson.D{{Key: "hello", Value: 1}, {Key: "$db", Value: "admin"}})
	_, _, first := r.read()
	r.msg(wire.FlagExhaustAllowed, bson.D{{Key: "hello", Value: 1}, {Key: "topologyVersion", Value: first.Lookup("topologyVersion").Document()},
		{Key: "maxAwaitTimeMS", Value: int64(60000)}, {Key: "$db", Value: "admin"}})
	pingID := r.msg(0, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
	_, flags, doc := r.read()
	if flags&wire.FlagMoreToCome != 0 || doc.Lookup("isWritablePrimary").Boolean() != true {
		t.Fatalf("hello reply after the client spoke: flags %x %v, want a final reply", flags, doc)
	}
	h, _, doc := r.read()
	if h.ResponseTo != pingID || doc.Lookup("ok").Double() != 1 {
		t.Fatalf("ping reply %v to %d, want reply to %d", doc, h.ResponseTo, pingID)
	}
}
