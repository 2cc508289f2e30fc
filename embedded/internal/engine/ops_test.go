package engine

import (
	"bytes"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestUpsertUniqueViolation(t *testing.T) {
	e := newTestEngine(t, Options{})
	if _, err := e.CreateIndexes(testNS, []IndexSpec{{Key: bson.D{{Key: "u", Value: int32(1)}}, Unique: true}}); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(1)}, {Key: "u", Value: int32(1)}})
	_, err := e.Update(testNS, UpdateArgs{Filter: bson.D{{Key: "_id", Value: int32(2)}}, Update: bson.D{{Key: "$set", Value: bson.D{{Key: "u", Value: int32(1)}}}}, Upsert: true})
	wantCode(t, err, 11000)
	if n := e.EstimatedCount(testNS); n != 1 {
		t.Fatalf("count %d", n)
	}
}

func TestUpsertSeedsFromFilter(t *testing.T) {
	e := newTestEngine(t, Options{})
	res, err := e.Update(testNS, UpdateArgs{
		Filter: bson.D{{Key: "_id", Value: int32(5)}, {Key: "a", Value: "x"}, {Key: "n", Value: bson.D{{Key: "$gt", Value: 1}}}},
		Update: bson.D{{Key: "$set", Value: bson.D{{Key: "b", Value: int32(1)}}}, {Key: "$setOnInsert", Value: bson.D{{Key: "c", Value: true}}}},
		Upsert: true,
	})
	if err != nil || res.UpsertedID != int32(5) {
		t.Fatalf("%+v %v", res, err)
	}
	raw, _ := e.FindByID(testNS, int32(5))
	d := decode(t, raw)
	if field(d, "a") != "x" || field(d, "b") != int32(1) || field(d, "c") != true || field(d, "n") != nil || d[0].Key != "_id" {
		t.Fatalf("upserted %v", d)
	}
	// second time it matches, $setOnInsert does not apply again
	res, err = e.Update(testNS, UpdateArgs{Filter: bson.D{{Key: "_id", Value: int32(5)}}, Update: bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "c", Value: false}}}}, Upsert: true})
	if err != nil || res.Matched != 1 || res.Modified != 0 || res.UpsertedID != nil {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestUpdatePositionalAndArrayFilters(t *testing.T) {
	e := newTestEngine(t, Options{})
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(1)}, {Key: "a", Value: bson.A{int32(1), int32(2), int32(3)}}})
	if _, err := e.Update(testNS, UpdateArgs{Filter: bson.D{{Key: "a", Value: int32(2)}}, Update: bson.D{{Key: "$set", Value: bson.D{{Key: "a.$", Value: int32(20)}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Update(testNS, UpdateArgs{Filter: bson.D{}, Update: bson.D{{Key: "$inc", Value: bson.D{{Key: "a.$[x]", Value: int32(100)}}}},
		ArrayFilters: []bson.D{{{Key: "x", Value: bson.D{{Key: "$gte", Value: int32(3)}}}}}}); err != nil {
		t.Fatal(err)
	}
	raw, _ := e.FindByID(testNS, int32(1))
	if got := field(decode(t, raw), "a"); !equalA(got, bson.A{int32(1), int32(120), int32(103)}) {
		t.Fatalf("a = %v", got)
	}
	es := mustOplog(t, e, Position{})
	last := es[len(es)-1]
	if last.Op != OpUpdate || last.UpdateDescription == nil || last.UpdateDescription.Empty() {
		t.Fatalf("last entry %+v", last)
	}
}

func equalA(v any, want bson.A) bool {
	a, ok := v.(bson.A)
	if !ok || len(a) != len(want) {
		return false
	}
	for i := range a {
		if a[i] != want[i] {
			return false
		}
	}
	return true
}

func TestTxnFindAndModifyAndReads(t *testing.T) {
	e := newTestEngine(t, Options{})
	seed(t, e, 4)
	tx := e.Begin(txnMeta(1))
	res, err := tx.FindAndModify(testNS, FindAndModifyArgs{Query: bson.D{{Key: "_id", Value: int32(1)}}, Update: bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: int32(9)}}}}, New: true})
	if err != nil || field(decode(t, res.Value), "x") != int32(9) {
		t.Fatalf("%+v %v", res, err)
	}
	if n, err := tx.Count(testNS, CountArgs{Filter: bson.D{{Key: "x", Value: int32(9)}}}); err != nil || n != 1 {
		t.Fatalf("txn count %d %v", n, err)
	}
	if n, err := e.Count(testNS, CountArgs{Filter: bson.D{{Key: "x", Value: int32(9)}}}); err != nil || n != 0 {
		t.Fatalf("outside count %d %v", n, err)
	}
	vals, err := tx.Distinct(testNS, "x", nil)
	if err != nil || len(vals) != 4 { // 9 (own write), 2, 0, 1
		t.Fatalf("distinct %v %v", vals, err)
	}
	out, err := tx.Aggregate(testNS, AggregateArgs{Stages: []bson.D{{{Key: "$match", Value: bson.D{{Key: "x", Value: int32(9)}}}}}})
	if err != nil || len(out) != 1 {
		t.Fatalf("aggregate %v %v", out, err)
	}
	if docs, err := tx.Find(Namespace{DB: "db", Coll: "none"}, FindArgs{}); err != nil || len(docs) != 0 {
		t.Fatalf("find on missing %v %v", docs, err)
	}
	// a no-op write inside a transaction logs nothing
	if r, err := tx.Update(testNS, UpdateArgs{Filter: bson.D{{Key: "_id", Value: int32(2)}}, Update: bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: int32(2)}}}}}); err != nil || r.Modified != 0 {
		t.Fatalf("%+v %v", r, err)
	}
	last := e.OplogLast()
	if _, err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if es := mustOplog(t, e, last); len(es) != 1 {
		t.Fatalf("%d entries, want 1", len(es))
	}
}

func TestEmptyTxnCommit(t *testing.T) {
	e := newTestEngine(t, Options{})
	seed(t, e, 1)
	last := e.OplogLast()
	tx := e.Begin(txnMeta(1))
	findAll(t, tx, testNS, nil)
	ts, err := tx.Commit()
	if err != nil || ts != e.ClusterTime() || e.OplogLast() != last {
		t.Fatalf("ts %v err %v", ts, err)
	}
}

func TestAggregateExprMatch(t *testing.T) {
	e := newTestEngine(t, Options{})
	seed(t, e, 3)
	out, err := e.Aggregate(testNS, AggregateArgs{
		Stages: []bson.D{{{Key: "$match", Value: bson.D{{Key: "$expr", Value: bson.D{{Key: "$eq", Value: bson.A{"$_id", "$$want"}}}}}}}},
		Vars:   map[string]any{"want": int32(2)},
	})
	if err != nil || len(out) != 1 || field(out[0], "_id") != int32(2) {
		t.Fatalf("%v %v", out, err)
	}
}

func TestNaturalOrder(t *testing.T) {
	dir := t.TempDir()
	e := openDir(t, dir, Options{CompactBytes: 300})
	for _, id := range []int32{3, 1, 2} {
		mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: id}})
	}
	if _, err := e.Update(testNS, UpdateArgs{Filter: bson.D{{Key: "_id", Value: int32(1)}}, Update: bson.D{{Key: "a", Value: int32(1)}}}); err != nil {
		t.Fatal(err)
	}
	want := []any{int32(3), int32(1), int32(2)}
	if got := ids(findAll(t, e, testNS, nil)); !equalA(bson.A(got), bson.A(want)) {
		t.Fatalf("natural order %v, want %v (insertion order, kept by updates)", got, want)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if len(dataFiles(t, dir, "snapshot-*.bson")) == 0 {
		t.Fatal("expected a snapshot")
	}
	e = openDir(t, dir, Options{})
	defer e.Close()
	if got := ids(findAll(t, e, testNS, nil)); !equalA(bson.A(got), bson.A(want)) {
		t.Fatalf("natural order after restart %v, want %v", got, want)
	}
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(0)}})
	if got := ids(findAll(t, e, testNS, nil)); got[3] != int32(0) {
		t.Fatalf("insert after restart not last: %v", got)
	}
}

func TestFindSortLimitMatchesFullSort(t *testing.T) {
	e := newTestEngine(t, Options{})
	for i := 0; i < 300; i++ {
		mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(i)}, {Key: "k", Value: int32((i * 7) % 13)}})
	}
	srt := bson.D{{Key: "k", Value: int32(-1)}}
	all, err := e.Find(testNS, FindArgs{Sort: srt})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ skip, limit int64 }{{0, 1}, {0, 10}, {5, 20}, {290, 20}, {0, 300}, {0, 1000}} {
		got, err := e.Find(testNS, FindArgs{Sort: srt, Skip: tc.skip, Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		want := window(all, tc.skip, tc.limit)
		if len(got) != len(want) {
			t.Fatalf("%+v: %d docs, want %d", tc, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) { // same order, ties in natural order
				t.Fatalf("%+v: doc %d = %v, want %v", tc, i, decode(t, got[i]), decode(t, want[i]))
			}
		}
	}
}

// TestUniqueIndexLookup checks that equality filters answered from a unique
// index give exactly what a full scan gives.
func TestUniqueIndexLookup(t *testing.T) {
	withIdx := newTestEngine(t, Options{})
	noIdx := newTestEngine(t, Options{})
	for _, spec := range []IndexSpec{
		{Key: bson.D{{Key: "email", Value: int32(1)}}, Unique: true},
		{Key: bson.D{{Key: "p.q", Value: int32(1)}}, Unique: true, Sparse: true},
		{Key: bson.D{{Key: "tags", Value: int32(1)}}, Unique: true, Sparse: true},
	} {
		if _, err := withIdx.CreateIndexes(testNS, []IndexSpec{spec}); err != nil {
			t.Fatal(err)
		}
	}
	docs := []bson.D{
		{{Key: "_id", Value: int32(1)}, {Key: "email", Value: "a@x"}, {Key: "n", Value: int32(1)}, {Key: "p", Value: bson.A{bson.D{{Key: "q", Value: int32(5)}}, bson.D{{Key: "q", Value: int32(6)}}}}},
		{{Key: "_id", Value: int32(2)}, {Key: "email", Value: "b@x"}, {Key: "n", Value: int32(2)}, {Key: "tags", Value: bson.A{"red", "blue"}}},
		{{Key: "_id", Value: int32(3)}, {Key: "email", Value: int64(7)}, {Key: "p", Value: bson.D{{Key: "q", Value: int32(9)}}}},
	}
	for _, d := range docs {
		mustInsert(t, withIdx, testNS, d)
		mustInsert(t, noIdx, testNS, d)
	}
	filters := []bson.D{
		{{Key: "email", Value: "a@x"}},
		{{Key: "email", Value: bson.D{{Key: "$eq", Value: "b@x"}}}},
		{{Key: "email", Value: 7.0}},
		{{Key: "email", Value: "a@x"}, {Key: "n", Value: int32(2)}},
		{{Key: "email", Value: "nobody"}},
		{{Key: "p.q", Value: int32(6)}},
		{{Key: "p.q", Value: int32(9)}},
		{{Key: "tags", Value: "blue"}},
		{{Key: "tags", Value: "blue"}, {Key: "email", Value: "b@x"}},
		{{Key: "email", Value: nil}},
	}
	v := withIdx.colls[testNS].view()
	for _, f := range filters[:9] {
		if _, used := v.indexLookup(f); !used {
			t.Errorf("filter %v did not use the index", f)
		}
	}
	if _, used := v.indexLookup(filters[9]); used {
		t.Error("null equality used the index (it also matches missing fields)")
	}
	for _, f := range filters {
		got, want := findAll(t, withIdx, testNS, f), findAll(t, noIdx, testNS, f)
		if len(got) != len(want) || (len(got) > 0 && field(got[0], "_id") != field(want[0], "_id")) {
			t.Errorf("filter %v: indexed %v, scan %v", f, ids(got), ids(want))
		}
		n, _ := withIdx.Count(testNS, CountArgs{Filter: f})
		if int(n) != len(want) {
			t.Errorf("filter %v: count %d, want %d", f, n, len(want))
		}
	}
	// the index stays right through updates and deletes
	if _, err := withIdx.Update(testNS, UpdateArgs{Filter: bson.D{{Key: "email", Value: "a@x"}}, Update: bson.D{{Key: "$set", Value: bson.D{{Key: "email", Value: "c@x"}}}}}); err != nil {
		t.Fatal(err)
	}
	if got := findAll(t, withIdx, testNS, bson.D{{Key: "email", Value: "a@x"}}); len(got) != 0 {
		t.Fatalf("old key still found: %v", got)
	}
	if got := findAll(t, withIdx, testNS, bson.D{{Key: "email", Value: "c@x"}}); len(got) != 1 {
		t.Fatalf("new key not found: %v", got)
	}
	if n, err := withIdx.Delete(testNS, bson.D{{Key: "email", Value: "c@x"}}, 1); err != nil || n != 1 {
		t.Fatalf("delete by indexed field: %d %v", n, err)
	}
}
