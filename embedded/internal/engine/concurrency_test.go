package engine

import (
	"fmt"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestConcurrentUse runs writers, readers, transactions and an oplog tailer
// at once (meaningful under -race) and checks that every committed write is
// in the oplog exactly once and in order, and that readers never see half of
// a transaction.
func TestConcurrentUse(t *testing.T) {
	e := newTestEngine(t, Options{Dir: t.TempDir(), CompactBytes: 64 << 10})
	const writers, perWriter = 4, 200
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				if _, err := e.Insert(testNS, bson.D{{Key: "_id", Value: fmt.Sprintf("%d-%d", w, i)}, {Key: "w", Value: int32(w)}}); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	pairNS := Namespace{DB: "db", Coll: "pairs"}
	wg.Add(1)
	go func() { // transactions always insert two documents
		defer wg.Done()
		for i := 0; i < 100; i++ {
			tx := e.Begin(txnMeta(int64(i)))
			_, err1 := tx.Insert(pairNS, bson.D{{Key: "_id", Value: 2 * i}})
			_, err2 := tx.Insert(pairNS, bson.D{{Key: "_id", Value: 2*i + 1}})
			if err1 != nil || err2 != nil {
				t.Error(err1, err2)
				tx.Abort()
				return
			}
			if _, err := tx.Commit(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() { // readers: pairs come in twos
		defer rwg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, err := e.Count(pairNS, CountArgs{Filter: bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: 0}}}}})
			if err != nil {
				t.Error(err)
				return
			}
			if n%2 != 0 {
				t.Errorf("reader saw half a transaction: %d documents", n)
				return
			}
			if _, err := e.Find(testNS, FindArgs{Filter: bson.D{{Key: "w", Value: int32(1)}}}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	rwg.Wait()

	es := mustOplog(t, e, Position{})
	inserts := 0
	seen := map[string]bool{}
	for i, en := range es {
		if i > 0 && en.Pos.Compare(es[i-1].Pos) <= 0 {
			t.Fatalf("oplog out of order at %d", i)
		}
		if en.Op == OpInsert {
			inserts++
			k := en.NS.String() + string(en.DocumentKey)
			if seen[k] {
				t.Fatalf("duplicate oplog entry %v", en)
			}
			seen[k] = true
		}
	}
	if want := writers*perWriter + 200; inserts != want {
		t.Fatalf("%d insert entries, want %d", inserts, want)
	}
	if n := e.EstimatedCount(testNS); n != writers*perWriter {
		t.Fatalf("count %d", n)
	}
}
