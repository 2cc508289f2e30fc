package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/gateway"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// syncServers starts a local and a remote embedded server for a sync
// command test and returns a one-minute context, their URIs and
// app.books on each.
func syncServers(t *testing.T) (ctx context.Context, localURI, remoteURI string, local, remote *mongo.Collection) {
	t.Helper()
	localURI = testenv.StartEmbedded(t, embedded.Config{}).URI()
	remoteURI = testenv.StartEmbedded(t, embedded.Config{}).URI()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	remote = testenv.Connect(t, remoteURI, nil).Database("app").Collection("books")
	local = testenv.Connect(t, localURI, nil).Database("app").Collection("books")
	return ctx, localURI, remoteURI, local, remote
}

func TestSyncCommand(t *testing.T) {
	ctx, localURI, remoteURI, local, remote := syncServers(t)
	for i := range 30 {
		if _, err := remote.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	conn := []string{"--local", localURI, "--remote", remoteURI, "--db", "app", "-c", "books"}

	runCtx, stop := context.WithCancel(ctx)
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(runCtx, append([]string{"sync", "--batch", "7"}, conn...), &stdout, &stderr) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := local.CountDocuments(ctx, bson.D{})
		// The bootstrap checkpoint says done after the last batch is in.
		done, _ := local.Database().Collection("_mongotide_sync_state").CountDocuments(ctx,
			bson.D{{Key: "_id", Value: "bootstrap.books"}, {Key: "done", Value: true}})
		if err == nil && n == 30 && done == 1 {
			break
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("bootstrap did not copy 30 documents (have %d, %v); stderr:\n%s", n, err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if code := <-done; code != exitOK {
		t.Fatalf("sync exited %d; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "bootstrap books") {
		t.Fatalf("no bootstrap progress bar on stderr:\n%s", stderr.String())
	}

	var out, errOut syncBuffer
	if code := run(ctx, append([]string{"sync", "reconcile"}, conn...), &out, &errOut); code != exitOK || out.String() != "uploaded 0, downloaded 0\n" {
		t.Fatalf("reconcile: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	out, errOut = syncBuffer{}, syncBuffer{}
	if code := run(ctx, append([]string{"sync", "conflicts"}, conn...), &out, &errOut); code != exitOK || out.String() != "" {
		t.Fatalf("conflicts: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	out, errOut = syncBuffer{}, syncBuffer{}
	if code := run(ctx, append([]string{"sync", "conflicts", "dismiss", "nope"}, conn...), &out, &errOut); code != exitError || !strings.Contains(errOut.String(), "conflict not found") {
		t.Fatalf("dismiss unknown: exit %d, stderr %q", code, errOut.String())
	}

	// The run registered this replica on the remote.
	out, errOut = syncBuffer{}, syncBuffer{}
	if code := run(ctx, append([]string{"sync", "replicas"}, conn...), &out, &errOut); code != exitOK ||
		len(out.lines()) != 2 || !strings.HasPrefix(out.lines()[0], "ID") || !strings.HasSuffix(out.lines()[1], "this") {
		t.Fatalf("replicas: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	id := strings.Fields(out.lines()[1])[0]
	out, errOut = syncBuffer{}, syncBuffer{}
	if code := run(ctx, append([]string{"sync", "replicas", "--forget", id}, conn...), &out, &errOut); code != exitOK || out.String() != "forgot replica "+id+"\n" {
		t.Fatalf("replicas --forget: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}

	out, errOut = syncBuffer{}, syncBuffer{}
	if code := run(ctx, append([]string{"sync", "compact"}, conn...), &out, &errOut); code != exitOK ||
		len(out.lines()) != 2 || !strings.HasPrefix(out.lines()[1], "books") {
		t.Fatalf("compact: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}

	// A local write while no sync runs is pending; reset-local refuses it.
	if _, err := local.InsertOne(ctx, bson.D{{Key: "_id", Value: "offline"}}); err != nil {
		t.Fatal(err)
	}
	out, errOut = syncBuffer{}, syncBuffer{}
	if code := run(ctx, append([]string{"sync", "status"}, conn...), &out, &errOut); code != exitOK ||
		out.String() != "COLLECTION\tBOOTSTRAPPED\tPENDING\tCONFLICTS\nbooks\ttrue\t1\t0\n" {
		t.Fatalf("status: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	out, errOut = syncBuffer{}, syncBuffer{}
	if code := run(ctx, append([]string{"sync", "reset-local", "--yes"}, conn...), &out, &errOut); code != exitError || !strings.Contains(errOut.String(), "not uploaded yet") {
		t.Fatalf("reset-local with pending: exit %d, stderr %q", code, errOut.String())
	}
	out, errOut = syncBuffer{}, syncBuffer{}
	if code := run(ctx, append([]string{"sync", "reset-local", "--yes", "--force"}, conn...), &out, &errOut); code != exitOK {
		t.Fatalf("reset-local --force: exit %d, stderr %q", code, errOut.String())
	}
	if n, err := local.CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
		t.Fatalf("local holds %d documents after reset-local (%v)", n, err)
	}
}

func TestSyncCommandUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sync"}, "missing --collections, --db, --local, --remote"},
		{[]string{"sync", "--local", "mongodb://x", "--remote", "mongodb://y", "--db", "d", "-c", "a$b"}, `"a$b" contains '$'`},
		{[]string{"sync", "--local", "mongodb://x", "--remote", "mongodb://y", "--db", "d", "-c", "a", "--conflict", "coin"}, `--conflict "coin"`},
		{[]string{"sync", "--local", "mongodb://x", "--remote", "mongodb://y", "--db", "d", "-c", "a", "--upload-rate", "-3"}, "UploadRate is -3"},
		{[]string{"sync", "--local", "mongodb://x", "--remote", "mongodb://y", "--db", "d", "-c", "a", "--upload-burst", "4"}, "UploadBurst is 4 but UploadRate is 0"},
	} {
		var out, errOut syncBuffer
		code := run(context.Background(), tc.args, &out, &errOut)
		if code != exitUsage || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, errOut.String(), exitUsage, tc.want)
		}
	}
}

// `mongotide sync --gateway URL --token-file F`: a device with only a
// token syncs both ways through a gateway in front of the remote.
func TestSyncCommandThroughGateway(t *testing.T) {
	ctx, localURI, _, local, remote := syncServers(t)
	for i := range 5 {
		if _, err := remote.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "n", Value: int64(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	secret := []byte("cli-gateway-test-secret-0123456789abcdef")
	auth, err := gateway.NewJWTAuthenticator(gateway.JWTConfig{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{
		Database: remote.Database(), Authenticator: auth, CursorKey: []byte("cli-gateway-test-cursor-key-0123456789"),
		Collections: map[string]gateway.Rule{"books": {Shared: true, ReadRoles: []string{"*"}, WriteRoles: []string{"*"}}},
		Addr:        "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Stop(context.Background()) })
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(runCtx, []string{"sync", "-q", "--local", localURI, "--gateway", "http://" + gw.Addr(), "--token-file", tokenFile, "--db", "app", "-c", "books"}, &stdout, &stderr)
	}()
	count := func(c interface {
		CountDocuments(context.Context, any, ...options.Lister[options.CountOptions]) (int64, error)
	}) int64 {
		n, _ := c.CountDocuments(ctx, bson.D{})
		return n
	}
	testenv.Eventually(t, 30*time.Second, "the gateway's documents copied", func() bool { return count(local) == 5 }, stderr.String)
	if _, err := local.InsertOne(ctx, bson.D{{Key: "_id", Value: "mine"}, {Key: "n", Value: int64(7)}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the local insert pushed", func() bool { return count(remote) == 6 }, stderr.String)
	var got struct {
		N any `bson:"n"`
	}
	if err := remote.FindOne(ctx, bson.D{{Key: "_id", Value: "mine"}}).Decode(&got); err != nil || got.N != int64(7) {
		t.Fatalf("pushed document = %+v (%v), want n an int64 7", got, err)
	}
	stop()
	if code := <-done; code != exitOK {
		t.Fatalf("sync exited %d; stderr:\n%s", code, stderr.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--gateway", "http://x"}, "missing --collections, --db, --local, --token-file"},
		{[]string{"--gateway", "http://x", "--remote", "mongodb://y"}, "--remote and --gateway exclude each other"},
		{[]string{"--gateway", "http://x", "--token-file", tokenFile, "--local", localURI, "--db", "d", "-c", "a", "--conflict", "remote-wins"}, "the gateway's policy decides"},
	} {
		var out, errOut syncBuffer
		if code := run(ctx, append([]string{"sync"}, tc.args...), &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, errOut.String(), exitUsage, tc.want)
		}
	}
}
