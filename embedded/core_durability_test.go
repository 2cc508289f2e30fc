package embedded

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/vfs"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// Regression tests for issue 10 findings 1, 2 and 5 (durability): the
// server runs on the in-memory fault-injecting file layer (Config.fs), the
// client is the real driver.

const faultDir = "/data"

// startOnFault starts a server with Dir on fs and a client for it; both
// stop at cleanup (unless stopped earlier).
func startOnFault(t *testing.T, fs *vfs.Fault, cfg Config) (*Server, *mongo.Client) {
	t.Helper()
	cfg.Dir, cfg.fs = faultDir, fs
	srv, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	c, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Disconnect(context.Background())
		_ = srv.Stop(context.Background())
	})
	return srv, c
}

func stopServer(t *testing.T, srv *Server, c *mongo.Client) {
	t.Helper()
	_ = c.Disconnect(context.Background())
	if err := srv.Stop(context.Background()); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func journaled() *options.CollectionOptionsBuilder {
	j := true
	return options.Collection().SetWriteConcern(&writeconcern.WriteConcern{Journal: &j})
}

// newestJournal returns the path of the newest journal on fs.
func newestJournal(t *testing.T, fs *vfs.Fault) string {
	t.Helper()
	names, err := fs.ReadDir(faultDir)
	if err != nil {
		t.Fatal(err)
	}
	var last string
	for _, n := range names {
		if strings.HasPrefix(n, "journal-") {
			last = n
		}
	}
	if last == "" {
		t.Fatalf("no journal in %v", names)
	}
	return filepath.Join(faultDir, last)
}

// Finding 1: a full disk failed each write but applied it in memory and
// sent its change event; the journal writer kept its first error; the
// "failed" writes vanished at restart. Now the write is not applied, the
// error is OutOfDiskSpace (14031), the next write after space returns
// succeeds, and a restart shows exactly the acknowledged writes.
func TestDiskFullWriteIsNotApplied(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewFault()
	srv, c := startOnFault(t, fs, Config{})
	coll := c.Database("bank").Collection("accounts")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "alice"}, {Key: "balance", Value: int32(100)}}); err != nil {
		t.Fatal(err)
	}
	cs, err := coll.Watch(ctx, mongo.Pipeline{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(ctx)

	fs.SetInject(func(op vfs.Op, _ string) error {
		if op == vfs.OpWrite {
			return syscall.ENOSPC
		}
		return nil
	}, true)
	for i := 0; i < 3; i++ { // an app retrying $inc: -10
		_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "alice"}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "balance", Value: int32(-10)}}}})
		var we mongo.WriteException
		var ce mongo.CommandError
		code := int32(0)
		switch {
		case errors.As(err, &we) && len(we.WriteErrors) > 0:
			code = int32(we.WriteErrors[0].Code)
		case errors.As(err, &ce):
			code = ce.Code
		}
		if code != 14031 || !strings.Contains(err.Error(), "disk is full") {
			t.Fatalf("update on a full disk: %v, want OutOfDiskSpace (14031) naming the full disk", err)
		}
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "ghost"}}); err == nil {
		t.Fatal("insert on a full disk succeeded")
	}
	var doc struct {
		Balance int32 `bson:"balance"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "alice"}}).Decode(&doc); err != nil || doc.Balance != 100 {
		t.Fatalf("balance after failed writes: %v %v, want 100", doc.Balance, err)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: "ghost"}}); err != nil || n != 0 {
		t.Fatalf("failed insert visible: %d %v", n, err)
	}

	fs.SetInject(nil, false) // space returns
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "bob"}, {Key: "balance", Value: int32(5)}}); err != nil {
		t.Fatalf("insert after space returned: %v", err)
	}
	// The stream's next event is bob's insert: none for the failed writes.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !cs.Next(sctx) {
		t.Fatalf("no change event: %v", cs.Err())
	}
	if op, id := cs.Current.Lookup("operationType").StringValue(), cs.Current.Lookup("documentKey", "_id").StringValue(); op != "insert" || id != "bob" {
		t.Fatalf("first event after the full disk: %s %s, want insert bob", op, id)
	}

	stopServer(t, srv, c)
	_, c2 := startOnFault(t, fs, Config{})
	cur, err := c2.Database("bank").Collection("accounts").Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var all []bson.M
	if err := cur.All(ctx, &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0]["_id"] != "alice" || all[0]["balance"] != int32(100) || all[1]["_id"] != "bob" {
		t.Fatalf("after restart: %v, want alice 100 and bob", all)
	}
}

// Finding 2: a flipped byte in the middle of a journal was taken for a torn
// tail and everything after it was cut off silently. Now Start refuses,
// naming the file and offset; Repair keeps every intact record.
func TestFlippedJournalByteRefusesStartAndRepairKeepsTheRest(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewFault()
	srv, c := startOnFault(t, fs, Config{})
	coll := c.Database("db").Collection("c")
	for i := 0; i < 100; i++ {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: int32(i)}, {Key: "pad", Value: strings.Repeat("x", 50)}}); err != nil {
			t.Fatal(err)
		}
	}
	stopServer(t, srv, c)
	path := newestJournal(t, fs)
	size := fs.Size(path)
	if err := fs.Corrupt(path, func(b []byte) []byte { b[size/2] ^= 0x40; return b }); err != nil {
		t.Fatal(err)
	}
	_, err := Start(ctx, Config{Dir: faultDir, fs: fs})
	if err == nil || !strings.Contains(err.Error(), filepath.Base(path)) || !strings.Contains(err.Error(), "offset") {
		t.Fatalf("start on a journal with a flipped byte: %v, want a refusal naming %s and the offset", err, filepath.Base(path))
	}

	srv, c = startOnFault(t, fs, Config{Repair: true})
	rep := srv.RepairReport()
	if len(rep.Dropped) != 1 || !strings.Contains(rep.Dropped[0], "offset") {
		t.Fatalf("repair report %v, want one dropped record with its offset", rep.Dropped)
	}
	if n, err := c.Database("db").Collection("c").CountDocuments(ctx, bson.D{}); err != nil || n != 99 {
		t.Fatalf("after repair %d documents (%v), want 99: every intact record kept", n, err)
	}
	// The repaired directory opens cleanly.
	stopServer(t, srv, c)
	_, c = startOnFault(t, fs, Config{})
	if n, err := c.Database("db").Collection("c").CountDocuments(ctx, bson.D{}); err != nil || n != 99 {
		t.Fatalf("after restarting the repaired directory: %d (%v)", n, err)
	}
}

// Finding 2: an emptied or deleted journal started an empty database
// without a word. Now Start refuses, naming it.
func TestEmptiedOrDeletedJournalRefusesStart(t *testing.T) {
	ctx := context.Background()
	for _, damage := range []string{"emptied", "deleted"} {
		fs := vfs.NewFault()
		srv, c := startOnFault(t, fs, Config{})
		if _, err := c.Database("db").Collection("c").InsertOne(ctx, bson.D{{Key: "x", Value: 1}}); err != nil {
			t.Fatal(err)
		}
		stopServer(t, srv, c)
		path := newestJournal(t, fs)
		if damage == "emptied" {
			_ = fs.Corrupt(path, func([]byte) []byte { return nil })
		} else {
			fs.Delete(path)
		}
		_, err := Start(ctx, Config{Dir: faultDir, fs: fs})
		if err == nil || !strings.Contains(err.Error(), filepath.Base(path)) {
			t.Fatalf("start with the journal %s: %v, want a refusal naming %s", damage, err, filepath.Base(path))
		}
	}
}

// Finding 5: j: true and w: "majority" inserts were acknowledged with no
// fsync while replSetGetStatus called them durable. Now each waits for an
// fsync, and durableOpTime trails appliedOpTime until the journal is
// synced.
func TestJournaledWritesFsyncAndDurableOpTimeTellsTheTruth(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewFault()
	_, c := startOnFault(t, fs, Config{CommitInterval: time.Hour})
	db := c.Database("db")
	if err := db.CreateCollection(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	before := fs.Count(vfs.OpSync)
	plain := db.Collection("c")
	for i := 0; i < 20; i++ {
		if _, err := plain.InsertOne(ctx, bson.D{{Key: "i", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := fs.Count(vfs.OpSync) - before; n != 0 {
		t.Fatalf("%d fsyncs for w:1 inserts, want 0 (batched every CommitInterval)", n)
	}
	optimes := func() (applied, durable bson.Timestamp) {
		var st struct {
			Optimes struct {
				Applied struct{ TS bson.Timestamp } `bson:"appliedOpTime"`
				Durable struct{ TS bson.Timestamp } `bson:"durableOpTime"`
			} `bson:"optimes"`
		}
		if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "replSetGetStatus", Value: 1}}).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st.Optimes.Applied.TS, st.Optimes.Durable.TS
	}
	if applied, durable := optimes(); !durable.Before(applied) {
		t.Fatalf("durableOpTime %v not before appliedOpTime %v with unsynced writes", durable, applied)
	}
	before = fs.Count(vfs.OpSync)
	j := db.Collection("c", journaled())
	maj := db.Collection("c", options.Collection().SetWriteConcern(writeconcern.Majority()))
	for i := 0; i < 20; i++ {
		if _, err := j.InsertOne(ctx, bson.D{{Key: "j", Value: i}}); err != nil {
			t.Fatal(err)
		}
		if _, err := maj.InsertOne(ctx, bson.D{{Key: "m", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := fs.Count(vfs.OpSync) - before; n < 40 {
		t.Fatalf("%d fsyncs for 40 sequential j:true / w:majority inserts, want one each", n)
	}
	if applied, durable := optimes(); durable != applied {
		t.Fatalf("durableOpTime %v, appliedOpTime %v: want equal after a j:true write", durable, applied)
	}
}

// SyncAlways: every write command waits for its fsync.
func TestSyncAlwaysFsyncsEveryWrite(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewFault()
	_, c := startOnFault(t, fs, Config{Sync: SyncAlways, CommitInterval: time.Hour})
	coll := c.Database("db").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "i", Value: -1}}); err != nil {
		t.Fatal(err)
	}
	before := fs.Count(vfs.OpSync)
	for i := 0; i < 10; i++ {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "i", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := fs.Count(vfs.OpSync) - before; n < 10 {
		t.Fatalf("%d fsyncs for 10 sequential w:1 inserts under SyncAlways, want one each", n)
	}
	if _, err := Start(ctx, Config{Sync: "sometimes"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Sync \"sometimes\": %v, want ErrInvalidConfig", err)
	}
}

// Deliverable 2: a failed fsync of acknowledged data stops the engine
// loudly; every later command fails naming the fsync failure.
func TestFailedFsyncStopsTheEngine(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewFault()
	srv, c := startOnFault(t, fs, Config{CommitInterval: time.Hour})
	coll := c.Database("db").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Err(); err != nil {
		t.Fatalf("Err of a healthy server = %v", err)
	}
	fs.SetInject(func(op vfs.Op, _ string) error {
		if op == vfs.OpSync {
			return syscall.EIO
		}
		return nil
	}, false)
	_, err := c.Database("db").Collection("c", journaled()).InsertOne(ctx, bson.D{{Key: "_id", Value: 2}})
	if err == nil || !strings.Contains(err.Error(), "fsync") {
		t.Fatalf("j:true insert with a failing fsync: %v, want an error naming the fsync", err)
	}
	fs.SetInject(nil, false)
	if err := coll.FindOne(ctx, bson.D{}).Err(); err == nil || !strings.Contains(err.Error(), "fsync") {
		t.Fatalf("find after the failed fsync: %v, want an error naming the fsync failure", err)
	}
	if err := srv.Err(); err == nil || !strings.Contains(err.Error(), "fsync") {
		t.Fatalf("Server.Err after the failed fsync = %v, want the fsync failure", err)
	}
}

// Finding 2: after a restart that lost the newest events, resuming from the
// token of a lost event was accepted and, in the same second, new events
// reused the lost positions and were skipped. Now the token answers 280
// and new events come after every position handed out before.
func TestLostEventTokenIsRefusedAndPositionsAreNotReused(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewFault()
	srv, c := startOnFault(t, fs, Config{CommitInterval: time.Hour})
	coll := c.Database("db").Collection("c")
	if _, err := c.Database("db").Collection("c", journaled()).InsertOne(ctx, bson.D{{Key: "_id", Value: "durable"}}); err != nil {
		t.Fatal(err)
	}
	cs, err := coll.Watch(ctx, mongo.Pipeline{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "lost"}}); err != nil { // w:1: not fsynced
		t.Fatal(err)
	}
	if !cs.Next(ctx) {
		t.Fatal(cs.Err())
	}
	lostToken := cs.ResumeToken()
	lt, li := cs.Current.Lookup("clusterTime").Timestamp()
	lostTS := bson.Timestamp{T: lt, I: li}
	_ = cs.Close(ctx)
	fs.Crash() // power loss: the unsynced insert is gone
	_ = c.Disconnect(ctx)
	_ = srv.Stop(ctx)
	fs.Restart()

	_, c = startOnFault(t, fs, Config{})
	coll = c.Database("db").Collection("c")
	if n, _ := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: "lost"}}); n != 0 {
		t.Fatal("the unsynced insert survived the power loss: the test does not test anything")
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "new"}}); err != nil {
		t.Fatal(err)
	}
	cs, err = coll.Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetResumeAfter(lostToken))
	if err == nil {
		defer cs.Close(ctx)
		if cs.Next(ctx) {
			t.Fatalf("resume from a lost event's token delivered %v", cs.Current)
		}
		err = cs.Err()
	}
	var se mongo.ServerError
	if !errors.As(err, &se) || !se.HasErrorCode(280) {
		t.Fatalf("resume from a lost event's token: %v, want 280 ChangeStreamFatalError", err)
	}
	cs, err = coll.Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetStartAtOperationTime(&lostTS))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(ctx)
	if !cs.Next(ctx) {
		t.Fatal(cs.Err())
	}
	if sec, inc := cs.Current.Lookup("clusterTime").Timestamp(); !lostTS.Before(bson.Timestamp{T: sec, I: inc}) {
		ts := bson.Timestamp{T: sec, I: inc}
		t.Fatalf("new event at %v reuses the lost event's position %v", ts, lostTS)
	}
}
