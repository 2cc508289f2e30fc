package engine

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestReadAtSeesTheStateOfItsTime(t *testing.T) {
	e := newTestEngine(t, Options{})
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "a"}})
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: 2}, {Key: "v", Value: "a"}})
	at := e.ClusterTime()
	// later: an update, a delete, an insert, and a transaction
	if _, err := e.Update(testNS, UpdateArgs{Filter: bson.D{{Key: "_id", Value: 1}}, Update: bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "b"}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Delete(testNS, bson.D{{Key: "_id", Value: 2}}, 1); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: 3}, {Key: "v", Value: "a"}})
	txn := e.Begin(TxnMeta{})
	mustInsert(t, txn, testNS, bson.D{{Key: "_id", Value: 4}})
	if _, err := txn.Delete(testNS, bson.D{{Key: "_id", Value: 1}}, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	snap, err := e.ReadAt(at)
	if err != nil {
		t.Fatal(err)
	}
	got := findAll(t, snap, testNS, bson.D{})
	if len(got) != 2 || field(got[0], "_id") != int32(1) || field(got[0], "v") != "a" || field(got[1], "_id") != int32(2) {
		t.Fatalf("at %v: %v", at, got)
	}
	if n, err := snap.Count(testNS, CountArgs{Filter: bson.D{{Key: "v", Value: "a"}}}); err != nil || n != 2 {
		t.Fatalf("count at %v: %d %v", at, n, err)
	}
	if now := findAll(t, e, testNS, bson.D{}); len(now) != 2 || field(now[0], "_id") != int32(3) {
		t.Fatalf("latest: %v", now)
	}
}

func TestReadAtTooOldAndDropped(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { return now }
	e := newTestEngine(t, Options{Now: clock, SnapshotHistoryWindow: 10 * time.Second})
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: 1}})
	at := e.ClusterTime()
	now = now.Add(5 * time.Second)
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: 2}})
	snap, err := e.ReadAt(at)
	if err != nil {
		t.Fatal(err)
	}
	if got := findAll(t, snap, testNS, bson.D{}); len(got) != 1 {
		t.Fatalf("within the window: %v", got)
	}
	now = now.Add(6 * time.Second) // at is now 11 s old
	if _, err := snap.Find(testNS, FindArgs{}); errCode(err) != CodeSnapshotTooOld {
		t.Fatalf("past the window: %v", err)
	}
	if _, err := e.ReadAt(at); errCode(err) != CodeSnapshotTooOld {
		t.Fatalf("ReadAt past the window: %v", err)
	}
	at = e.ClusterTime()
	if _, err := e.DropCollection(testNS); err != nil {
		t.Fatal(err)
	}
	snap, err = e.ReadAt(at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snap.Find(testNS, FindArgs{}); errCode(err) != CodeSnapshotUnavailable {
		t.Fatalf("read before a drop: %v", err)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if n := len(e.hist.recs) - e.hist.head; n != 0 || e.hist.bytes != 0 {
		t.Fatalf("the dropped collection's history is still held: %d records, %d bytes", n, e.hist.bytes)
	}
}
