package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestRemoteOutage: the remote goes away. Local writes go on and the
// worker logs the trouble; once the remote is back (restarted on its data
// directory) the changes upload without another local write, and the
// shutdown finds nothing left to upload.
func TestRemoteOutage(t *testing.T) {
	testenv.SkipIfExternal(t, "stopping and restarting the remote server")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	remoteCfg := embedded.Config{Addr: addr, Dir: t.TempDir()}
	srv, err := embedded.Start(t.Context(), remoteCfg)
	if err != nil {
		t.Fatal(err)
	}
	running := srv
	t.Cleanup(func() { _ = running.Stop(context.Background()) })

	w := startWorker(t, config{
		LocalURI: testenv.StartEmbedded(t, embedded.Config{}).URI(),
		// A short server selection timeout: operations on the stopped
		// remote fail within a second.
		RemoteURI:   srv.URI() + "&serverSelectionTimeoutMS=1000",
		StatusEvery: 50 * time.Millisecond,
	})
	local, remote := w.local.Collection("notes"), w.remote.Collection("notes")
	ctx := t.Context()
	if _, err := local.InsertOne(ctx, bson.D{{Key: "_id", Value: "before"}}); err != nil {
		t.Fatal(err)
	}
	waitDoc(t, remote, "before", "_id", "before")

	// Marked before the stop: the outage can be logged at once.
	mark := len(w.out.String())
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"offline-1", "offline-2"} {
		if _, err := local.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "text", Value: "written while offline"}}); err != nil {
			t.Fatalf("local write while the remote is down: %v", err)
		}
	}
	testenv.Eventually(t, waitTimeout, "the outage logged", func() bool { return strings.Contains(w.out.String()[mark:], "remote offline") })
	mark = len(w.out.String())

	srv2, err := embedded.Start(ctx, remoteCfg)
	if err != nil {
		t.Fatalf("restart the remote on %s: %v", addr, err)
	}
	running = srv2
	testenv.Eventually(t, waitTimeout, "the return logged", func() bool { return strings.Contains(w.out.String()[mark:], "remote online") })
	for _, id := range []string{"offline-1", "offline-2"} {
		waitDoc(t, remote, id, "text", "written while offline")
		w.out.waitLine(t, "synced local -> remote notes/"+id+" written")
	}
	w.stop(t)
	if out := w.out.String(); !strings.Contains(out, "notes: 0 local changes not on the remote yet") {
		t.Fatalf("changes still pending after the upload:\n%s", out)
	}
}

// TestStopWhileRemoteDown: SIGINT during an outage, with a local change
// that cannot upload, still shuts down cleanly (within the helper's wait);
// the change stays queued for the next start.
func TestStopWhileRemoteDown(t *testing.T) {
	testenv.SkipIfExternal(t, "stopping the remote server")
	srv := testenv.StartEmbedded(t, embedded.Config{})
	w := startWorker(t, config{
		LocalURI:    testenv.StartEmbedded(t, embedded.Config{}).URI(),
		RemoteURI:   srv.URI() + "&serverSelectionTimeoutMS=1000",
		StatusEvery: 50 * time.Millisecond,
	})
	ctx := t.Context()
	local, remote := w.local.Collection("notes"), w.remote.Collection("notes")
	if _, err := local.InsertOne(ctx, bson.D{{Key: "_id", Value: "before"}}); err != nil {
		t.Fatal(err)
	}
	waitDoc(t, remote, "before", "_id", "before")
	// The queued change is counted by the upload stream, which runs once the
	// bootstrap is done: a remote taken down before that leaves nothing queued.
	w.out.waitLine(t, "status: online, notes: bootstrapped")
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := local.InsertOne(ctx, bson.D{{Key: "_id", Value: "stuck"}}); err != nil {
		t.Fatal(err)
	}
	w.out.waitLine(t, "remote offline")
	w.stop(t)
	if out := w.out.String(); !strings.Contains(out, "notes: 1 local changes not on the remote yet") {
		t.Fatalf("the queued change is not counted at shutdown:\n%s", out)
	}
}
