package embedded_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestURIFormsConnect(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	host := srv.Addr()
	if want := "mongodb://" + host + "/?replicaSet=rs0"; srv.URI() != want {
		t.Fatalf("URI() = %q, want %q", srv.URI(), want)
	}
	if !strings.HasPrefix(host, "127.0.0.1:") {
		t.Fatalf("default address %q is not loopback", host)
	}
	for _, uri := range []string{srv.URI(), srv.URI() + "&directConnection=true", "mongodb://" + host + "/?directConnection=true"} {
		t.Run(uri, func(t *testing.T) {
			c := testenv.Connect(t, uri, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.Ping(ctx, nil); err != nil {
				t.Fatalf("ping: %v", err)
			}
		})
	}
}

func TestHelloFields(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{ReplicaSetName: "myset"})
	c := testenv.Connect(t, srv.URI(), nil)
	res := runCmd(t, c.Database("admin"), bson.D{{Key: "hello", Value: 1}})
	host := srv.Addr()
	checks := map[string]any{
		"isWritablePrimary": true, "secondary": false, "setName": "myset", "primary": host, "me": host,
		"maxBsonObjectSize": int32(16777216), "maxMessageSizeBytes": int32(48000000),
		"maxWriteBatchSize": int32(100000), "logicalSessionTimeoutMinutes": int32(30),
		"minWireVersion": int32(0), "maxWireVersion": int32(25), "readOnly": false, "ok": 1.0,
	}
	for k, want := range checks {
		if res[k] != want {
			t.Errorf("hello.%s = %#v, want %#v", k, res[k], want)
		}
	}
	if hosts, ok := res["hosts"].(bson.A); !ok || len(hosts) != 1 || hosts[0] != host {
		t.Errorf("hello.hosts = %#v, want [%q]", res["hosts"], host)
	}
	tv, ok := toM(res["topologyVersion"])
	if !ok {
		t.Fatalf("hello.topologyVersion = %#v", res["topologyVersion"])
	}
	if _, ok := tv["processId"].(bson.ObjectID); !ok || tv["counter"] != int64(0) {
		t.Errorf("topologyVersion = %#v", tv)
	}
	for _, k := range []string{"electionId", "lastWrite", "localTime", "connectionId", "setVersion", "$clusterTime", "operationTime"} {
		if _, ok := res[k]; !ok {
			t.Errorf("hello has no %s: %v", k, res)
		}
	}
	ct, _ := toM(res["$clusterTime"])
	sig, _ := toM(ct["signature"])
	if b, ok := sig["hash"].(bson.Binary); !ok || len(b.Data) != 20 || sig["keyId"] != int64(0) {
		t.Errorf("$clusterTime.signature = %#v", sig)
	}
	legacy := runCmd(t, c.Database("admin"), bson.D{{Key: "isMaster", Value: 1}})
	if legacy["ismaster"] != true {
		t.Errorf("isMaster.ismaster = %#v", legacy["ismaster"])
	}
	bi := runCmd(t, c.Database("admin"), bson.D{{Key: "buildInfo", Value: 1}})
	if bi["version"] != "8.0.0" {
		t.Errorf("buildInfo.version = %#v", bi["version"])
	}
	if va, ok := bi["versionArray"].(bson.A); !ok || len(va) != 4 || va[0] != int32(8) {
		t.Errorf("buildInfo.versionArray = %#v", bi["versionArray"])
	}
	rs := runCmd(t, c.Database("admin"), bson.D{{Key: "replSetGetStatus", Value: 1}})
	if rs["set"] != "myset" || rs["myState"] != int32(1) {
		t.Errorf("replSetGetStatus = %v", rs)
	}
}

func TestUnknownCommand(t *testing.T) {
	c := testenv.Client(t)
	err := c.Database("test").RunCommand(context.Background(), bson.D{{Key: "foo", Value: 1}}).Err()
	ce := cmdErr(t, err)
	if ce.Code != 59 || ce.Name != "CommandNotFound" || ce.Message != "no such command: 'foo'" {
		t.Fatalf("got %+v, want 59 CommandNotFound \"no such command: 'foo'\"", ce)
	}
}

// TestAwaitableHelloNoBusyLoop checks that the driver's streaming monitor
// is served by waiting hellos, not answered at once (which makes drivers
// spin): consecutive awaited heartbeats must be about heartbeatInterval
// apart.
func TestAwaitableHelloNoBusyLoop(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	var mu sync.Mutex
	var awaited []time.Time
	var total atomic.Int64
	mon := &event.ServerMonitor{
		ServerHeartbeatSucceeded: func(e *event.ServerHeartbeatSucceededEvent) {
			total.Add(1)
			if e.Awaited {
				mu.Lock()
				awaited = append(awaited, time.Now())
				mu.Unlock()
			}
		},
	}
	const interval = 500 * time.Millisecond // the driver's minimum
	c := testenv.Connect(t, srv.URI(), options.Client().SetServerMonitor(mon).SetHeartbeatInterval(interval))
	if err := c.Ping(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testenv.Eventually(t, 10*time.Second, "4 awaited heartbeats", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(awaited) >= 4
	})
	elapsed := time.Since(start)
	// Three intervals must separate the first and fourth awaited heartbeat.
	mu.Lock()
	span := awaited[3].Sub(awaited[0])
	mu.Unlock()
	if span < 3*interval*8/10 {
		t.Fatalf("4 awaited heartbeats within %v: the server answers awaitable hellos without waiting", span)
	}
	if n := total.Load(); n > int64(elapsed/interval)+4 {
		t.Fatalf("%d heartbeats in %v at a %v interval: busy loop", n, elapsed, interval)
	}

	// The server's own count over a ~3 s window: streamed replies plus the
	// driver's RTT pings, a handful per interval; a busy loop makes
	// thousands.
	before := helloCount(t, c)
	start = time.Now()
	mu.Lock()
	seen := len(awaited)
	mu.Unlock()
	testenv.Eventually(t, 10*time.Second, "6 more awaited heartbeats", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(awaited) >= seen+6
	})
	window := time.Since(start)
	hellos := helloCount(t, c) - before
	if max := 3*int64(window/interval) + 6; hellos > max {
		t.Fatalf("server ran %d hellos in %v (at most %d expected at a %v heartbeat): busy loop", hellos, window, max, interval)
	}
	if hellos < 6 {
		t.Fatalf("server counted %d hellos for 6 heartbeats", hellos)
	}
}

// helloCount is the server's count of hello/isMaster commands run.
func helloCount(t *testing.T, c *mongo.Client) int64 {
	t.Helper()
	res := runCmd(t, c.Database("admin"), bson.D{{Key: "serverStatus", Value: 1}})
	m, _ := toM(res["metrics"])
	cmds, _ := toM(m["commands"])
	var n int64
	for _, name := range []string{"hello", "isMaster", "ismaster"} {
		if cm, ok := toM(cmds[name]); ok {
			v, _ := cm["total"].(int64)
			n += v
		}
	}
	return n
}

func TestManyConcurrentClients(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	const clients, ops = 12, 30
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	cs := make([]*mongo.Client, clients)
	for i := range cs {
		cs[i] = testenv.Connect(t, srv.URI(), nil)
	}
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < ops; j++ {
				cmd := bson.D{{Key: "ping", Value: 1}}
				if j%3 == 1 {
					cmd = bson.D{{Key: "buildInfo", Value: 1}}
				}
				if j%3 == 2 {
					cmd = bson.D{{Key: "hello", Value: 1}}
				}
				if err := c.Database("admin").RunCommand(context.Background(), cmd).Err(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestStopIdempotentAndClosesConnections(t *testing.T) {
	srv, err := embedded.Start(context.Background(), embedded.Config{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("first Stop: %v", err)
	}
	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := raw.Read(make([]byte, 1)); err == nil {
		t.Fatal("raw connection still open after Stop")
	}
	if _, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		t.Fatal("listener still accepting after Stop")
	}
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := c.Ping(pctx, nil); err == nil {
		t.Fatal("ping succeeded after Stop")
	}
	// endSessions has no server to go to: bound Disconnect's attempt.
	dctx, dcancel := context.WithTimeout(ctx, time.Second)
	defer dcancel()
	_ = c.Disconnect(dctx)
}

func TestConfigValidation(t *testing.T) {
	cases := []embedded.Config{
		{Addr: "no-port"},
		{ReplicaSetName: "a/b"},
		{OplogCapacity: -1},
	}
	for _, cfg := range cases {
		srv, err := embedded.Start(context.Background(), cfg)
		if err == nil {
			_ = srv.Stop(context.Background())
			t.Errorf("Start(%+v) succeeded, want an error", cfg)
			continue
		}
		if !errors.Is(err, embedded.ErrInvalidConfig) {
			t.Errorf("Start(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
	d := embedded.Config{}.WithDefaults()
	if d.Addr != "127.0.0.1:0" || d.ReplicaSetName != "rs0" || d.OplogCapacity != 100000 || d.Logger == nil {
		t.Errorf("defaults = %+v", d)
	}
}

// TestRestartOnDirKeepsDataAndAddress: Stop then Start on the same Dir and
// address; clients see the data again at the same URI.
func TestRestartOnDirKeepsDataAndAddress(t *testing.T) {
	testenv.SkipIfExternal(t, "restarts the embedded server on a data directory")
	dir := t.TempDir()
	ctx := context.Background()
	srv, err := embedded.Start(ctx, embedded.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	uri, addr := srv.URI(), srv.Addr()
	c := testenv.Connect(t, uri, nil)
	if _, err := c.Database("keep").Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: "survivor"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	srv2 := testenv.StartEmbedded(t, embedded.Config{Dir: dir, Addr: addr})
	if srv2.URI() != uri {
		t.Fatalf("restarted URI %q, want %q", srv2.URI(), uri)
	}
	c2 := testenv.Connect(t, srv2.URI(), nil)
	var doc bson.M
	if err := c2.Database("keep").Collection("c").FindOne(ctx, bson.D{{Key: "_id", Value: "survivor"}}).Decode(&doc); err != nil {
		t.Fatalf("document after restart: %v", err)
	}
}

func TestStartOnBusyAddressFails(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	other, err := embedded.Start(context.Background(), embedded.Config{Addr: srv.Addr()})
	if err == nil {
		_ = other.Stop(context.Background())
		t.Fatalf("second server on %s started", srv.Addr())
	}
	if !strings.Contains(err.Error(), "listen on "+srv.Addr()) {
		t.Fatalf("error %q does not name the address", err)
	}
}

// TestCredentialsGetAClearError: the server has no users; a client with
// credentials must learn that instead of hanging or half-working.
func TestCredentialsGetAClearError(t *testing.T) {
	testenv.SkipIfExternal(t, "checks the embedded server's refusal of authentication")
	srv := testenv.StartEmbedded(t, embedded.Config{})
	uri := strings.Replace(srv.URI(), "mongodb://", "mongodb://user:pass@", 1)
	c := testenv.Connect(t, uri, options.Client().SetServerSelectionTimeout(2*time.Second))
	err := c.Ping(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "authentication is not supported") {
		t.Fatalf("ping with credentials: %v, want the authentication-not-supported error", err)
	}
}

func TestServerStatusCountsCommands(t *testing.T) {
	testenv.SkipIfExternal(t, "exact command counts need a server of its own")
	srv := testenv.StartEmbedded(t, embedded.Config{})
	c := testenv.Connect(t, srv.URI(), nil)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	setFailPoint(t, c, failCommand(bson.D{{Key: "times", Value: 1}}, bson.D{{Key: "failCommands", Value: bson.A{"buildInfo"}}, {Key: "errorCode", Value: 2}}))
	_ = c.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Err()
	_ = c.Database("admin").RunCommand(ctx, bson.D{{Key: "noSuchThing", Value: 1}}).Err()
	res := runCmd(t, c.Database("admin"), bson.D{{Key: "serverStatus", Value: 1}})
	m, _ := toM(res["metrics"])
	cmds, _ := toM(m["commands"])
	bi, _ := toM(cmds["buildInfo"])
	if bi["total"] != int64(4) || bi["failed"] != int64(1) {
		t.Fatalf("metrics.commands.buildInfo = %v, want total 4 failed 1", bi)
	}
	if cmds["<UNKNOWN>"] != int64(1) {
		t.Fatalf("metrics.commands.<UNKNOWN> = %v, want 1", cmds["<UNKNOWN>"])
	}
}

func TestStableAPIStrict(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	c := testenv.Connect(t, srv.URI(), options.Client().SetServerAPIOptions(options.ServerAPI(options.ServerAPIVersion1).SetStrict(true)))
	ctx := context.Background()
	if err := c.Ping(ctx, nil); err != nil {
		t.Fatalf("ping with a strict API: %v", err)
	}
	err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Err()
	if ce := cmdErr(t, err); ce.Code != 323 {
		t.Fatalf("buildInfo with apiStrict: %+v, want 323 APIStrictError", ce)
	}
}

// The lifecycle every mongotide package shares: Start's ctx bounds the
// start only, Done is closed once Stop has finished, Err is nil for a clean
// stop, and Stop is idempotent.
func TestServerLifecycleDoneErr(t *testing.T) {
	startCtx, cancel := context.WithCancel(context.Background())
	srv, err := embedded.Start(startCtx, embedded.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cancel() // bounds the start only
	client := testenv.Connect(t, srv.URI(), nil)
	if err := client.Ping(context.Background(), nil); err != nil {
		t.Fatalf("ping after the start ctx was cancelled: %v", err)
	}
	select {
	case <-srv.Done():
		t.Fatal("Done closed while running")
	default:
	}
	if err := srv.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-srv.Done()
	if err := srv.Err(); err != nil {
		t.Fatalf("Err after a clean Stop = %v", err)
	}
	if err := srv.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop = %v", err)
	}
}
