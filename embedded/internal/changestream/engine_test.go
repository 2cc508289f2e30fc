package changestream

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func openEngine(t testing.TB, opts engine.Options) *engine.Engine {
	t.Helper()
	eng, err := engine.Open(opts)
	if err != nil {
		t.Fatalf("engine.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := eng.Close(); err != nil {
			t.Errorf("engine.Close: %v", err)
		}
	})
	return eng
}

func openEng(t testing.TB, eng *engine.Engine, scope Scope, spec bson.D, stages ...bson.D) *Stream {
	t.Helper()
	if spec == nil {
		spec = bson.D{}
	}
	s, err := Open(eng, scope, spec, stages)
	if err != nil {
		t.Fatalf("Open %v %v: %v", scope, spec, err)
	}
	t.Cleanup(s.Close)
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestEngineEndToEnd(t *testing.T) {
	eng := openEngine(t, engine.Options{})
	must(t, eng.CreateCollection(nsA, engine.CollectionOptions{ChangeStreamPreAndPostImages: true}))
	s := openEng(t, eng, Scope{DB: "db", Coll: "a"}, bson.D{
		{Key: "fullDocument", Value: "updateLookup"}, {Key: "fullDocumentBeforeChange", Value: "whenAvailable"},
	})
	db := openEng(t, eng, Scope{DB: "db"}, nil)

	_, err := eng.Insert(nsA, bson.D{{Key: "_id", Value: int32(1)}, {Key: "a", Value: int32(1)}, {Key: "gone", Value: true}})
	must(t, err)
	_, err = eng.Update(nsA, engine.UpdateArgs{Filter: bson.D{{Key: "_id", Value: int32(1)}},
		Update: bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: int32(2)}}}, {Key: "$unset", Value: bson.D{{Key: "gone", Value: ""}}}}})
	must(t, err)
	_, err = eng.Update(nsA, engine.UpdateArgs{Filter: bson.D{{Key: "_id", Value: int32(1)}},
		Update: bson.D{{Key: "_id", Value: int32(1)}, {Key: "b", Value: "replaced"}}})
	must(t, err)
	_, err = eng.Delete(nsA, bson.D{{Key: "_id", Value: int32(1)}}, 1)
	must(t, err)

	lsid := raw(t, bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}})
	txnNumber := int64(3)
	txn := eng.Begin(engine.TxnMeta{LSID: lsid, TxnNumber: &txnNumber})
	_, err = txn.Insert(nsA, bson.D{{Key: "_id", Value: int32(10)}})
	must(t, err)
	_, err = txn.Insert(nsB, bson.D{{Key: "_id", Value: int32(11)}})
	must(t, err)
	_, err = txn.Commit()
	must(t, err)
	must(t, eng.RenameCollection(nsA, engine.Namespace{DB: "db", Coll: "c"}, false))

	docs, done := nextAll(t, s)
	if got := fmt.Sprint(opTypes(t, docs)); got != "[insert update replace delete insert rename invalidate]" || !done {
		t.Fatalf("collection stream: %s done=%v", got, done)
	}
	upd := docs[1]
	wantKeys(t, upd, "_id", "operationType", "clusterTime", "wallTime", "fullDocument", "ns", "documentKey", "updateDescription", "fullDocumentBeforeChange")
	ud := upd.Lookup("updateDescription").Document()
	if !bytes.Equal(ud.Lookup("updatedFields").Document(), raw(t, bson.D{{Key: "a", Value: int32(2)}})) {
		t.Fatalf("updatedFields %s", ud)
	}
	if rf := ud.Lookup("removedFields").Array(); rf.Index(0).StringValue() != "gone" {
		t.Fatalf("removedFields %s", rf)
	}
	// updateLookup reads the current state: the document is gone by now.
	if upd.Lookup("fullDocument").Type != bson.TypeNull {
		t.Fatalf("updateLookup after delete: %s", upd.Lookup("fullDocument"))
	}
	pre := raw(t, bson.D{{Key: "_id", Value: int32(1)}, {Key: "a", Value: int32(1)}, {Key: "gone", Value: true}})
	if !bytes.Equal(upd.Lookup("fullDocumentBeforeChange").Document(), pre) {
		t.Fatalf("pre-image %s", upd.Lookup("fullDocumentBeforeChange"))
	}
	if got := docs[4].Lookup("txnNumber").Int64(); got != 3 {
		t.Fatalf("transaction insert: %s", docs[4])
	}

	dbDocs, done := nextAll(t, db)
	if got := fmt.Sprint(opTypes(t, dbDocs)); got != "[insert update replace delete insert insert rename]" || done {
		t.Fatalf("database stream: %s done=%v", got, done)
	}
	if !bytes.Equal(dbDocs[4].Lookup("clusterTime").Value, dbDocs[5].Lookup("clusterTime").Value) {
		t.Fatal("the transaction's events must share its commit time")
	}

	must(t, eng.DropDatabase("db"))
	dbDocs, done = nextAll(t, db)
	if got := fmt.Sprint(opTypes(t, dbDocs)); got != "[drop drop dropDatabase invalidate]" || !done {
		t.Fatalf("database stream after dropDatabase: %s done=%v", got, done)
	}
}

func TestEngineResumeAndHistoryLost(t *testing.T) {
	eng := openEngine(t, engine.Options{OplogCapacity: 20})
	s := openEng(t, eng, Scope{DB: "db", Coll: "a"}, nil)
	for i := 0; i < 5; i++ {
		_, err := eng.Insert(nsA, bson.D{{Key: "_id", Value: int32(i)}})
		must(t, err)
	}
	docs, _ := nextAll(t, s)
	if len(docs) != 5 {
		t.Fatalf("%d events", len(docs))
	}
	r := openEng(t, eng, Scope{DB: "db", Coll: "a"}, bson.D{{Key: "resumeAfter", Value: tokenOf(t, docs[1])}})
	if got := fmt.Sprint(collectIDs(t, r)); got != "[2 3 4]" {
		t.Fatalf("resumed: %s", got)
	}
	for i := 5; i < 40; i++ {
		_, err := eng.Insert(nsB, bson.D{{Key: "_id", Value: int32(i)}})
		must(t, err)
	}
	_, err := Open(eng, Scope{DB: "db", Coll: "a"}, bson.D{{Key: "resumeAfter", Value: tokenOf(t, docs[1])}}, nil)
	wantCode(t, err, CodeChangeStreamHistory)
	_, _, err = s.Next(ctx(t), 0, 0)
	wantCode(t, err, CodeChangeStreamHistory)
}

func TestEngineConcurrentStreamsSeeEveryWriteInOrder(t *testing.T) {
	eng := openEngine(t, engine.Options{})
	const streams, writes = 8, 400
	var ss []*Stream
	for i := 0; i < streams; i++ {
		scope := Scope{DB: "db", Coll: "a"}
		if i%2 == 1 {
			scope = Scope{DB: "db"}
		}
		ss = append(ss, openEng(t, eng, scope, nil))
	}
	writerDone := make(chan error, 1)
	go func() {
		for i := 0; i < writes; i++ {
			if _, err := eng.Insert(nsA, bson.D{{Key: "_id", Value: int32(i)}}); err != nil {
				writerDone <- err
				return
			}
		}
		writerDone <- nil
	}()
	results := make(chan error, streams)
	for _, s := range ss {
		go func(s *Stream) {
			next := int32(0)
			for next < writes {
				docs, _, err := s.Next(t.Context(), 50, 5*time.Second)
				if err != nil {
					results <- err
					return
				}
				if len(docs) == 0 {
					results <- fmt.Errorf("no event within 5s after %d", next)
					return
				}
				for _, d := range docs {
					if id := d.Lookup("documentKey", "_id").Int32(); id != next {
						results <- fmt.Errorf("got _id %d, want %d", id, next)
						return
					}
					next++
				}
			}
			results <- nil
		}(s)
	}
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	for range ss {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
}

func TestEngineUpdateLookupByAnyIDType(t *testing.T) {
	eng := openEngine(t, engine.Options{})
	s := openEng(t, eng, Scope{DB: "db", Coll: "a"}, bson.D{{Key: "fullDocument", Value: "updateLookup"}})
	ids := []any{bson.NewObjectID(), "str", int64(7), bson.D{{Key: "k", Value: int32(1)}, {Key: "j", Value: "x"}}, 2.5}
	for _, id := range ids {
		_, err := eng.Insert(nsA, bson.D{{Key: "_id", Value: id}, {Key: "v", Value: int32(0)}})
		must(t, err)
		_, err = eng.Update(nsA, engine.UpdateArgs{Filter: bson.D{{Key: "_id", Value: id}},
			Update: bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: int32(1)}}}}})
		must(t, err)
	}
	docs, _ := nextAll(t, s)
	if len(docs) != 2*len(ids) {
		t.Fatalf("%d events", len(docs))
	}
	for i := range ids {
		upd := docs[2*i+1]
		fd, ok := upd.Lookup("fullDocument").DocumentOK()
		if !ok || fd.Lookup("v").Int32() != 1 {
			t.Fatalf("updateLookup for _id %v: %s", ids[i], upd.Lookup("fullDocument"))
		}
	}
}
