package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/redistest"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// mongotide relay publishes a collection's changes; relay tail prints them
// as JSON lines (from the start, then live); Ctrl-C ends both with exit 0
// and the relay reports what it published.
func TestRelayCommandAndTail(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	rs := redistest.Start(t)
	client := testenv.Connect(t, srv.URI(), options.Client())
	coll := client.Database("shop").Collection("books")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	relayDone := make(chan int, 1)
	go func() {
		relayDone <- run(ctx, []string{"relay", "--uri", srv.URI(), "--redis", rs.Addr, "--db", "shop", "-c", "books", "--partitions", "2"}, &out, &errOut)
	}()
	testenv.Eventually(t, 30*time.Second, "relay started", func() bool { return strings.Contains(out.String(), "publishing shop.{books}") },
		func() string { return out.String() + errOut.String() })
	for i := range 3 {
		if _, err := coll.InsertOne(context.Background(), bson.D{{Key: "_id", Value: i}, {Key: "title", Value: fmt.Sprint("b", i)}}); err != nil {
			t.Fatal(err)
		}
	}

	tctx, tcancel := context.WithCancel(context.Background())
	defer tcancel()
	var tout, terr syncBuffer
	tailDone := make(chan int, 1)
	go func() {
		tailDone <- run(tctx, []string{"relay", "tail", "--redis", rs.Addr, "--stream", "shop.books", "--from-start"}, &tout, &terr)
	}()
	testenv.Eventually(t, 30*time.Second, "three lines from the start", func() bool { return len(tout.lines()) >= 3 },
		func() string { return tout.String() + terr.String() })
	// Live: a write after the tail started.
	if _, err := coll.InsertOne(context.Background(), bson.D{{Key: "_id", Value: 3}, {Key: "title", Value: "live"}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the live write printed", func() bool { return strings.Contains(tout.String(), `"live"`) },
		func() string { return tout.String() + terr.String() })
	for _, l := range tout.lines() {
		var line struct {
			ID        string         `json:"id"`
			Partition *int           `json:"partition"`
			Event     map[string]any `json:"event"`
		}
		if err := json.Unmarshal([]byte(l), &line); err != nil || line.ID == "" || line.Partition == nil || line.Event["operationType"] != "insert" {
			t.Fatalf("tail line %q (%v)", l, err)
		}
	}
	tcancel()
	if code := <-tailDone; code != exitOK {
		t.Fatalf("tail exit %d: %s", code, terr.String())
	}
	cancel()
	if code := <-relayDone; code != exitOK {
		t.Fatalf("relay exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "stopped: 4 events published, 0 refused") {
		t.Fatalf("relay summary missing:\n%s", out.String())
	}
}

func TestRelayCommandUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"relay"}, "missing --db, --collections"},
		{[]string{"relay", "--db", "d", "-c", "a", "--format", "xml"}, `--format "xml"`},
		{[]string{"relay", "tail"}, "missing --stream"},
	} {
		var out, errOut syncBuffer
		if code := run(context.Background(), tc.args, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, errOut.String(), exitUsage, tc.want)
		}
	}
}
