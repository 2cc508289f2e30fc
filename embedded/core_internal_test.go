package embedded

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestHandlerPanicIsContained: a handler bug answers that one command with
// InternalError; the server and the connection keep working.
func TestHandlerPanicIsContained(t *testing.T) {
	ctx := context.Background()
	srv, err := start(ctx, Config{}, map[string]handler{
		"panicNow": func(context.Context, *Server, *request) (bson.D, error) { panic("boom") },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Stop(ctx); err != nil {
			t.Error(err)
		}
	}()
	c, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Disconnect(ctx) }()
	err = c.Database("admin").RunCommand(ctx, bson.D{{Key: "panicNow", Value: 1}}).Err()
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 1 || !strings.Contains(ce.Message, "boom") {
		t.Fatalf("panicking command: %v, want InternalError mentioning the panic", err)
	}
	if err := c.Ping(ctx, nil); err != nil {
		t.Fatalf("ping after a handler panic: %v", err)
	}
}

// The hand-encoded $clusterTime must be byte for byte what bson.Marshal
// made of the document it replaces.
func TestClusterTimeDocMatchesMarshal(t *testing.T) {
	ts := bson.Timestamp{T: 1_700_000_000, I: 42}
	want, err := bson.Marshal(bson.D{
		{Key: "clusterTime", Value: ts},
		{Key: "signature", Value: bson.D{
			{Key: "hash", Value: bson.Binary{Subtype: 0, Data: make([]byte, 20)}},
			{Key: "keyId", Value: int64(0)},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := clusterTimeDoc(ts); !bytes.Equal(got, want) {
		t.Fatalf("clusterTimeDoc = %v, want %v", got, bson.Raw(want))
	}
}
