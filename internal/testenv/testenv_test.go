package testenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestClientPings(t *testing.T) {
	c := testenv.Client(t)
	var res bson.M
	if err := c.Database("admin").RunCommand(context.Background(), bson.D{{Key: "ping", Value: 1}}).Decode(&res); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if res["ok"] != 1.0 {
		t.Fatalf("ping reply %v", res)
	}
}

func TestStartEmbeddedGivesDistinctServers(t *testing.T) {
	a := testenv.StartEmbedded(t, embedded.Config{})
	b := testenv.StartEmbedded(t, embedded.Config{ReplicaSetName: "other"})
	if a.URI() == b.URI() {
		t.Fatalf("two servers share URI %s", a.URI())
	}
	c := testenv.Connect(t, b.URI(), nil)
	if err := c.Ping(context.Background(), nil); err != nil {
		t.Fatalf("ping %s: %v", b.URI(), err)
	}
}

// TestDisconnectIsPrompt guards against the monitor race described in
// connect: with the short heartbeat, no Disconnect may take seconds.
func TestDisconnectIsPrompt(t *testing.T) {
	srv := testenv.StartEmbedded(t, embedded.Config{})
	for i := 0; i < 20; i++ {
		c := testenv.Connect(t, srv.URI(), nil)
		if err := c.Ping(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := c.Disconnect(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 5*time.Second { // the bug this guards against stalls 10 s
			t.Fatalf("Disconnect took %v", d)
		}
	}
}
