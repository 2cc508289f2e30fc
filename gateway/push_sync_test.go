package gateway

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded/embeddedtest"
	mtsync "github.com/mongotide/mongotide/sync"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestPushWithSyncReplica runs a sync.Syncer between a local database and
// the gateway's database: a push reaches the replica as a versioned remote
// write (the replica's base is the push's version, by the client's replica
// id), the replica's write reaches pulls with the version the remote entry
// names, a push based on it is a plain edit, and a concurrent edit is a
// conflict decided by the versions both wrote (the later, the gateway's,
// wins under last writer wins and is logged by the replica).
func TestPushWithSyncReplica(t *testing.T) {
	// The gateway's clock a minute ahead: its edits are the later ones.
	e := newEnv(t, func(c *Config) { c.Clock = func() time.Time { return time.Now().Add(time.Minute) } })
	local := embeddedtest.Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := mtsync.New(mtsync.Config{Local: local, Remote: e.db, Collections: []string{"notes"}, ReplicaID: "device-1", CompactInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}()
	synced := func() {
		t.Helper()
		if err := s.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
	}
	synced()
	alice := e.tok("alice")
	localDoc := func() bson.Raw {
		t.Helper()
		raw, err := local.Collection("notes").FindOne(ctx, bson.D{{Key: "_id", Value: "n1"}}).Raw()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	var base struct {
		Replica string `bson:"r"`
		Hash    string `bson:"x"`
	}
	loadBase := func() {
		t.Helper()
		err := local.Collection("_mongotide_sync_docs").FindOne(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "c", Value: "notes"}, {Key: "id", Value: "n1"}}}}).Decode(&base)
		if err != nil {
			t.Fatal(err)
		}
	}

	// A push reaches the replica as a versioned write.
	pushed := e.push1(alice, "phone", insertOp("i1", "n1", map[string]any{"text": "from the gateway"}))
	synced()
	remote, _ := e.stored("notes", "n1")
	if d := localDoc(); !bytesEqual(d, remote) {
		t.Fatalf("local %s, remote %s", d, remote)
	}
	loadBase()
	if base.Hash != pushed.Version || !strings.HasSuffix(base.Replica, ":phone") {
		t.Fatalf("the replica's base %+v, want the push's version %s by the phone's replica", base, pushed.Version)
	}

	// The replica's write reaches pulls with its version.
	cur := e.pull(alice, "collections=notes").Cursor
	if _, err := local.Collection("notes").UpdateOne(ctx, bson.D{{Key: "_id", Value: "n1"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "text", Value: "from the device"}}}}); err != nil {
		t.Fatal(err)
	}
	synced()
	v, ok := e.versionEntry("notes", "n1")
	if !ok || v.Replica != "device-1" {
		t.Fatalf("remote version entry %+v after the replica's upload", v)
	}
	var pulled string
	waitFor(t, "the replica's write pulled", func() bool {
		r := e.do("GET", "/v1/changes?collections=notes&since="+url.QueryEscape(cur), alice, "")
		if i := strings.Index(string(r.body), `"version":"`); i >= 0 && strings.Contains(string(r.body), "from the device") {
			pulled = string(r.body[i+11 : i+11+64])
		}
		return pulled != ""
	})
	if pulled != v.Hash {
		t.Fatalf("pulled version %s, the replica's entry %s", pulled, v.Hash)
	}

	// A push on that version is a plain edit, and reaches the replica.
	res := e.push1(alice, "phone", patchOp("p1", "n1", pulled, map[string]any{"text": "gateway again"}))
	if res.Status != "accepted" {
		t.Fatalf("push on the replica's version: %+v", res)
	}
	synced()
	if d := localDoc(); d.Lookup("text").StringValue() != "gateway again" {
		t.Fatalf("local %s", d)
	}

	// Concurrent: the replica edits offline, the gateway on top of the
	// last agreed version; the replica meets the conflict when it uploads.
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := local.Collection("notes").UpdateOne(ctx, bson.D{{Key: "_id", Value: "n1"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "text", Value: "offline device edit"}}}}); err != nil {
		t.Fatal(err)
	}
	later := e.push1(alice, "phone", patchOp("p2", "n1", res.Version, map[string]any{"text": "gateway later"}))
	if later.Status != "accepted" {
		t.Fatalf("push: %+v", later)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	synced()
	if d := localDoc(); d.Lookup("text").StringValue() != "gateway later" {
		t.Fatalf("local %s, want the later edit (the gateway's)", d)
	}
	cs, err := s.Conflicts(ctx, "notes")
	if err != nil || len(cs) != 1 || cs[0].Kept != mtsync.RemoteSide || !strings.HasSuffix(cs[0].RemoteVersion.Replica, ":phone") {
		t.Fatalf("conflict log %+v (%v), want one conflict kept remote, the phone's", cs, err)
	}
	if _, v := e.stored("notes", "n1"); v != later.Version {
		t.Fatalf("remote version %s, want the push's %s", v, later.Version)
	}
}
