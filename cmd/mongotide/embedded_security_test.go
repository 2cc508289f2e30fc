package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// serveEmbedded runs `mongotide embedded args...` until the test ends and
// returns its URI and stderr.
func serveEmbedded(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"embedded"}, args...), &stdout, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Error("embedded did not stop within a minute of cancellation")
		}
	})
	testenv.Eventually(t, time.Minute, "the URI on stdout", func() bool { return len(stdout.lines()) > 0 })
	return stdout.lines()[0], &stderr
}

func TestEmbeddedAuthFlags(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte("# app users\nbob:hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	uri, _ := serveEmbedded(t, "--auth", "--user", "alice:pw:with:colons", "--users-file", users)
	ctx := context.Background()
	for _, cred := range []options.Credential{{Username: "alice", Password: "pw:with:colons"}, {Username: "bob", Password: "hunter2"}} {
		c := testenv.Connect(t, uri, options.Client().SetAuth(cred))
		if _, err := c.Database("db").Collection("c").InsertOne(ctx, bson.D{}); err != nil {
			t.Fatalf("insert as %s: %v", cred.Username, err)
		}
	}
	anon := testenv.Connect(t, uri, nil)
	_, err := anon.Database("db").Collection("c").Find(ctx, bson.D{})
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 13 {
		t.Fatalf("unauthenticated find = %v, want 13 Unauthorized", err)
	}
}

func TestEmbeddedExposureFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--auth"}, "--auth needs at least one user"},
		{[]string{"--user", "a:b"}, "need --auth"},
		{[]string{"--auth", "--user", "nopassword"}, "NAME:PASSWORD"},
		{[]string{"--tls-cert", "x.pem"}, "go together"},
		{[]string{"--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"}, "--tls-cert/--tls-key"},
	} {
		var stdout, stderr syncBuffer
		code := run(context.Background(), append([]string{"embedded"}, tc.args...), &stdout, &stderr)
		if code == exitOK || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("embedded %v: exit %d, stderr %q; want a failure naming %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

func TestEmbeddedWarnsBeyondLoopbackWithoutAuth(t *testing.T) {
	_, stderr := serveEmbedded(t, "--addr", "0.0.0.0:0")
	if !strings.Contains(stderr.String(), "WARNING: --addr 0.0.0.0:0 listens beyond loopback WITHOUT authentication") {
		t.Fatalf("no warning on stderr: %s", stderr.String())
	}
}

// TestEmbeddedTestCommandsDefault: on for an in-memory server (a test
// server), off with --dir (a local database), as the help says.
func TestEmbeddedTestCommandsDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want bool
	}{
		{"memory", nil, true},
		{"dir", []string{"--dir", t.TempDir()}, false},
		{"dir, asked for", []string{"--dir", t.TempDir(), "--enable-test-commands"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uri, _ := serveEmbedded(t, tc.args...)
			c := testenv.Connect(t, uri, nil)
			err := c.Database("admin").RunCommand(context.Background(), bson.D{
				{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"},
			}).Err()
			if got := err == nil; got != tc.want {
				t.Fatalf("configureFailPoint allowed = %v (%v), want %v", got, err, tc.want)
			}
		})
	}
}

// selfSignedPEM writes a self-signed certificate for 127.0.0.1 and its key
// as PEM files and returns their paths and a pool trusting it.
func selfSignedPEM(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

func TestEmbeddedTLSFlags(t *testing.T) {
	certFile, keyFile, roots := selfSignedPEM(t)
	uri, _ := serveEmbedded(t, "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.Contains(uri, "tls=true") {
		t.Fatalf("URI %q does not say tls=true", uri)
	}
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Disconnect(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Ping(ctx, nil); err != nil {
		t.Fatalf("ping over TLS: %v", err)
	}
}
