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
	waitFor(t, time.Minute, "the URI on stdout", func() bool { return len(stdout.lines()) > 0 })
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
