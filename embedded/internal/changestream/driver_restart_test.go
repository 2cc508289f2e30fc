package changestream_test

import (
	"context"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestDriverResumeAcrossServerRestart(t *testing.T) {
	testenv.SkipIfExternal(t, "restarts the server on its data directory")
	dir := t.TempDir()
	srv := testenv.StartEmbedded(t, embedded.Config{Dir: dir})
	// This client is disconnected before the restart, not in Cleanup: a
	// disconnect against a stopped server waits for server selection.
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
	if err != nil {
		t.Fatal(err)
	}
	coll := client.Database(dbName(t)).Collection("c")
	cs, err := coll.Watch(t.Context(), mongo.Pipeline{}, options.ChangeStream().SetMaxAwaitTime(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	insertN(t, coll, 0, 5)
	wantSeq(t, readIDs(t, cs, 3), 0, 3)
	token := cs.ResumeToken()
	_ = cs.Close(t.Context())
	if err := client.Disconnect(t.Context()); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	srv2 := testenv.StartEmbedded(t, embedded.Config{Dir: dir})
	client2 := testenv.Connect(t, srv2.URI(), nil)
	coll2 := client2.Database(dbName(t)).Collection("c")
	insertN(t, coll2, 5, 8)
	r, err := coll2.Watch(t.Context(), mongo.Pipeline{}, options.ChangeStream().SetResumeAfter(token).SetMaxAwaitTime(100*time.Millisecond))
	if err != nil {
		t.Fatalf("resume after restart: %v", err)
	}
	defer r.Close(context.Background())
	wantSeq(t, readIDs(t, r, 5), 3, 8)
}
