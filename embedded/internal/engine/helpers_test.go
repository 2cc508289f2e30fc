package engine

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testNS = Namespace{DB: "db", Coll: "c"}

func newTestEngine(t testing.TB, opts Options) *Engine {
	t.Helper()
	e, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func mustInsert(t testing.TB, o Ops, ns Namespace, doc bson.D) any {
	t.Helper()
	id, err := o.Insert(ns, doc)
	if err != nil {
		t.Fatalf("Insert(%v): %v", doc, err)
	}
	return id
}

func decode(t testing.TB, raw bson.Raw) bson.D {
	t.Helper()
	d, err := decodeDoc(raw)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return d
}

func findAll(t testing.TB, o Ops, ns Namespace, filter bson.D) []bson.D {
	t.Helper()
	raws, err := o.Find(ns, FindArgs{Filter: filter})
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	out := make([]bson.D, len(raws))
	for i, r := range raws {
		out[i] = decode(t, r)
	}
	return out
}

func errCode(err error) int32 {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func wantCode(t testing.TB, err error, code int32) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error code %d, got %v", code, err)
	}
	if e.Code != code {
		t.Fatalf("want code %d, got %d (%v)", code, e.Code, e)
	}
	return e
}

func field(d bson.D, k string) any {
	for _, e := range d {
		if e.Key == k {
			return e.Value
		}
	}
	return nil
}

func mustOplog(t testing.TB, e *Engine, after Position) []Entry {
	t.Helper()
	es, err := e.OplogRead(after, 0)
	if err != nil {
		t.Fatalf("OplogRead: %v", err)
	}
	return es
}
