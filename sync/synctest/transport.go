package synctest

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/gateway"
	"github.com/mongotide/mongotide/gateway/client"
	"github.com/mongotide/mongotide/internal/testenv"
	mtsync "github.com/mongotide/mongotide/sync"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Transport is a way for a replica to reach its remote.
type Transport struct {
	// Name names the transport in test names ("database", "gateway").
	Name string
	// Start starts a remote for one test, torn down when the test ends.
	Start func(t testing.TB, s Setup) Remote
}

// Setup is what a test asks of a remote.
type Setup struct {
	// Collections the replicas sync.
	Collections []string
	// Policy and Resolve decide concurrent edits.
	Policy  mtsync.ConflictPolicy
	Resolve func(context.Context, mtsync.Conflict) (bson.Raw, error)
	// Clock is the wall clock of the servers, gateways and syncers.
	Clock func() time.Time
	// Restartable: the test stops and restarts the remote (Stop, Restart).
	Restartable bool
	// ReadOnly collections (gateway transport): readable, never writable
	// by the replicas (their pushes are rejected).
	ReadOnly []string
}

// CursorKeyRotator is a Remote (the gateway transport's) whose cursors
// can be invalidated: RotateCursorKey restarts the gateway with a new
// cursor key, so every cursor issued before is refused.
type CursorKeyRotator interface {
	RotateCursorKey(t testing.TB, ctx context.Context)
}

// Remote is a running remote.
type Remote interface {
	// Configure makes cfg sync with the remote as replica cfg.ReplicaID.
	Configure(t testing.TB, cfg *mtsync.Config)
	// DB is the database that holds the remote's documents.
	DB() *mongo.Database
	// Replica is the Version.Replica of replica id's edits on the remote.
	Replica(id string) string
	// Stop makes the remote unreachable for the replicas; Restart brings
	// it back on the same address with the same data.
	Stop(t testing.TB, ctx context.Context)
	Restart(t testing.TB, ctx context.Context)
}

// Clock is a test's wall clock: real time plus an offset Advance moves, so
// an edit is made "later" than another without waiting. Everything a run
// starts (servers, gateways, syncers) reads it.
type Clock struct{ off atomic.Int64 }

// Now is the clock's time.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// Advance moves the clock past every time read from it so far by more than
// millisecond rounding.
func (c *Clock) Advance() { c.off.Add(int64(20 * time.Millisecond)) }

// Database is the transport of sync.Config.Remote: the replica reads and
// writes the remote database itself.
func Database() Transport {
	return Transport{Name: "database", Start: startDatabase}
}

// Gateway is the transport of sync.Config.Gateway: a gateway (package
// gateway) in front of the remote database decides concurrent edits, and
// the replica reaches it with a gateway/client holding a token.
func Gateway() Transport {
	return Transport{Name: "gateway", Start: startGateway}
}

type server struct {
	cfg    embedded.Config
	srv    *embedded.Server
	client *mongo.Client
}

// startServer starts an embedded server: on a fixed address and data
// directory when it will be restarted.
func startServer(t testing.TB, s Setup, restartable bool) *server {
	t.Helper()
	sv := &server{cfg: embedded.Config{Clock: s.Clock}}
	if !restartable {
		sv.srv = testenv.StartEmbedded(t, sv.cfg)
		sv.client = testenv.Connect(t, sv.srv.URI(), options.Client())
		return sv
	}
	sv.cfg.Addr, sv.cfg.Dir = freeAddr(t), t.TempDir()
	sv.start(t, context.Background())
	t.Cleanup(func() {
		if sv.srv != nil {
			_ = sv.srv.Stop(context.Background())
		}
	})
	sv.client = testenv.Connect(t, sv.srv.URI(), options.Client().SetServerSelectionTimeout(time.Second))
	return sv
}

func (sv *server) start(t testing.TB, ctx context.Context) {
	t.Helper()
	srv, err := embedded.Start(ctx, sv.cfg)
	if err != nil {
		t.Fatalf("synctest: start a server on %s: %v", sv.cfg.Addr, err)
	}
	sv.srv = srv
}

func (sv *server) stop(t testing.TB, ctx context.Context) {
	t.Helper()
	if err := sv.srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	sv.srv = nil
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// NewLocal returns a fresh local database for a replica, on a server of
// its own that reads the test's clock.
func NewLocal(t testing.TB, clock func() time.Time, name string) *mongo.Database {
	t.Helper()
	srv := testenv.StartEmbedded(t, embedded.Config{Clock: clock})
	return testenv.Connect(t, srv.URI(), options.Client()).Database(name)
}

type dbRemote struct {
	s  Setup
	sv *server
	db *mongo.Database
}

func startDatabase(t testing.TB, s Setup) Remote {
	testenv.SkipIfExternal(t, "the conformance suite starts its own servers")
	sv := startServer(t, s, s.Restartable)
	return &dbRemote{s: s, sv: sv, db: sv.client.Database("remote")}
}

func (r *dbRemote) Configure(_ testing.TB, cfg *mtsync.Config) {
	cfg.Remote, cfg.Conflict, cfg.Resolve = r.db, r.s.Policy, r.s.Resolve
}
func (r *dbRemote) DB() *mongo.Database      { return r.db }
func (r *dbRemote) Replica(id string) string { return id }
func (r *dbRemote) Stop(t testing.TB, ctx context.Context) {
	r.sv.stop(t, ctx)
}
func (r *dbRemote) Restart(t testing.TB, ctx context.Context) { r.sv.start(t, ctx) }

// The gateway transport's test credentials: every replica signs in as the
// same user (one owner, the devices of one person).
var (
	gwSecret    = []byte("synctest-secret-synctest-secret-0123456789")
	gwCursorKey = []byte("synctest-cursor-key-synctest-cursor-key")
	gwOwner     = "user-1"
)

type gwRemote struct {
	t    testing.TB
	s    Setup
	sv   *server
	db   *mongo.Database
	addr string
	gw   *gateway.Gateway
	key  []byte
}

func startGateway(t testing.TB, s Setup) Remote {
	testenv.SkipIfExternal(t, "the conformance suite starts its own servers")
	sv := startServer(t, s, false)
	r := &gwRemote{t: t, s: s, sv: sv, db: sv.client.Database("remote"), addr: freeAddr(t), key: gwCursorKey}
	r.Restart(t, context.Background())
	t.Cleanup(func() {
		if r.gw != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := r.gw.Stop(ctx); err != nil {
				t.Errorf("synctest: stop the gateway: %v", err)
			}
		}
	})
	return r
}

func (r *gwRemote) Configure(t testing.TB, cfg *mtsync.Config) {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": gwOwner, "exp": time.Now().Add(time.Hour).Unix()}).SignedString(gwSecret)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{BaseURL: "http://" + r.addr, Token: tok, Backoff: FastBackoff, MaxRetries: 2, RequestTimeout: 40 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	cfg.Gateway = c
	if r.s.Policy == mtsync.FieldMerge {
		cfg.Conflict = mtsync.FieldMerge // keep base documents, send them
	}
}

func (r *gwRemote) DB() *mongo.Database { return r.db }

func (r *gwRemote) Replica(id string) string {
	return "gw:" + base64.RawURLEncoding.EncodeToString([]byte(gwOwner)) + ":" + id
}

func (r *gwRemote) Stop(t testing.TB, ctx context.Context) {
	t.Helper()
	if err := r.gw.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	r.gw = nil
}

func (r *gwRemote) Restart(t testing.TB, ctx context.Context) {
	t.Helper()
	auth, err := gateway.NewJWTAuthenticator(gateway.JWTConfig{HS256Secret: gwSecret})
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]gateway.Rule{}
	for _, c := range r.s.Collections {
		rules[c] = gateway.Rule{Shared: true, ReadRoles: []string{"*"}, WriteRoles: []string{"*"}}
	}
	for _, c := range r.s.ReadOnly {
		rules[c] = gateway.Rule{Shared: true, ReadRoles: []string{"*"}, WriteRoles: []string{"admin"}}
	}
	gw, err := gateway.New(gateway.Config{
		Database: r.db, Collections: rules, Authenticator: auth, CursorKey: r.key,
		Addr: r.addr, Conflict: r.s.Policy, Resolve: r.s.Resolve, Clock: r.s.Clock,
		RateLimit: 10000, RateBurst: 10000, Heartbeat: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	serr := gw.Start(ctx)
	if serr != nil {
		t.Fatalf("synctest: start the gateway on %s: %v", r.addr, serr)
	}
	r.gw = gw
}

// RotateCursorKey restarts the gateway with a new cursor key.
func (r *gwRemote) RotateCursorKey(t testing.TB, ctx context.Context) {
	t.Helper()
	r.Stop(t, ctx)
	r.key = append([]byte("rotated-"), r.key...)
	r.Restart(t, ctx)
}

func fmtDoc(d bson.Raw) string {
	if d == nil {
		return "<none>"
	}
	return fmt.Sprint(d)
}
