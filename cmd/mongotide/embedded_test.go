package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestEmbeddedPrintsAServingURI(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"embedded"}, &stdout, &stderr) }()
	testenv.Eventually(t, time.Minute, "the URI on stdout", func() bool { return len(stdout.lines()) > 0 })
	uri := stdout.lines()[0]
	if !strings.HasPrefix(uri, "mongodb://") {
		t.Fatalf("first stdout line %q is not a URI", uri)
	}
	client := testenv.Connect(t, uri, nil)
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err(); err != nil {
		t.Fatalf("ping %s: %v", uri, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit code %d after Ctrl-C, stderr: %s", code, &stderr)
		}
	case <-time.After(time.Minute):
		t.Fatal("embedded did not stop within a minute of cancellation")
	}
}

func TestEmbeddedBadAddrFails(t *testing.T) {
	var stdout, stderr syncBuffer
	code := run(context.Background(), []string{"embedded", "--addr", "not-an-address"}, &stdout, &stderr)
	if code == exitOK {
		t.Fatal("embedded --addr not-an-address exited 0")
	}
	if !strings.Contains(stderr.String(), "not-an-address") {
		t.Errorf("stderr does not name the address: %s", &stderr)
	}
}

func TestEmbeddedVerboseLogsEachCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"embedded", "-v"}, &stdout, &stderr) }()
	testenv.Eventually(t, time.Minute, "the URI on stdout", func() bool { return len(stdout.lines()) > 0 })
	client := testenv.Connect(t, stdout.lines()[0], nil)
	coll := client.Database("vlog").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err == nil {
		t.Fatal("duplicate insert succeeded")
	}
	// insert reports write errors with ok: 1; a failing command carries its code
	_ = client.Database("vlog").RunCommand(ctx, bson.D{{Key: "find", Value: 1}}).Err()
	hasLine := func(parts ...string) bool {
		for _, l := range strings.Split(stderr.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(l, p)
			}
			if all {
				return true
			}
		}
		return false
	}
	testenv.Eventually(t, time.Minute, "command log lines", func() bool {
		return hasLine("msg=command", "cmd=insert", "ns=vlog.c", "duration=") &&
			hasLine("msg=command", "cmd=find", "ns=vlog.$cmd", "code=", "codeName=")
	})
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, &stderr)
	}
}
