package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func TestSyncVerifyCommand(t *testing.T) {
	ctx, localURI, remoteURI, local, remote := syncServers(t)
	for i := range 10 {
		if _, err := remote.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	conn := []string{"--local", localURI, "--remote", remoteURI, "--db", "app", "-c", "books"}
	runCtx, stop := context.WithCancel(ctx)
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(runCtx, append([]string{"sync", "-q"}, conn...), &stdout, &stderr) }()
	testenv.Eventually(t, 20*time.Second, "bootstrap", func() bool {
		n, _ := local.Database().Collection("_mongotide_sync_state").CountDocuments(ctx,
			bson.D{{Key: "_id", Value: "bootstrap.books"}, {Key: "done", Value: true}})
		return n == 1
	})
	stop()
	if code := <-done; code != exitOK {
		t.Fatalf("sync exited %d; stderr:\n%s", code, stderr.String())
	}

	verify := func() (int, string, string) {
		var out, errOut syncBuffer
		code := run(ctx, append([]string{"sync", "verify"}, conn...), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, out, errOut := verify()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) != 2 || !strings.HasPrefix(lines[0], "COLLECTION\tLOCAL\tREMOTE") {
		t.Fatalf("equal sides: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	f := strings.Split(lines[1], "\t")
	if f[0] != "books" || f[1] != "10" || f[2] != "10" || f[3] != f[4] || f[5] != "0" || f[7] != "0" {
		t.Fatalf("equal sides: row %q", lines[1])
	}

	// A local write while no sync runs is pending.
	if _, err := local.InsertOne(ctx, bson.D{{Key: "_id", Value: "offline"}}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = verify()
	if code != exitOK || !strings.Contains(out, "books\t\"offline\"\tpending\n") {
		t.Fatalf("pending: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// The upload checkpoint moved past it (as if its history were lost):
	// sync will never upload it, so it diverged.
	cs, err := local.Watch(ctx, mongo.Pipeline{})
	if err != nil {
		t.Fatal(err)
	}
	tok := cs.ResumeToken()
	_ = cs.Close(ctx)
	if _, err := local.Database().Collection("_mongotide_sync_checkpoints").UpdateOne(ctx, bson.D{{Key: "_id", Value: "upload.books"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "token", Value: tok}}}}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = verify()
	if code != exitError || !strings.Contains(out, "books\t\"offline\"\tdiverged\n") || !strings.Contains(errOut, "diverged") {
		t.Fatalf("diverged: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
