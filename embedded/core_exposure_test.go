package embedded_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/xdg-go/scram"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// startServer starts an embedded server with cfg exactly as given (unlike
// testenv.StartEmbedded, which turns test commands on) and stops it at
// cleanup.
func startServer(t *testing.T, cfg embedded.Config) *embedded.Server {
	t.Helper()
	srv, err := embedded.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return srv
}

// connectOpts connects with opts as given (the URI already applied by the
// caller) and disconnects at cleanup.
func connectOpts(t *testing.T, opts *options.ClientOptions) *mongo.Client {
	t.Helper()
	opts.SetHeartbeatInterval(testenv.TestHeartbeatInterval)
	if opts.ServerSelectionTimeout == nil {
		opts.SetServerSelectionTimeout(5 * time.Second)
	}
	c, err := mongo.Connect(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = c.Disconnect(ctx)
	})
	return c
}

func TestFailPointRefusedWithoutEnableTestCommands(t *testing.T) {
	testenv.SkipIfExternal(t, "Config.EnableTestCommands")
	srv := startServer(t, embedded.Config{})
	c := testenv.Connect(t, srv.URI(), nil)
	admin := c.Database("admin")
	for _, cmd := range []bson.D{
		{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "alwaysOn"},
			{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"insert"}}, {Key: "errorCode", Value: 2}}}},
		{{Key: "waitForFailPoint", Value: "failCommand"}, {Key: "timesEntered", Value: 1}, {Key: "maxTimeMS", Value: 10}},
	} {
		err := admin.RunCommand(context.Background(), cmd).Err()
		wantCode(t, err, 59, "EnableTestCommands")
		if ce := cmdErr(t, err); ce.Name != "CommandNotFound" {
			t.Fatalf("codeName %q, want CommandNotFound", ce.Name)
		}
	}
	// The refused failpoint must not have taken effect.
	if _, err := c.Database("db").Collection("c").InsertOne(context.Background(), bson.D{}); err != nil {
		t.Fatalf("insert after a refused configureFailPoint: %v", err)
	}
	p := runCmd(t, admin, bson.D{{Key: "getParameter", Value: 1}, {Key: "enableTestCommands", Value: 1}})
	if p["enableTestCommands"] != false {
		t.Fatalf("getParameter enableTestCommands = %v, want false", p["enableTestCommands"])
	}
}

func TestDataFilesAreOwnerOnly(t *testing.T) {
	testenv.SkipIfExternal(t, "a data directory")
	dir := filepath.Join(t.TempDir(), "data")
	srv, err := embedded.Start(context.Background(), embedded.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c := testenv.Connect(t, srv.URI(), nil)
	if _, err := c.Database("db").Collection("c").InsertOne(context.Background(), bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	files := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		} else {
			files++
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s has mode %v, want %v", path, got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("the server wrote no file under its Dir")
	}
}

func TestWarnsWhenListeningBeyondLoopbackWithoutAuth(t *testing.T) {
	testenv.SkipIfExternal(t, "server logs")
	for _, tc := range []struct {
		name  string
		cfg   embedded.Config
		warns bool
	}{
		{"every interface, no auth", embedded.Config{Addr: "0.0.0.0:0"}, true},
		{"every interface, auth", embedded.Config{Addr: "0.0.0.0:0", Users: []embedded.User{{Name: "a", Password: "b"}}}, false},
		{"loopback", embedded.Config{Addr: "127.0.0.1:0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncBuffer{}
			tc.cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
			startServer(t, tc.cfg)
			if got := strings.Contains(logs.String(), "WITHOUT authentication"); got != tc.warns {
				t.Fatalf("warning logged = %v, want %v; logs:\n%s", got, tc.warns, logs.String())
			}
		})
	}
}

func authServer(t *testing.T) *embedded.Server {
	t.Helper()
	testenv.SkipIfExternal(t, "Config.Users")
	return startServer(t, embedded.Config{Users: []embedded.User{{Name: "alice", Password: "s3cret:pw"}}})
}

func TestAuthSCRAMSHA256ThroughTheDriver(t *testing.T) {
	srv := authServer(t)
	ctx := context.Background()

	good := testenv.Connect(t, srv.URI(), options.Client().SetAuth(options.Credential{Username: "alice", Password: "s3cret:pw"}))
	coll := good.Database("db").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatalf("insert as alice: %v", err)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Fatalf("count as alice = %d, %v", n, err)
	}
	st := runCmd(t, good.Database("admin"), bson.D{{Key: "connectionStatus", Value: 1}})
	if !strings.Contains(bsonString(t, st), `"user": "alice"`) {
		t.Fatalf("connectionStatus does not name alice: %v", st)
	}
	opts := runCmd(t, good.Database("admin"), bson.D{{Key: "getCmdLineOpts", Value: 1}})
	if !strings.Contains(bsonString(t, opts), `"authorization": "enabled"`) {
		t.Fatalf("getCmdLineOpts does not report authorization enabled: %v", opts)
	}

	wrong := testenv.Connect(t, srv.URI(), options.Client().SetAuth(options.Credential{Username: "alice", Password: "nope"}))
	err := wrong.Ping(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "AuthenticationFailed") {
		t.Fatalf("ping with a wrong password = %v, want AuthenticationFailed", err)
	}
	unknown := testenv.Connect(t, srv.URI(), options.Client().SetAuth(options.Credential{Username: "mallory", Password: "s3cret:pw"}))
	if err := unknown.Ping(ctx, nil); err == nil || !strings.Contains(err.Error(), "AuthenticationFailed") {
		t.Fatalf("ping as an unknown user = %v, want AuthenticationFailed", err)
	}

	anon := testenv.Connect(t, srv.URI(), nil)
	if err := anon.Ping(ctx, nil); err != nil {
		t.Fatalf("ping needs no authentication (as on mongod): %v", err)
	}
	_, err = anon.Database("db").Collection("c").Find(ctx, bson.D{})
	wantCode(t, err, 13, "requires authentication")
	_, err = anon.Database("db").Collection("c").InsertOne(ctx, bson.D{})
	wantCode(t, err, 13, "requires authentication")
}

// TestAuthSaslStartConversation drives saslStart/saslContinue by hand on
// one pooled connection, without skipEmptyExchange (the classic three
// rounds), then uses that connection.
func TestAuthSaslStartConversation(t *testing.T) {
	srv := authServer(t)
	ctx := context.Background()
	c := testenv.Connect(t, srv.URI(), options.Client().SetMaxPoolSize(1))
	admin := c.Database("admin")
	if _, err := c.Database("db").Collection("c").Find(ctx, bson.D{}); err == nil {
		t.Fatal("find before authentication succeeded")
	}
	client, err := scram.SHA256.NewClient("alice", "s3cret:pw", "")
	if err != nil {
		t.Fatal(err)
	}
	conv := client.NewConversation()
	first, err := conv.Step("")
	if err != nil {
		t.Fatal(err)
	}
	res := runCmd(t, admin, bson.D{{Key: "saslStart", Value: 1}, {Key: "mechanism", Value: "SCRAM-SHA-256"}, {Key: "payload", Value: bson.Binary{Data: []byte(first)}}})
	for i := 0; res["done"] != true; i++ {
		if i > 3 {
			t.Fatalf("conversation does not end: %v", res)
		}
		next, err := conv.Step(string(res["payload"].(bson.Binary).Data))
		if err != nil {
			t.Fatalf("client step: %v", err)
		}
		res = runCmd(t, admin, bson.D{{Key: "saslContinue", Value: 1}, {Key: "conversationId", Value: res["conversationId"]}, {Key: "payload", Value: bson.Binary{Data: []byte(next)}}})
	}
	if !conv.Valid() {
		t.Fatal("the server's signature did not verify")
	}
	if _, err := c.Database("db").Collection("c").InsertOne(ctx, bson.D{}); err != nil {
		t.Fatalf("insert on the authenticated connection: %v", err)
	}
	err = admin.RunCommand(ctx, bson.D{{Key: "saslStart", Value: 1}, {Key: "mechanism", Value: "SCRAM-SHA-1"}, {Key: "payload", Value: bson.Binary{Data: []byte(first)}}}).Err()
	wantCode(t, err, 334, "SCRAM-SHA-1")
}

func bsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := bson.MarshalExtJSONIndent(v, false, false, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testCA is a throwaway certificate authority and a server certificate it
// signed for 127.0.0.1.
func testCA(t *testing.T) (server tls.Certificate, roots *x509.CertPool) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mongotide test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(ca)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, roots
}

func TestTLSWithTheDriver(t *testing.T) {
	testenv.SkipIfExternal(t, "Config.TLS")
	cert, roots := testCA(t)
	srv := startServer(t, embedded.Config{
		TLS:   &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Users: []embedded.User{{Name: "alice", Password: "pw"}},
	})
	if !strings.Contains(srv.URI(), "tls=true") {
		t.Fatalf("URI %q does not say tls=true", srv.URI())
	}
	ctx := context.Background()
	c := connectOpts(t, options.Client().ApplyURI(srv.URI()).
		SetTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}).
		SetAuth(options.Credential{Username: "alice", Password: "pw"}))
	if _, err := c.Database("db").Collection("c").InsertOne(ctx, bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatalf("insert over TLS: %v", err)
	}
	// A client that does not trust the CA, and one speaking plain TCP,
	// get nothing.
	untrusted := connectOpts(t, options.Client().ApplyURI(srv.URI()).SetServerSelectionTimeout(time.Second))
	if err := untrusted.Ping(ctx, nil); err == nil {
		t.Fatal("a client without the test CA connected")
	}
	plainURI := strings.Replace(srv.URI(), "&tls=true", "", 1)
	plain := connectOpts(t, options.Client().ApplyURI(plainURI))
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := plain.Ping(pctx, nil); err == nil {
		t.Fatal("a plain-TCP client was served by a TLS server")
	}
}

func TestExposureConfigValidated(t *testing.T) {
	for name, cfg := range map[string]embedded.Config{
		"user without password": {Users: []embedded.User{{Name: "a"}}},
		"duplicate user":        {Users: []embedded.User{{Name: "a", Password: "x"}, {Name: "a", Password: "y"}}},
		"tls without cert":      {TLS: &tls.Config{}},
		"negative max conns":    {MaxConnections: -1},
	} {
		if _, err := embedded.Start(context.Background(), cfg); !errors.Is(err, embedded.ErrInvalidConfig) {
			t.Errorf("%s: Start = %v, want ErrInvalidConfig", name, err)
		}
	}
}

// TestTLSHandshakeStallIsDropped: a client that connects to a TLS server
// and never completes the handshake is dropped after MessageReadTimeout.
func TestTLSHandshakeStallIsDropped(t *testing.T) {
	testenv.SkipIfExternal(t, "Config.TLS")
	cert, _ := testCA(t)
	srv := startServer(t, embedded.Config{
		TLS:                &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		MessageReadTimeout: 300 * time.Millisecond,
	})
	r := dialRaw(t, srv.Addr())
	r.send([]byte{0x16, 0x03, 0x01}) // the start of a ClientHello record, then nothing
	r.expectClosed()
}
