package embedded_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/embedded/internal/wire"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const fdChildEnv = "MONGOTIDE_TEST_FD_CHILD"

// TestAcceptSurvivesDescriptorExhaustion runs a server in a child process
// (this test binary re-executed) with RLIMIT_NOFILE lowered, exhausts its
// descriptors with real connections, and checks that once they are closed
// the server accepts again (issue 10: accept4 EMFILE ended the accept loop
// for good while the process lived on).
func TestAcceptSurvivesDescriptorExhaustion(t *testing.T) {
	if os.Getenv(fdChildEnv) == "1" {
		runLowFDServer(t)
		return
	}
	testenv.SkipIfExternal(t, "a server in a child process")
	child := exec.Command(os.Args[0], "-test.run=^TestAcceptSurvivesDescriptorExhaustion$", "-test.count=1")
	child.Env = append(os.Environ(), fdChildEnv+"=1")
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	child.Stderr = logs
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close() // the child stops its server and exits
		if err := child.Wait(); err != nil {
			t.Errorf("child: %v\n%s", err, logs.String())
		}
	})
	lines := bufio.NewScanner(stdout)
	var addr string
	for lines.Scan() {
		if a, ok := strings.CutPrefix(lines.Text(), "ADDR "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		t.Fatalf("the child printed no address; stderr:\n%s", logs.String())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	// Far more connections than the child has descriptors: the kernel
	// completes them into the listen backlog, the child's accept fails.
	var raws []*rawConn
	for range 200 {
		raws = append(raws, dialRaw(t, addr))
	}
	testenv.Eventually(t, 20*time.Second, "an accept failure logged by the child", func() bool {
		return strings.Contains(logs.String(), "accept failed; retrying")
	})
	if !strings.Contains(logs.String(), "too many open files") {
		t.Fatalf("the accept failure is not EMFILE:\n%s", logs.String())
	}
	for _, r := range raws {
		_ = r.nc.Close()
	}
	c := testenv.Connect(t, "mongodb://"+addr+"/?directConnection=true", options.Client().SetServerSelectionTimeout(30*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Database("db").Collection("c").InsertOne(ctx, bson.D{{Key: "after", Value: "exhaustion"}}); err != nil {
		t.Fatalf("the server accepts nothing after its descriptors came back: %v\nchild stderr:\n%s", err, logs.String())
	}
}

// runLowFDServer is the child: a server with 64 descriptors, serving
// until its stdin closes.
func runLowFDServer(t *testing.T) {
	lim := syscall.Rlimit{Cur: 64, Max: 64}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := startServer(t, embedded.Config{Logger: logger})
	fmt.Printf("ADDR %s\n", srv.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
}

func TestMaxConnectionsRefusesTheExcess(t *testing.T) {
	testenv.SkipIfExternal(t, "Config.MaxConnections")
	logs := &syncBuffer{}
	srv := startServer(t, embedded.Config{MaxConnections: 3, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	var held []*rawConn
	for range 3 {
		r := dialRaw(t, srv.Addr())
		r.msg(0, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
		r.read() // served: it counts against the limit
		held = append(held, r)
	}
	over := dialRaw(t, srv.Addr())
	over.expectClosed()
	testenv.Eventually(t, 5*time.Second, "a log line for the refused connection", func() bool {
		return strings.Contains(logs.String(), "too many open connections")
	})
	for _, r := range held {
		_ = r.nc.Close()
	}
	// The driver needs three connections (monitor, RTT, pool): all fit
	// again once the server has seen the held ones close. It sees each
	// close on its own goroutine, after our Close returns: on a loaded
	// machine a connection made at once can still be over the limit, so
	// retry the insert until the slots are free.
	c := testenv.Connect(t, srv.URI(), nil)
	var lastErr error
	testenv.Eventually(t, 30*time.Second, "an insert served once the held connections closed", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, lastErr = c.Database("db").Collection("c").InsertOne(ctx, bson.D{})
		return lastErr == nil
	}, func() string { return fmt.Sprintf("last error: %v", lastErr) })
	st := runCmd(t, c.Database("admin"), bson.D{{Key: "serverStatus", Value: 1}})
	conns, _ := toM(st["connections"])
	if rej, _ := conns["rejected"].(int64); rej < 1 {
		t.Fatalf("serverStatus connections.rejected = %v, want >= 1", conns["rejected"])
	}
}

// TestStalledMessageIsDropped: a client that announces a message and stops
// sending in its middle is dropped after MessageReadTimeout, while one
// that sends slowly but steadily is served.
func TestStalledMessageIsDropped(t *testing.T) {
	testenv.SkipIfExternal(t, "Config.MessageReadTimeout")
	logs := &syncBuffer{}
	srv := startServer(t, embedded.Config{MessageReadTimeout: 300 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})

	stalled := dialRaw(t, srv.Addr())
	hdr := make([]byte, 20)
	binary.LittleEndian.PutUint32(hdr, 40_000_000) // announces 40 MB, sends 20 bytes
	binary.LittleEndian.PutUint32(hdr[12:], uint32(wire.OpMsg))
	stalled.send(hdr)
	start := time.Now()
	stalled.expectClosed()
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("dropped after %v, want about the 300 ms MessageReadTimeout", el)
	}
	testenv.Eventually(t, 5*time.Second, "the read-timeout log line", func() bool {
		return strings.Contains(logs.String(), "stopped sending in the middle of a message")
	})

	body, err := bson.Marshal(bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
	if err != nil {
		t.Fatal(err)
	}
	msg := wire.AppendMsg(nil, 7, 0, 0, body)
	slow := dialRaw(t, srv.Addr())
	for i := range msg { // 1 byte per 20 ms: slower overall than the timeout, never stalled
		slow.send(msg[i : i+1])
		time.Sleep(20 * time.Millisecond) // pacing the sender, not waiting for a result
	}
	if _, _, doc := slow.read(); doc.Lookup("ok").Double() != 1 {
		t.Fatalf("slow client's ping: %v", doc)
	}
}

// TestIdleTimeoutSparesRequestsInFlight: with IdleTimeout set, a silent
// connection is closed, but an awaitable hello waiting longer than the
// timeout is in flight, not idle, and gets its answer.
func TestIdleTimeoutSparesRequestsInFlight(t *testing.T) {
	testenv.SkipIfExternal(t, "Config.IdleTimeout")
	srv := startServer(t, embedded.Config{IdleTimeout: 300 * time.Millisecond})
	idle := dialRaw(t, srv.Addr())
	idle.msg(0, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
	idle.read()
	idle.expectClosed()

	waiting := dialRaw(t, srv.Addr())
	waiting.msg(0, bson.D{{Key: "hello", Value: 1}, {Key: "$db", Value: "admin"}})
	_, _, hello := waiting.read()
	tv := hello.Lookup("topologyVersion")
	waiting.msg(0, bson.D{{Key: "hello", Value: 1}, {Key: "$db", Value: "admin"},
		{Key: "topologyVersion", Value: tv}, {Key: "maxAwaitTimeMS", Value: int64(1000)}})
	if _, _, doc := waiting.read(); doc.Lookup("ok").Double() != 1 {
		t.Fatalf("awaitable hello: %v", doc)
	}
}

// TestOversizeDocumentAnswersBSONObjectTooLarge: a 17 MB document is
// refused with 10334 on a connection that stays usable (issue 10: the
// connection was dropped), and so is one just over 16 MiB.
func TestOversizeDocumentAnswersBSONObjectTooLarge(t *testing.T) {
	c := testenv.Client(t)
	coll := c.Database("db").Collection("oversize")
	ctx := context.Background()
	for _, size := range []int{17_000_000, 16*1024*1024 + 100} {
		_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: size}, {Key: "x", Value: make([]byte, size)}})
		if mongo.IsNetworkError(err) {
			t.Fatalf("%d-byte document: the connection was dropped: %v", size, err)
		}
		wantCode(t, err, 10334, "")
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "small"}}); err != nil {
		t.Fatalf("insert after the refusals: %v", err)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Fatalf("count = %d, %v; want only the small document", n, err)
	}
}

// TestOversizeReplyIsAnError: a result over the reply limit is an error
// reply, never a dropped connection.
func TestOversizeReplyIsAnError(t *testing.T) {
	c := testenv.Client(t)
	coll := c.Database("db").Collection("bigreply")
	ctx := context.Background()
	for i := range 2 {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "x", Value: make([]byte, 9_000_000)}}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := coll.Aggregate(ctx, mongo.Pipeline{{{Key: "$group", Value: bson.D{{Key: "_id", Value: nil}, {Key: "all", Value: bson.D{{Key: "$push", Value: "$x"}}}}}}})
	if err == nil {
		t.Fatal("an 18 MB result document was returned")
	}
	if mongo.IsNetworkError(err) {
		t.Fatalf("the connection was dropped: %v", err)
	}
	serverError(t, err)
}

// TestPendingMessageBudget: the memory held by partially received messages
// is bounded server-wide; the connection that would pass the bound is
// dropped, the others are served.
func TestPendingMessageBudget(t *testing.T) {
	testenv.SkipIfExternal(t, "Config.MaxPendingMessageBytes")
	logs := &syncBuffer{}
	srv := startServer(t, embedded.Config{MaxPendingMessageBytes: 256 << 10, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	c := testenv.Connect(t, srv.URI(), nil)
	pending := func() int64 {
		st := runCmd(t, c.Database("admin"), bson.D{{Key: "serverStatus", Value: 1}})
		conns, _ := toM(st["connections"])
		n, _ := conns["pendingMessageBytes"].(int64)
		return n
	}
	partial := make([]byte, 16+200<<10) // announces 1 MB, sends 200 KiB
	binary.LittleEndian.PutUint32(partial, 1<<20)
	binary.LittleEndian.PutUint32(partial[12:], uint32(wire.OpMsg))

	first := dialRaw(t, srv.Addr())
	first.send(partial)
	testenv.Eventually(t, 10*time.Second, "the first partial message to hold its buffer", func() bool { return pending() >= 192<<10 })
	second := dialRaw(t, srv.Addr())
	second.send(partial)
	second.expectClosed()
	testenv.Eventually(t, 5*time.Second, "the budget log line", func() bool {
		return strings.Contains(logs.String(), "partially received messages is exhausted")
	})
	if err := c.Ping(context.Background(), nil); err != nil {
		t.Fatalf("small messages are still served: %v", err)
	}
	_ = first.nc.Close()
	testenv.Eventually(t, 10*time.Second, "the budget to be released", func() bool { return pending() == 0 })
}

// TestIdleTimeoutSparesAwaitingGetMore: a change stream's getMore that
// awaits longer than IdleTimeout is in flight, not idle: the driver sees
// no error.
func TestIdleTimeoutSparesAwaitingGetMore(t *testing.T) {
	testenv.SkipIfExternal(t, "Config.IdleTimeout")
	srv := startServer(t, embedded.Config{IdleTimeout: 300 * time.Millisecond})
	c := testenv.Connect(t, srv.URI(), options.Client().SetMaxPoolSize(1))
	coll := c.Database("db").Collection("idle")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := coll.Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetMaxAwaitTime(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(context.Background())
	for range 2 {
		start := time.Now()
		if cs.TryNext(ctx) {
			t.Fatalf("unexpected event %v", cs.Current)
		}
		if err := cs.Err(); err != nil {
			t.Fatalf("getMore awaiting %v on a server with a 300 ms IdleTimeout: %v", time.Since(start), err)
		}
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if !cs.Next(ctx) {
		t.Fatalf("no event after the insert: %v", cs.Err())
	}
}
