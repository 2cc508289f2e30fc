package embedded

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/wire"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// lockedBuffer collects server logs written from several goroutines.
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

// FuzzDispatch feeds arbitrary command bodies through the same path a
// connection uses (OP_MSG decode, command decode, failpoints, sessions,
// handlers). Nothing may panic: the core must not, and a handler panic,
// although contained, is logged and fails the run.
func dispatchSeeds() []bson.D {
	lsid := bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}}}
	return []bson.D{
		{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}},
		{{Key: "hello", Value: 1}, {Key: "topologyVersion", Value: "x"}, {Key: "maxAwaitTimeMS", Value: -1}, {Key: "$db", Value: "admin"}},
		{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "a", Value: 1}}}}, {Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: int64(1)}, {Key: "$db", Value: "t"}},
		{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "a", Value: bson.D{{Key: "$gt", Value: 0}}}}}, {Key: "sort", Value: bson.D{{Key: "a", Value: -1}}}, {Key: "projection", Value: bson.D{{Key: "a", Value: 1}}}, {Key: "batchSize", Value: 1}, {Key: "$db", Value: "t"}},
		{{Key: "getMore", Value: int64(1)}, {Key: "collection", Value: "c"}, {Key: "batchSize", Value: 2}, {Key: "$db", Value: "t"}},
		{{Key: "killCursors", Value: "c"}, {Key: "cursors", Value: bson.A{int64(1), "x"}}, {Key: "$db", Value: "t"}},
		{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: bson.D{{Key: "times", Value: 1}}}, {Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"ping"}}, {Key: "errorCode", Value: 2}}}, {Key: "$db", Value: "admin"}},
		{{Key: "commitTransaction", Value: 1}, {Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: int64(2)}, {Key: "autocommit", Value: false}, {Key: "$db", Value: "admin"}},
		{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{}}, {Key: "u", Value: bson.D{{Key: "$inc", Value: bson.D{{Key: "a", Value: 1}}}}}, {Key: "multi", Value: true}}}}, {Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: int64(3)}, {Key: "startTransaction", Value: true}, {Key: "autocommit", Value: false}, {Key: "$db", Value: "t"}},
		{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$match", Value: bson.D{}}}, bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$a"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}}}}, {Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "t"}},
		{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$changeStream", Value: bson.D{{Key: "fullDocument", Value: "updateLookup"}}}}}}, {Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "t"}},
		{{Key: "endSessions", Value: bson.A{lsid, 3}}, {Key: "$db", Value: "admin"}},
		{{Key: "delete", Value: "c"}, {Key: "deletes", Value: bson.A{bson.D{{Key: "q", Value: bson.D{}}, {Key: "limit", Value: 0}}}}, {Key: "writeConcern", Value: bson.D{{Key: "w", Value: "tag"}}}, {Key: "$db", Value: "t"}},
		{{Key: "findAndModify", Value: "c"}, {Key: "query", Value: bson.D{{Key: "a", Value: 1}}}, {Key: "update", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "b", Value: 2}}}}}, {Key: "new", Value: true}, {Key: "upsert", Value: true}, {Key: "$db", Value: "t"}},
		{{Key: "createIndexes", Value: "c"}, {Key: "indexes", Value: bson.A{bson.D{{Key: "key", Value: bson.D{{Key: "a", Value: 1}}}, {Key: "name", Value: "a_1"}, {Key: "unique", Value: true}}}}, {Key: "$db", Value: "t"}},
		{{Key: "distinct", Value: "c"}, {Key: "key", Value: "a"}, {Key: "query", Value: bson.D{}}, {Key: "$db", Value: "t"}},
		{{Key: "count", Value: "c"}, {Key: "query", Value: bson.D{}}, {Key: "limit", Value: 1}, {Key: "$db", Value: "t"}},
		{{Key: "renameCollection", Value: "t.c"}, {Key: "to", Value: "t.d"}, {Key: "$db", Value: "admin"}},
	}
}

// dispatchHarness runs commands through the connection's command path on
// a live server and fails on a panic (contained or not).
type dispatchHarness struct {
	srv  *Server
	c    *conn
	ctx  context.Context
	logs *lockedBuffer
}

func newDispatchHarness(f *testing.F) *dispatchHarness {
	logs := &lockedBuffer{}
	ctx := context.Background()
	srv, err := Start(ctx, Config{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = srv.Stop(ctx) })
	client, server := net.Pipe()
	f.Cleanup(func() { client.Close(); server.Close() })
	c := srv.newConn(server)
	return &dispatchHarness{srv: srv, c: c, ctx: context.WithValue(srv.ctx, connKey{}, c), logs: logs}
}

func (h *dispatchHarness) run(t *testing.T, body []byte) {
	m, err := wire.Decode(wire.AppendMsg(nil, 1, 0, 0, body))
	if err != nil {
		return // the wire decoder has its own fuzz target
	}
	req, ce := decodeMsg(m.(*wire.Msg))
	if ce != nil {
		return
	}
	rctx, cancel := context.WithTimeout(h.ctx, 200*time.Millisecond)
	defer cancel()
	res := h.c.runCommand(rctx, req, false)
	if !res.closeConn {
		if _, err := bson.Marshal(res.body); err != nil {
			t.Fatalf("reply does not encode: %v", err)
		}
	}
	if out := h.logs.String(); strings.Contains(out, "panicked") {
		t.Fatalf("a handler panicked on %v:\n%s", req.Body, out)
	}
}

// FuzzDispatch feeds arbitrary command bodies through the same path a
// connection uses (OP_MSG decode, command decode, failpoints, sessions,
// handlers). Nothing may panic: the core must not, and a handler panic,
// although contained, is logged and fails the run.
func FuzzDispatch(f *testing.F) {
	for _, s := range dispatchSeeds() {
		b, err := bson.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	h := newDispatchHarness(f)
	f.Fuzz(func(t *testing.T, body []byte) { h.run(t, body) })
}

// FuzzCommandFields keeps commands well formed and swaps one field's value
// (at any depth of the seed's top level) for a value of another type or
// shape: the type confusion that random bytes rarely reach.
func FuzzCommandFields(f *testing.F) {
	for i := range dispatchSeeds() {
		for field := 0; field < 6; field++ {
			f.Add(uint8(i), uint8(field), uint8(field), "a", int64(-1))
		}
	}
	seeds := dispatchSeeds()
	h := newDispatchHarness(f)
	f.Fuzz(func(t *testing.T, seed, field, kind uint8, s string, n int64) {
		cmd := append(bson.D{}, seeds[int(seed)%len(seeds)]...)
		var v any
		switch kind % 10 {
		case 0:
			v = int32(n)
		case 1:
			v = n
		case 2:
			v = float64(n) / 3
		case 3:
			v = s
		case 4:
			v = n%2 == 0
		case 5:
			v = nil
		case 6:
			v = bson.D{{Key: s, Value: n}}
		case 7:
			v = bson.A{s, n, bson.D{{Key: "$" + s, Value: n}}}
		case 8:
			v = bson.D{{Key: "$" + s, Value: bson.A{n}}}
		case 9:
			v = bson.Binary{Subtype: byte(n), Data: []byte(s)}
		}
		i := int(field) % len(cmd)
		if cmd[i].Key == "$db" {
			return
		}
		cmd[i].Value = v
		b, err := bson.Marshal(cmd)
		if err != nil {
			return // e.g. a key with a NUL byte
		}
		h.run(t, b)
	})
}
