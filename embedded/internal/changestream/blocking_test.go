package changestream

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// countingLog counts oplog reads, to prove that waiting is not polling.
type countingLog struct {
	*fakeLog
	reads atomic.Int64
}

func (c *countingLog) OplogRead(after engine.Position, max int) ([]engine.Entry, error) {
	c.reads.Add(1)
	return c.fakeLog.OplogRead(after, max)
}

func TestNextWaitsForFirstEventWithoutPolling(t *testing.T) {
	log := &countingLog{fakeLog: newFakeLog()}
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)

	start := time.Now()
	before := log.reads.Load()
	docs, done, err := s.Next(ctx(t), 10, 300*time.Millisecond)
	if err != nil || done || len(docs) != 0 {
		t.Fatalf("idle Next: %d docs, done=%v, %v", len(docs), done, err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("Next returned after %v, before maxAwait", waited)
	}
	if reads := log.reads.Load() - before; reads > 2 {
		t.Fatalf("an idle Next read the oplog %d times: busy loop", reads)
	}

	// A write during the wait wakes it up.
	go func() {
		log.commit(insertEntry(t, nsB, bson.D{{Key: "_id", Value: 0}})) // not for this stream: keeps waiting
		log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: 1}}))
	}()
	docs, _, err = s.Next(ctx(t), 10, time.Minute)
	if err != nil || len(docs) != 1 {
		t.Fatalf("Next after a write: %d docs, %v", len(docs), err)
	}
}

func TestNextHonoursContextAndClose(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	c, cancel := context.WithCancel(context.Background())
	go cancel()
	_, _, err := s.Next(c, 1, time.Minute)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Next: %v", err)
	}

	go s.Close()
	docs, done, err := s.Next(ctx(t), 1, time.Minute)
	if err != nil || !done || len(docs) != 0 {
		t.Fatalf("Next on a closing stream: %d docs, done=%v, %v", len(docs), done, err)
	}
	s.Close() // idempotent
}

func TestBatchLimitCarriesOver(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	for i := 0; i < 25; i++ {
		log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(i)}}))
	}
	total := 0
	for i := 0; i < 3; i++ {
		docs, _, err := s.Next(ctx(t), 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(10, 25-total); len(docs) != want {
			t.Fatalf("batch %d: %d docs, want %d", i, len(docs), want)
		}
		for j, d := range docs {
			if got := d.Lookup("documentKey", "_id").Int32(); got != int32(total+j) {
				t.Fatalf("event %d has _id %d", total+j, got)
			}
		}
		total += len(docs)
	}
}

func TestLongFilteredBacklogReturnsEmptyBatchesWithoutWaiting(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	s.scanLimit = 10
	for i := 0; i < 25; i++ {
		log.commit(insertEntry(t, nsB, bson.D{{Key: "_id", Value: int32(i)}}))
	}
	log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(99)}}))
	prev := dataOf(t, s.PostBatchResumeToken())
	for i := 0; i < 2; i++ {
		start := time.Now()
		docs, _, err := s.Next(ctx(t), 0, time.Minute)
		if err != nil || len(docs) != 0 {
			t.Fatalf("round %d: %d docs, %v", i, len(docs), err)
		}
		if time.Since(start) > 30*time.Second {
			t.Fatal("Next waited although the backlog was not scanned to its end")
		}
		cur := dataOf(t, s.PostBatchResumeToken())
		if cur <= prev {
			t.Fatalf("round %d: postBatchResumeToken did not advance", i)
		}
		prev = cur
	}
	docs, _, err := s.Next(ctx(t), 0, time.Minute)
	if err != nil || len(docs) != 1 {
		t.Fatalf("final: %d docs, %v", len(docs), err)
	}
}

func TestErrorAfterDeliveredEvents(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, bson.D{{Key: "fullDocumentBeforeChange", Value: "required"}})
	log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(1)}}))
	log.commit(engine.Entry{Op: engine.OpDelete, NS: nsA, DocumentKey: raw(t, bson.D{{Key: "_id", Value: int32(1)}})})
	docs, _, err := s.Next(ctx(t), 0, 0)
	if err != nil || len(docs) != 1 {
		t.Fatalf("first: %d docs, %v", len(docs), err)
	}
	_, _, err = s.Next(ctx(t), 0, 0)
	wantCode(t, err, CodeNoMatchingDocument)
}
