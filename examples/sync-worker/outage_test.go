package main

import (
	"context"
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestRemoteOutage: the remote goes away and comes back (restarted on its
// data directory). The worker logs that it is offline, local writes go on,
// and they reach the remote once it is back, without another local write.
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
		// remote fail (and the worker reports it offline) within a second.
		RemoteURI:   srv.URI() + "&serverSelectionTimeoutMS=1000",
		StatusEvery: 50 * time.Millisecond,
	})
	local, remote := w.local.Collection("notes"), w.remote.Collection("notes")
	ctx := t.Context()
	if _, err := local.InsertOne(ctx, bson.D{{Key: "_id", Value: "before"}}); err != nil {
		t.Fatal(err)
	}
	waitDoc(t, remote, "before", "_id", "before")

	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	mark := len(w.out.String())
	for _, id := range []string{"offline-1", "offline-2"} {
		if _, err := local.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "text", Value: "written while offline"}}); err != nil {
			t.Fatalf("local write while the remote is down: %v", err)
		}
	}
	// The status shows the local changes waiting. (Whether the syncer has
	// noticed the outage yet, and says "offline", depends on which of its
	// remote operations failed first: not asserted.)
	pending := regexp.MustCompile(`status: (online|offline), notes: bootstrapped, pending [1-9]`)
	eventually(t, "pending local changes in the status", func() bool {
		return pending.MatchString(w.out.String()[mark:])
	})

	srv2, err := embedded.Start(ctx, remoteCfg)
	if err != nil {
		t.Fatalf("restart the remote on %s: %v", addr, err)
	}
	running = srv2
	for _, id := range []string{"offline-1", "offline-2"} {
		waitDoc(t, remote, id, "text", "written while offline")
	}
	w.out.waitLine(t, "synced local -> remote notes/offline-1 written")
	w.out.waitLine(t, "synced local -> remote notes/offline-2 written")
	w.out.waitLine(t, "status: online, notes: bootstrapped, pending 0, up 3")
	w.stop(t)
}
