package engine

import (
	"reflect"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestInsertAddsIDFirst(t *testing.T) {
	e := newTestEngine(t, Options{})
	id := mustInsert(t, e, testNS, bson.D{{Key: "a", Value: int32(1)}})
	if _, ok := id.(bson.ObjectID); !ok {
		t.Fatalf("generated id %T, want ObjectID", id)
	}
	mustInsert(t, e, testNS, bson.D{{Key: "b", Value: "x"}, {Key: "_id", Value: int32(7)}})
	docs := findAll(t, e, testNS, nil)
	if len(docs) != 2 {
		t.Fatalf("got %d docs", len(docs))
	}
	for _, d := range docs {
		if d[0].Key != "_id" {
			t.Errorf("_id not first: %v", d)
		}
	}
	raw, ok := e.FindByID(testNS, int32(7))
	if !ok || decode(t, raw)[1].Value != "x" {
		t.Fatalf("FindByID(7) = %v, %v", raw, ok)
	}
	if _, ok := e.FindByID(testNS, 7.0); !ok {
		t.Fatalf("FindByID(7.0) should find _id 7 (numeric equality)")
	}
}

func TestInsertDuplicateID(t *testing.T) {
	e := newTestEngine(t, Options{})
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(1)}})
	_, err := e.Insert(testNS, bson.D{{Key: "_id", Value: int32(1)}})
	de := wantCode(t, err, 11000)
	want := "E11000 duplicate key error collection: db.c index: _id_ dup key: { _id: 1 }"
	if de.Message != want {
		t.Errorf("errmsg = %q, want %q", de.Message, want)
	}
	if !reflect.DeepEqual(de.KeyPattern, bson.D{{Key: "_id", Value: int32(1)}}) || !reflect.DeepEqual(de.KeyValue, bson.D{{Key: "_id", Value: int32(1)}}) {
		t.Errorf("keyPattern/keyValue = %v / %v", de.KeyPattern, de.KeyValue)
	}
	_, err = e.Insert(testNS, bson.D{{Key: "_id", Value: int64(1)}})
	wantCode(t, err, 11000)
}

func TestInsertInvalidID(t *testing.T) {
	e := newTestEngine(t, Options{})
	for _, id := range []any{bson.A{int32(1)}, bson.Regex{Pattern: "a"}, bson.D{{Key: "$a", Value: 1}}} {
		if _, err := e.Insert(testNS, bson.D{{Key: "_id", Value: id}}); err == nil {
			t.Errorf("insert with _id %v succeeded", id)
		}
	}
}

func TestInvalidNamespace(t *testing.T) {
	e := newTestEngine(t, Options{})
	for _, ns := range []Namespace{{DB: "", Coll: "c"}, {DB: "a.b", Coll: "c"}, {DB: "d", Coll: ""}, {DB: "d", Coll: "a$b"}} {
		_, err := e.Insert(ns, bson.D{})
		wantCode(t, err, CodeInvalidNamespace)
	}
}

func seed(t testing.TB, o Ops, n int) {
	for i := 1; i <= n; i++ {
		mustInsert(t, o, testNS, bson.D{{Key: "_id", Value: int32(i)}, {Key: "x", Value: int32(i % 3)}, {Key: "tags", Value: bson.A{"a", int32(i)}}})
	}
}

func ids(docs []bson.D) []any {
	out := make([]any, len(docs))
	for i, d := range docs {
		out[i] = field(d, "_id")
	}
	return out
}

func TestFind(t *testing.T) {
	e := newTestEngine(t, Options{})
	seed(t, e, 6)
	tests := []struct {
		name string
		args FindArgs
		want []any
	}{
		{"all", FindArgs{}, []any{int32(1), int32(2), int32(3), int32(4), int32(5), int32(6)}},
		{"filter", FindArgs{Filter: bson.D{{Key: "x", Value: int32(0)}}}, []any{int32(3), int32(6)}},
		{"id fast path", FindArgs{Filter: bson.D{{Key: "_id", Value: int32(4)}}}, []any{int32(4)}},
		{"id $eq", FindArgs{Filter: bson.D{{Key: "_id", Value: bson.D{{Key: "$eq", Value: 5.0}}}}}, []any{int32(5)}},
		{"id missing", FindArgs{Filter: bson.D{{Key: "_id", Value: int32(40)}}}, []any{}},
		{"skip limit", FindArgs{Skip: 1, Limit: 2}, []any{int32(2), int32(3)}},
		{"sort desc", FindArgs{Sort: bson.D{{Key: "_id", Value: int32(-1)}}, Limit: 2}, []any{int32(6), int32(5)}},
		{"sort skip", FindArgs{Sort: bson.D{{Key: "_id", Value: int32(-1)}}, Skip: 5}, []any{int32(1)}},
		{"skip past end", FindArgs{Skip: 10}, []any{}},
		{"array element", FindArgs{Filter: bson.D{{Key: "tags", Value: int32(2)}}}, []any{int32(2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raws, err := e.Find(testNS, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			got := []any{}
			for _, r := range raws {
				got = append(got, field(decode(t, r), "_id"))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v want %v", got, tt.want)
			}
		})
	}
	if docs, err := e.Find(Namespace{DB: "db", Coll: "missing"}, FindArgs{}); err != nil || len(docs) != 0 {
		t.Fatalf("missing collection: %v %v", docs, err)
	}
	if _, err := e.Find(testNS, FindArgs{Skip: -1}); err == nil {
		t.Fatalf("negative skip accepted")
	}
}

func TestFindProjection(t *testing.T) {
	e := newTestEngine(t, Options{})
	seed(t, e, 2)
	raws, err := e.Find(testNS, FindArgs{Projection: bson.D{{Key: "x", Value: int32(1)}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range raws {
		d := decode(t, r)
		if len(d) != 2 || d[0].Key != "_id" || d[1].Key != "x" {
			t.Fatalf("projected %v", d)
		}
	}
}

func TestCountDistinct(t *testing.T) {
	e := newTestEngine(t, Options{})
	seed(t, e, 6)
	for _, tt := range []struct {
		args CountArgs
		want int64
	}{
		{CountArgs{}, 6},
		{CountArgs{Skip: 2}, 4},
		{CountArgs{Limit: 3}, 3},
		{CountArgs{Skip: 5, Limit: 3}, 1},
		{CountArgs{Skip: 9}, 0},
		{CountArgs{Filter: bson.D{{Key: "x", Value: int32(1)}}}, 2},
		{CountArgs{Filter: bson.D{{Key: "x", Value: int32(1)}}, Limit: 1}, 1},
	} {
		n, err := e.Count(testNS, tt.args)
		if err != nil || n != tt.want {
			t.Errorf("Count(%+v) = %d, %v; want %d", tt.args, n, err, tt.want)
		}
	}
	if n := e.EstimatedCount(testNS); n != 6 {
		t.Errorf("EstimatedCount = %d", n)
	}
	vals, err := e.Distinct(testNS, "x", nil)
	if err != nil || !reflect.DeepEqual(vals, []any{int32(0), int32(1), int32(2)}) {
		t.Errorf("Distinct x = %v, %v", vals, err)
	}
	vals, err = e.Distinct(testNS, "tags", bson.D{{Key: "x", Value: int32(0)}})
	if err != nil || !reflect.DeepEqual(vals, []any{int32(3), int32(6), "a"}) {
		t.Errorf("Distinct tags = %v, %v", vals, err)
	}
	if vals, err := e.Distinct(Namespace{DB: "db", Coll: "none"}, "x", nil); err != nil || len(vals) != 0 {
		t.Errorf("Distinct on missing = %v, %v", vals, err)
	}
}

func TestUpdate(t *testing.T) {
	set := func(k string, v any) bson.D { return bson.D{{Key: "$set", Value: bson.D{{Key: k, Value: v}}}} }
	tests := []struct {
		name             string
		args             UpdateArgs
		matched, changed int64
		upserted         bool
		check            bson.D // filter that must then match exactly `count` docs
		count            int
	}{
		{"one", UpdateArgs{Filter: bson.D{{Key: "x", Value: int32(1)}}, Update: set("y", int32(1))}, 1, 1, false, bson.D{{Key: "y", Value: int32(1)}}, 1},
		{"multi", UpdateArgs{Filter: bson.D{{Key: "x", Value: int32(1)}}, Update: set("y", int32(1)), Multi: true}, 2, 2, false, bson.D{{Key: "y", Value: int32(1)}}, 2},
		{"noop", UpdateArgs{Filter: bson.D{{Key: "_id", Value: int32(1)}}, Update: set("x", int32(1))}, 1, 0, false, bson.D{{Key: "x", Value: int32(1)}}, 2},
		{"no match", UpdateArgs{Filter: bson.D{{Key: "x", Value: int32(9)}}, Update: set("y", int32(1))}, 0, 0, false, bson.D{{Key: "y", Value: int32(1)}}, 0},
		{"upsert", UpdateArgs{Filter: bson.D{{Key: "x", Value: int32(9)}}, Update: set("y", int32(1)), Upsert: true}, 0, 0, true, bson.D{{Key: "x", Value: int32(9)}, {Key: "y", Value: int32(1)}}, 1},
		{"replace", UpdateArgs{Filter: bson.D{{Key: "_id", Value: int32(2)}}, Update: bson.D{{Key: "z", Value: "r"}}}, 1, 1, false, bson.D{{Key: "_id", Value: int32(2)}, {Key: "z", Value: "r"}}, 1},
		{"replace upsert keeps query _id", UpdateArgs{Filter: bson.D{{Key: "_id", Value: int32(50)}}, Update: bson.D{{Key: "z", Value: "r"}}, Upsert: true}, 0, 0, true, bson.D{{Key: "_id", Value: int32(50)}, {Key: "z", Value: "r"}}, 1},
		{"sort picks", UpdateArgs{Filter: bson.D{}, Update: set("first", true), Sort: bson.D{{Key: "_id", Value: int32(-1)}}}, 1, 1, false, bson.D{{Key: "_id", Value: int32(6)}, {Key: "first", Value: true}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t, Options{})
			seed(t, e, 6)
			res, err := e.Update(testNS, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if res.Matched != tt.matched || res.Modified != tt.changed || (res.UpsertedID != nil) != tt.upserted {
				t.Fatalf("result %+v", res)
			}
			if got := findAll(t, e, testNS, tt.check); len(got) != tt.count {
				t.Fatalf("check %v matched %d docs: %v", tt.check, len(got), got)
			}
		})
	}
}

func TestUpdateErrors(t *testing.T) {
	e := newTestEngine(t, Options{})
	seed(t, e, 2)
	_, err := e.Update(testNS, UpdateArgs{Update: bson.D{{Key: "a", Value: 1}}, Multi: true})
	wantCode(t, err, CodeFailedToParse)
	_, err = e.Update(testNS, UpdateArgs{Filter: bson.D{{Key: "_id", Value: int32(1)}}, Update: bson.D{{Key: "_id", Value: int32(3)}}})
	if err == nil {
		t.Fatal("changing _id by replacement succeeded")
	}
}

func TestNoopUpdateWritesNoOplog(t *testing.T) {
	e := newTestEngine(t, Options{})
	seed(t, e, 1)
	before := e.OplogLast()
	res, err := e.Update(testNS, UpdateArgs{Filter: bson.D{{Key: "_id", Value: int32(1)}}, Update: bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: int32(1)}}}}})
	if err != nil || res.Modified != 0 || res.Matched != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if e.OplogLast() != before {
		t.Fatalf("no-op update appended an oplog entry")
	}
}

func TestDelete(t *testing.T) {
	e := newTestEngine(t, Options{})
	seed(t, e, 6)
	n, err := e.Delete(testNS, bson.D{{Key: "x", Value: int32(0)}}, 1)
	if err != nil || n != 1 {
		t.Fatalf("delete one: %d %v", n, err)
	}
	n, err = e.Delete(testNS, bson.D{{Key: "x", Value: int32(1)}}, 0)
	if err != nil || n != 2 {
		t.Fatalf("delete many: %d %v", n, err)
	}
	n, err = e.Delete(testNS, bson.D{{Key: "_id", Value: int32(6)}}, 0)
	if err != nil || n != 1 {
		t.Fatalf("delete by id: %d %v", n, err)
	}
	if got := len(findAll(t, e, testNS, nil)); got != 2 {
		t.Fatalf("%d docs left", got)
	}
	if n, err := e.Delete(Namespace{DB: "db", Coll: "none"}, nil, 0); n != 0 || err != nil {
		t.Fatalf("delete on missing: %d %v", n, err)
	}
}

func TestFindAndModify(t *testing.T) {
	inc := bson.D{{Key: "$inc", Value: bson.D{{Key: "x", Value: int32(10)}}}}
	tests := []struct {
		name   string
		args   FindAndModifyArgs
		wantX  any // x of returned value; nil = value null
		n      int64
		upsert bool
	}{
		{"update returns pre", FindAndModifyArgs{Query: bson.D{{Key: "_id", Value: int32(1)}}, Update: inc}, int32(1), 1, false},
		{"update returns post", FindAndModifyArgs{Query: bson.D{{Key: "_id", Value: int32(1)}}, Update: inc, New: true}, int32(11), 1, false},
		{"sort", FindAndModifyArgs{Query: bson.D{}, Sort: bson.D{{Key: "_id", Value: int32(-1)}}, Update: inc, New: true}, int32(10), 1, false},
		{"remove", FindAndModifyArgs{Query: bson.D{{Key: "_id", Value: int32(2)}}, Remove: true}, int32(2), 1, false},
		{"no match", FindAndModifyArgs{Query: bson.D{{Key: "_id", Value: int32(99)}}, Update: inc}, nil, 0, false},
		{"upsert old", FindAndModifyArgs{Query: bson.D{{Key: "_id", Value: int32(99)}}, Update: inc, Upsert: true}, nil, 1, true},
		{"upsert new", FindAndModifyArgs{Query: bson.D{{Key: "_id", Value: int32(99)}}, Update: inc, Upsert: true, New: true}, int32(10), 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t, Options{})
			seed(t, e, 3)
			res, err := e.FindAndModify(testNS, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if res.N != tt.n || (res.Upserted != nil) != tt.upsert {
				t.Fatalf("res %+v", res)
			}
			if tt.wantX == nil {
				if res.Value != nil {
					t.Fatalf("value %v, want null", res.Value)
				}
				return
			}
			if got := field(decode(t, res.Value), "x"); got != tt.wantX {
				t.Fatalf("x = %v want %v", got, tt.wantX)
			}
		})
	}
	e := newTestEngine(t, Options{})
	for _, bad := range []FindAndModifyArgs{{Remove: true, Update: bson.D{}}, {}, {Remove: true, New: true}} {
		if _, err := e.FindAndModify(testNS, bad); errCode(err) != CodeFailedToParse {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

func TestAggregate(t *testing.T) {
	e := newTestEngine(t, Options{})
	seed(t, e, 6)
	out, err := e.Aggregate(testNS, AggregateArgs{Stages: []bson.D{
		{{Key: "$match", Value: bson.D{{Key: "x", Value: int32(1)}}}},
		{{Key: "$sort", Value: bson.D{{Key: "_id", Value: int32(-1)}}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids(out), []any{int32(4), int32(1)}) {
		t.Fatalf("got %v", out)
	}
	out, err = e.Aggregate(testNS, AggregateArgs{Stages: []bson.D{{{Key: "$count", Value: "n"}}}})
	if err != nil || len(out) != 1 || !strings.Contains(out[0][0].Key, "n") {
		t.Fatalf("count: %v %v", out, err)
	}
}
