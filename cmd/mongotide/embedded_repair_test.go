package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// mongotide embedded --dir refuses a journal with a flipped byte in its
// middle, naming the file; --repair starts, prints what it dropped and keeps
// every intact record (issue 10 finding 2).
func TestEmbeddedRepairFlag(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := embedded.Start(ctx, embedded.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	client := testenv.Connect(t, srv.URI(), nil)
	for i := 0; i < 50; i++ {
		if _, err := client.Database("db").Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	_ = client.Disconnect(ctx)
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	journals, _ := filepath.Glob(filepath.Join(dir, "journal-*.jnl"))
	if len(journals) != 1 {
		t.Fatalf("journals %v", journals)
	}
	data, err := os.ReadFile(journals[0])
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x10
	if err := os.WriteFile(journals[0], data, 0o600); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr syncBuffer
	if code := run(ctx, []string{"embedded", "--dir", dir}, &stdout, &stderr); code == exitOK ||
		!strings.Contains(stderr.String(), filepath.Base(journals[0])) || !strings.Contains(stderr.String(), "--repair") {
		t.Fatalf("embedded on a damaged journal: exit %d, stderr %q; want a refusal naming the journal and --repair", code, &stderr)
	}

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var rout, rerr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(rctx, []string{"embedded", "--dir", dir, "--repair"}, &rout, &rerr) }()
	testenv.Eventually(t, time.Minute, "the URI on stdout", func() bool { return len(rout.lines()) > 0 })
	if !strings.Contains(rerr.String(), "repair dropped") || !strings.Contains(rerr.String(), "offset") {
		t.Errorf("stderr does not report what --repair dropped: %s", &rerr)
	}
	c2 := testenv.Connect(t, rout.lines()[0], nil)
	if n, err := c2.Database("db").Collection("c").CountDocuments(ctx, bson.D{}); err != nil || n != 49 {
		t.Errorf("after --repair %d documents (%v), want 49", n, err)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, &rerr)
	}
}
