package changestream

import (
	"bytes"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestInsertEventShape(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	pos := log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(1)}, {Key: "x", Value: "y"}}))

	docs, done := nextAll(t, s)
	if done || len(docs) != 1 {
		t.Fatalf("got %d docs, done=%v", len(docs), done)
	}
	ev := docs[0]
	wantKeys(t, ev, "_id", "operationType", "clusterTime", "wallTime", "fullDocument", "ns", "documentKey")
	if got := str(t, ev, "operationType"); got != "insert" {
		t.Fatalf("operationType %q", got)
	}
	ct, ci := ev.Lookup("clusterTime").Timestamp()
	if ct != pos[0].TS.T || ci != pos[0].TS.I {
		t.Fatalf("clusterTime %d,%d want %v", ct, ci, pos[0].TS)
	}
	if wt := ev.Lookup("wallTime").Time(); !wt.Equal(log.wall.Truncate(time.Millisecond)) {
		t.Fatalf("wallTime %v want %v", wt, log.wall)
	}
	if !bytes.Equal(ev.Lookup("fullDocument").Document(), raw(t, bson.D{{Key: "_id", Value: int32(1)}, {Key: "x", Value: "y"}})) {
		t.Fatalf("fullDocument %s", ev.Lookup("fullDocument"))
	}
	wantKeys(t, ev.Lookup("ns").Document(), "db", "coll")
	if str(t, ev, "ns", "db") != "db" || str(t, ev, "ns", "coll") != "a" {
		t.Fatalf("ns %s", ev.Lookup("ns"))
	}
	if !bytes.Equal(ev.Lookup("documentKey").Document(), raw(t, bson.D{{Key: "_id", Value: int32(1)}})) {
		t.Fatalf("documentKey %s", ev.Lookup("documentKey"))
	}
	tok := tokenOf(t, ev)
	wantKeys(t, tok, "_data")
	data := dataOf(t, tok)
	if len(data) != tokenHexSize || data != string(bytes.ToUpper([]byte(data))) || data[:2] != "82" {
		t.Fatalf("token _data %q is not upper-case hex starting with 82", data)
	}
}

func TestUpdateReplaceDeleteEventShapes(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	key := raw(t, bson.D{{Key: "_id", Value: int32(1)}})
	after := raw(t, bson.D{{Key: "_id", Value: int32(1)}, {Key: "a", Value: int32(2)}})
	log.commit(engine.Entry{Op: engine.OpUpdate, NS: nsA, DocumentKey: key, Document: after,
		UpdateDescription: &mql.UpdateDescription{
			UpdatedFields:   []mql.Field{{Path: "a", Value: int32(2)}, {Path: "b.c", Value: bson.D{{Key: "d", Value: "e"}}}},
			RemovedFields:   []string{"gone", "x.y"},
			TruncatedArrays: []mql.TruncatedArray{{Field: "arr", NewSize: 2}},
		}})
	log.commit(engine.Entry{Op: engine.OpReplace, NS: nsA, DocumentKey: key, Document: raw(t, bson.D{{Key: "_id", Value: int32(1)}, {Key: "r", Value: true}})})
	log.commit(engine.Entry{Op: engine.OpDelete, NS: nsA, DocumentKey: key})

	docs, _ := nextAll(t, s)
	if got := opTypes(t, docs); len(got) != 3 || got[0] != "update" || got[1] != "replace" || got[2] != "delete" {
		t.Fatalf("ops %v", got)
	}
	wantKeys(t, docs[0], "_id", "operationType", "clusterTime", "wallTime", "ns", "documentKey", "updateDescription")
	ud := docs[0].Lookup("updateDescription").Document()
	wantKeys(t, ud, "updatedFields", "removedFields", "truncatedArrays")
	want := raw(t, bson.D{
		{Key: "updatedFields", Value: bson.D{{Key: "a", Value: int32(2)}, {Key: "b.c", Value: bson.D{{Key: "d", Value: "e"}}}}},
		{Key: "removedFields", Value: bson.A{"gone", "x.y"}},
		{Key: "truncatedArrays", Value: bson.A{bson.D{{Key: "field", Value: "arr"}, {Key: "newSize", Value: int32(2)}}}},
	})
	if !bytes.Equal(ud, want) {
		t.Fatalf("updateDescription\n got %s\nwant %s", ud, want)
	}
	wantKeys(t, docs[1], "_id", "operationType", "clusterTime", "wallTime", "fullDocument", "ns", "documentKey")
	wantKeys(t, docs[2], "_id", "operationType", "clusterTime", "wallTime", "ns", "documentKey")
}

func TestEmptyUpdateDescription(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	log.commit(engine.Entry{Op: engine.OpUpdate, NS: nsA, DocumentKey: raw(t, bson.D{{Key: "_id", Value: 1}})})
	docs, _ := nextAll(t, s)
	want := raw(t, bson.D{{Key: "updatedFields", Value: bson.D{}}, {Key: "removedFields", Value: bson.A{}}, {Key: "truncatedArrays", Value: bson.A{}}})
	if got := docs[0].Lookup("updateDescription").Document(); !bytes.Equal(got, want) {
		t.Fatalf("got %s want %s", got, want)
	}
}

func TestTransactionEventsCarryLsidAndTxnNumber(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	lsid := raw(t, bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}})
	txn := int64(7)
	e1 := insertEntry(t, nsA, bson.D{{Key: "_id", Value: 1}})
	e2 := insertEntry(t, nsA, bson.D{{Key: "_id", Value: 2}})
	for _, e := range []*engine.Entry{&e1, &e2} {
		e.LSID, e.TxnNumber = lsid, &txn
	}
	pos := log.commit(e1, e2)
	docs, _ := nextAll(t, s)
	if len(docs) != 2 {
		t.Fatalf("%d docs", len(docs))
	}
	for i, d := range docs {
		// MongoDB adds the transaction fields before the resume token.
		wantKeys(t, d, "txnNumber", "lsid", "_id", "operationType", "clusterTime", "wallTime", "fullDocument", "ns", "documentKey")
		if got := d.Lookup("txnNumber").Int64(); got != 7 {
			t.Fatalf("txnNumber %d", got)
		}
		if !bytes.Equal(d.Lookup("lsid").Document(), lsid) {
			t.Fatalf("lsid %s", d.Lookup("lsid"))
		}
		ct, ci := d.Lookup("clusterTime").Timestamp()
		if ct != pos[i].TS.T || ci != pos[i].TS.I {
			t.Fatal("events of one transaction must share the commit clusterTime")
		}
	}
	if dataOf(t, tokenOf(t, docs[0])) >= dataOf(t, tokenOf(t, docs[1])) {
		t.Fatal("tokens of one transaction must still increase")
	}
}

func TestDropInvalidatesCollectionStream(t *testing.T) {
	log := newFakeLog()
	coll := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	db := openT(t, log, Scope{DB: "db"}, nil)
	cluster := openT(t, log, Scope{DB: "admin"}, bson.D{{Key: "allChangesForCluster", Value: true}})
	log.commit(engine.Entry{Op: engine.OpDrop, NS: nsA})
	log.commit(insertEntry(t, nsB, bson.D{{Key: "_id", Value: 1}}))

	docs, done := nextAll(t, coll)
	if got := opTypes(t, docs); len(got) != 2 || got[0] != "drop" || got[1] != "invalidate" || !done {
		t.Fatalf("collection stream: %v done=%v", got, done)
	}
	wantKeys(t, docs[0], "_id", "operationType", "clusterTime", "wallTime", "ns")
	wantKeys(t, docs[1], "_id", "operationType", "clusterTime", "wallTime")
	if !bytes.Equal(docs[0].Lookup("clusterTime").Value, docs[1].Lookup("clusterTime").Value) {
		t.Fatal("invalidate must carry the drop's clusterTime")
	}
	if dataOf(t, tokenOf(t, docs[0])) >= dataOf(t, tokenOf(t, docs[1])) {
		t.Fatal("invalidate token must sort after the drop token")
	}
	if !bytes.Equal(coll.PostBatchResumeToken(), tokenOf(t, docs[1])) {
		t.Fatal("postBatchResumeToken must be the invalidate's token")
	}
	if docs, done := nextAll(t, coll); len(docs) != 0 || !done {
		t.Fatalf("after invalidate: %d docs, done=%v", len(docs), done)
	}

	for name, s := range map[string]*Stream{"db": db, "cluster": cluster} {
		docs, done := nextAll(t, s)
		if got := opTypes(t, docs); len(got) != 2 || got[0] != "drop" || got[1] != "insert" || done {
			t.Fatalf("%s stream: %v done=%v", name, got, done)
		}
	}
}

func TestRenameEvents(t *testing.T) {
	log := newFakeLog()
	src := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	dst := openT(t, log, Scope{DB: "db", Coll: "b"}, nil)
	db := openT(t, log, Scope{DB: "db"}, nil)
	other := openT(t, log, Scope{DB: "db", Coll: "c"}, nil)
	log.commit(engine.Entry{Op: engine.OpRename, NS: nsA, To: nsB})

	for name, s := range map[string]*Stream{"source": src, "target": dst} {
		docs, done := nextAll(t, s)
		if got := opTypes(t, docs); len(got) != 2 || got[0] != "rename" || got[1] != "invalidate" || !done {
			t.Fatalf("%s: %v done=%v", name, got, done)
		}
		// MongoDB adds the rename target before the resume token.
		wantKeys(t, docs[0], "to", "_id", "operationType", "clusterTime", "wallTime", "ns")
		if str(t, docs[0], "ns", "coll") != "a" || str(t, docs[0], "to", "coll") != "b" || str(t, docs[0], "to", "db") != "db" {
			t.Fatalf("%s: rename event %s", name, docs[0])
		}
	}
	docs, done := nextAll(t, db)
	if got := opTypes(t, docs); len(got) != 1 || got[0] != "rename" || done {
		t.Fatalf("db stream: %v done=%v", got, done)
	}
	if docs, _ := nextAll(t, other); len(docs) != 0 {
		t.Fatalf("unrelated collection saw %d events", len(docs))
	}
}

func TestDropDatabase(t *testing.T) {
	log := newFakeLog()
	coll := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	missing := openT(t, log, Scope{DB: "db", Coll: "never"}, nil)
	db := openT(t, log, Scope{DB: "db"}, nil)
	cluster := openT(t, log, Scope{DB: "admin"}, bson.D{{Key: "allChangesForCluster", Value: true}})
	log.commit(engine.Entry{Op: engine.OpDrop, NS: nsA}, engine.Entry{Op: engine.OpDrop, NS: nsB},
		engine.Entry{Op: engine.OpDropDatabase, NS: engine.Namespace{DB: "db"}})

	check := func(name string, s *Stream, wantDone bool, want ...string) []bson.Raw {
		t.Helper()
		docs, done := nextAll(t, s)
		got := opTypes(t, docs)
		if len(got) != len(want) || done != wantDone {
			t.Fatalf("%s: %v done=%v, want %v done=%v", name, got, done, want, wantDone)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: %v, want %v", name, got, want)
			}
		}
		return docs
	}
	check("collection", coll, true, "drop", "invalidate")
	check("missing collection", missing, true, "dropDatabase", "invalidate")
	docs := check("database", db, true, "drop", "drop", "dropDatabase", "invalidate")
	wantKeys(t, docs[2], "_id", "operationType", "clusterTime", "wallTime", "ns")
	wantKeys(t, docs[2].Lookup("ns").Document(), "db")
	check("cluster", cluster, false, "drop", "drop", "dropDatabase")
}

func TestScopeFiltering(t *testing.T) {
	log := newFakeLog()
	db := openT(t, log, Scope{DB: "db"}, nil)
	cluster := openT(t, log, Scope{DB: "admin"}, bson.D{{Key: "allChangesForCluster", Value: true}})
	for _, ns := range []engine.Namespace{
		{DB: "db", Coll: "a"}, {DB: "db", Coll: "system.views"}, {DB: "other", Coll: "x"},
		{DB: "admin", Coll: "x"}, {DB: "config", Coll: "x"}, {DB: "local", Coll: "x"}, {DB: "other", Coll: "system.js"},
	} {
		log.commit(insertEntry(t, ns, bson.D{{Key: "_id", Value: ns.String()}}))
	}
	log.commit(engine.Entry{Op: engine.OpCreate, NS: nsB}, engine.Entry{Op: engine.OpCreateIndexes, NS: nsB},
		engine.Entry{Op: engine.OpCollMod, NS: nsB}, engine.Entry{Op: engine.OpDropIndexes, NS: nsB})

	ids := func(docs []bson.Raw) []string {
		var out []string
		for _, d := range docs {
			out = append(out, str(t, d, "documentKey", "_id"))
		}
		return out
	}
	dbDocs, _ := nextAll(t, db)
	if got := ids(dbDocs); len(got) != 1 || got[0] != "db.a" {
		t.Fatalf("database stream saw %v", got)
	}
	clDocs, _ := nextAll(t, cluster)
	if got := ids(clDocs); len(got) != 2 || got[0] != "db.a" || got[1] != "other.x" {
		t.Fatalf("cluster stream saw %v", got)
	}
	// The catalog entries were examined: the high-water mark is past them.
	if tok, _ := decodeTokenData(dataOf(t, cluster.PostBatchResumeToken())); tok.pos != log.OplogLast() || tok.kind != kindHighWater {
		t.Fatalf("postBatchResumeToken %+v, want high-water mark at %+v", tok, log.OplogLast())
	}
}

func TestReplacedUpdateIsAReplaceEvent(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	doc := raw(t, bson.D{{Key: "_id", Value: int32(1)}, {Key: "a", Value: bson.D{{Key: "b", Value: int32(5)}}}})
	log.commit(engine.Entry{Op: engine.OpUpdate, NS: nsA, DocumentKey: raw(t, bson.D{{Key: "_id", Value: int32(1)}}), Document: doc,
		UpdateDescription: &mql.UpdateDescription{UpdatedFields: []mql.Field{{Path: "a.b", Value: int32(5)}}, Replaced: true}})
	docs, _ := nextAll(t, s)
	if got := opTypes(t, docs); len(got) != 1 || got[0] != "replace" {
		t.Fatalf("%v", got)
	}
	wantKeys(t, docs[0], "_id", "operationType", "clusterTime", "wallTime", "fullDocument", "ns", "documentKey")
	if !bytes.Equal(docs[0].Lookup("fullDocument").Document(), doc) {
		t.Fatalf("fullDocument %s", docs[0].Lookup("fullDocument"))
	}
}
