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
func FuzzDispatch(f *testing.F) {
	lsid := bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}}}
	seeds := []bson.D{
		{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}},
		{{Key: "hello", Value: 1}, {Key: "topologyVersion", Value: "x"}, {Key: "maxAwaitTimeMS", Value: -1}, {Key: "$db", Value: "admin"}},
		{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "a", Value: 1}}}}, {Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: int64(1)}, {Key: "$db", Value: "t"}},
		{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "a", Value: bson.D{{Key: "$gt", Value: 0}}}}}, {Key: "batchSize", Value: 1}, {Key: "$db", Value: "t"}},
		{{Key: "getMore", Value: int64(1)}, {Key: "collection", Value: "c"}, {Key: "$db", Value: "t"}},
		{{Key: "killCursors", Value: "c"}, {Key: "cursors", Value: bson.A{int64(1), "x"}}, {Key: "$db", Value: "t"}},
		{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: bson.D{{Key: "times", Value: 1}}}, {Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"ping"}}, {Key: "errorCode", Value: 2}}}, {Key: "$db", Value: "admin"}},
		{{Key: "commitTransaction", Value: 1}, {Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: int64(2)}, {Key: "autocommit", Value: false}, {Key: "$db", Value: "admin"}},
		{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{}}, {Key: "u", Value: bson.D{{Key: "$inc", Value: bson.D{{Key: "a", Value: 1}}}}}}}}, {Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: int64(3)}, {Key: "startTransaction", Value: true}, {Key: "autocommit", Value: false}, {Key: "$db", Value: "t"}},
		{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$changeStream", Value: bson.D{}}}}}, {Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "t"}},
		{{Key: "endSessions", Value: bson.A{lsid, 3}}, {Key: "$db", Value: "admin"}},
		{{Key: "delete", Value: "c"}, {Key: "deletes", Value: bson.A{bson.D{{Key: "q", Value: bson.D{}}, {Key: "limit", Value: 0}}}}, {Key: "writeConcern", Value: bson.D{{Key: "w", Value: "tag"}}}, {Key: "$db", Value: "t"}},
	}
	for _, s := range seeds {
		b, err := bson.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
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
	cctx := context.WithValue(srv.ctx, connKey{}, c)

	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := wire.Decode(wire.AppendMsg(nil, 1, 0, 0, body))
		if err != nil {
			return // the wire decoder has its own fuzz target
		}
		req, ce := decodeMsg(m.(*wire.Msg))
		if ce != nil {
			return
		}
		rctx, cancel := context.WithTimeout(cctx, 200*time.Millisecond)
		defer cancel()
		res := c.runCommand(rctx, req, false)
		if !res.closeConn {
			if _, err := bson.Marshal(res.body); err != nil {
				t.Fatalf("reply does not encode: %v", err)
			}
		}
		if out := logs.String(); strings.Contains(out, "panicked") {
			t.Fatalf("a handler panicked on %v:\n%s", req.Body, out)
		}
	})
}
