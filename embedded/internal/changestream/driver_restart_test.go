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

func TestDriverHistoryLost(t *testing.T) {
	testenv.SkipIfExternal(t, "needs a tiny oplog")
	srv := testenv.StartEmbedded(t, embedded.Config{OplogCapacity: 10})
	client := testenv.Connect(t, srv.URI(), nil)
	coll := client.Database(dbName(t)).Collection("c")
	cs, err := coll.Watch(t.Context(), mongo.Pipeline{}, options.ChangeStream().SetMaxAwaitTime(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	insertN(t, coll, 0, 3)
	wantSeq(t, readIDs(t, cs, 1), 0, 1)
	old := cs.ResumeToken()
	insertN(t, coll, 3, 30)

	// The open stream fell behind the oplog: its next getMore fails with 286.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for cs.Next(ctx) {
	}
	var se mongo.ServerError
	if !asServerError(cs.Err(), &se) || !se.HasErrorCode(286) || !se.HasErrorLabel("NonResumableChangeStreamError") {
		t.Fatalf("lagging stream: %v", cs.Err())
	}
	_ = cs.Close(t.Context())

	_, err = coll.Watch(t.Context(), mongo.Pipeline{}, options.ChangeStream().SetResumeAfter(old))
	if !asServerError(err, &se) || !se.HasErrorCode(286) {
		t.Fatalf("resume from a lost position: %v", err)
	}
}
