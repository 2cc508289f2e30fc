package engine

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func txnMeta(n int64) TxnMeta {
	lsid, _ := bson.Marshal(bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}})
	return TxnMeta{LSID: lsid, TxnNumber: &n}
}

func TestTxnIsolationAndAtomicCommit(t *testing.T) {
	e := newTestEngine(t, Options{})
	seed(t, e, 3)
	tx := e.Begin(txnMeta(1))
	mustInsert(t, tx, testNS, bson.D{{Key: "_id", Value: int32(10)}})
	if _, err := tx.Update(testNS, UpdateArgs{Filter: bson.D{{Key: "_id", Value: int32(1)}}, Update: bson.D{{Key: "$set", Value: bson.D{{Key: "t", Value: true}}}}}); err != nil {
		t.Fatal(err)
	}
	if n, err := tx.Delete(testNS, bson.D{{Key: "_id", Value: int32(2)}}, 1); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	// own writes visible inside
	if got := len(findAll(t, tx, testNS, nil)); got != 3 {
		t.Fatalf("txn sees %d docs, want 3", got)
	}
	if _, ok := tx.FindByID(testNS, int32(10)); !ok {
		t.Fatal("txn does not see its insert")
	}
	// invisible outside
	if _, ok := e.FindByID(testNS, int32(10)); ok {
		t.Fatal("uncommitted insert visible outside")
	}
	if _, ok := e.FindByID(testNS, int32(2)); !ok {
		t.Fatal("uncommitted delete visible outside")
	}
	// snapshot: a commit after the snapshot is invisible to the txn
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(20)}})
	if _, ok := tx.FindByID(testNS, int32(20)); ok {
		t.Fatal("txn sees a later commit")
	}
	last := e.OplogLast()
	ts, err := tx.Commit()
	if err != nil {
		t.Fatal(err)
	}
	es := mustOplog(t, e, last)
	if len(es) != 3 {
		t.Fatalf("%d entries, want 3", len(es))
	}
	for i, en := range es {
		if en.Pos.TS != ts || en.Pos.Index != uint32(i) || en.TxnNumber == nil || *en.TxnNumber != 1 || en.LSID == nil {
			t.Fatalf("entry %d: %+v", i, en)
		}
	}
	if es[0].Op != OpInsert || es[1].Op != OpUpdate || es[2].Op != OpDelete {
		t.Fatalf("ops %v %v %v", es[0].Op, es[1].Op, es[2].Op)
	}
	if _, ok := e.FindByID(testNS, int32(10)); !ok {
		t.Fatal("committed insert missing")
	}
	if _, ok := e.FindByID(testNS, int32(2)); ok {
		t.Fatal("committed delete not applied")
	}
	if _, err := tx.Commit(); !errors.Is(err, ErrTxnDone) {
		t.Fatalf("second commit: %v", err)
	}
	if _, err := tx.Insert(testNS, bson.D{}); !errors.Is(err, ErrTxnDone) {
		t.Fatalf("insert after commit: %v", err)
	}
}

func TestTxnAbort(t *testing.T) {
	e := newTestEngine(t, Options{})
	seed(t, e, 1)
	last := e.OplogLast()
	tx := e.Begin(txnMeta(2))
	mustInsert(t, tx, testNS, bson.D{{Key: "_id", Value: int32(5)}})
	mustInsert(t, tx, Namespace{DB: "db", Coll: "new"}, bson.D{})
	tx.Abort()
	tx.Abort()
	if e.OplogLast() != last {
		t.Fatal("aborted txn appended entries")
	}
	if _, ok := e.FindByID(testNS, int32(5)); ok {
		t.Fatal("aborted insert visible")
	}
	if _, ok := e.Collection(Namespace{DB: "db", Coll: "new"}); ok {
		t.Fatal("aborted implicit create visible")
	}
	// the aborted txn released its locks
	tx2 := e.Begin(txnMeta(3))
	mustInsert(t, tx2, testNS, bson.D{{Key: "_id", Value: int32(5)}})
	if _, err := tx2.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestTxnImplicitCreate(t *testing.T) {
	e := newTestEngine(t, Options{})
	ns := Namespace{DB: "db", Coll: "fresh"}
	tx := e.Begin(txnMeta(1))
	mustInsert(t, tx, ns, bson.D{{Key: "_id", Value: int32(1)}})
	if _, err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	es := mustOplog(t, e, Position{})
	if len(es) != 2 || es[0].Op != OpCreate || es[1].Op != OpInsert || es[0].Pos.TS != es[1].Pos.TS {
		t.Fatalf("%+v", es)
	}
	if n := e.EstimatedCount(ns); n != 1 {
		t.Fatalf("count %d", n)
	}
}

func TestTxnWriteConflict(t *testing.T) {
	upd := UpdateArgs{Filter: bson.D{{Key: "_id", Value: int32(1)}}, Update: bson.D{{Key: "$inc", Value: bson.D{{Key: "x", Value: int32(1)}}}}}
	t.Run("commit after snapshot", func(t *testing.T) {
		e := newTestEngine(t, Options{})
		seed(t, e, 1)
		tx := e.Begin(txnMeta(1))
		findAll(t, tx, testNS, nil) // takes the snapshot
		if _, err := e.Update(testNS, upd); err != nil {
			t.Fatal(err)
		}
		_, err := tx.Update(testNS, upd)
		ce := wantCode(t, err, CodeWriteConflict)
		if !ce.HasLabel(LabelTransientTransactionError) {
			t.Fatalf("labels %v", ce.Labels)
		}
	})
	t.Run("two transactions", func(t *testing.T) {
		e := newTestEngine(t, Options{})
		seed(t, e, 1)
		a, b := e.Begin(txnMeta(1)), e.Begin(txnMeta(2))
		if _, err := a.Update(testNS, upd); err != nil {
			t.Fatal(err)
		}
		_, err := b.Update(testNS, upd)
		wantCode(t, err, CodeWriteConflict)
		b.Abort()
		if _, err := a.Commit(); err != nil {
			t.Fatal(err)
		}
		raw, _ := e.FindByID(testNS, int32(1))
		if field(decode(t, raw), "x") != int32(2) {
			t.Fatalf("doc %v", decode(t, raw))
		}
	})
	t.Run("non-transactional write before commit", func(t *testing.T) {
		e := newTestEngine(t, Options{})
		seed(t, e, 1)
		tx := e.Begin(txnMeta(1))
		if _, err := tx.Update(testNS, upd); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Update(testNS, upd); err != nil {
			t.Fatal(err)
		}
		last := e.OplogLast()
		_, err := tx.Commit()
		wantCode(t, err, CodeWriteConflict)
		if e.OplogLast() != last {
			t.Fatal("failed commit appended entries")
		}
		raw, _ := e.FindByID(testNS, int32(1))
		if field(decode(t, raw), "x") != int32(2) {
			t.Fatalf("doc %v", decode(t, raw))
		}
	})
	t.Run("insert of an id committed meanwhile", func(t *testing.T) {
		e := newTestEngine(t, Options{})
		seed(t, e, 1)
		tx := e.Begin(txnMeta(1))
		findAll(t, tx, testNS, nil)
		mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(9)}})
		_, err := tx.Insert(testNS, bson.D{{Key: "_id", Value: int32(9)}})
		wantCode(t, err, CodeWriteConflict)
	})
	t.Run("collection dropped", func(t *testing.T) {
		e := newTestEngine(t, Options{})
		seed(t, e, 1)
		tx := e.Begin(txnMeta(1))
		if _, err := tx.Update(testNS, upd); err != nil {
			t.Fatal(err)
		}
		if _, err := e.DropCollection(testNS); err != nil {
			t.Fatal(err)
		}
		_, err := tx.Commit()
		wantCode(t, err, CodeWriteConflict)
	})
}

func TestTxnUniqueIndex(t *testing.T) {
	e := newTestEngine(t, Options{})
	if _, err := e.CreateIndexes(testNS, []IndexSpec{{Key: bson.D{{Key: "u", Value: int32(1)}}, Unique: true}}); err != nil {
		t.Fatal(err)
	}
	tx := e.Begin(txnMeta(1))
	mustInsert(t, tx, testNS, bson.D{{Key: "_id", Value: int32(1)}, {Key: "u", Value: int32(1)}})
	_, err := tx.Insert(testNS, bson.D{{Key: "_id", Value: int32(2)}, {Key: "u", Value: int32(1)}})
	wantCode(t, err, 11000)
	// a concurrent commit takes the unique value first: the txn commit fails
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(3)}, {Key: "u", Value: int32(1)}})
	_, err = tx.Commit()
	wantCode(t, err, CodeWriteConflict)
	if n := e.EstimatedCount(testNS); n != 1 {
		t.Fatalf("count %d after failed commit", n)
	}
}
