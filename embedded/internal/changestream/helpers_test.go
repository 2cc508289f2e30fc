package changestream

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

var (
	nsA = engine.Namespace{DB: "db", Coll: "a"}
	nsB = engine.Namespace{DB: "db", Coll: "b"}
)

func raw(t testing.TB, v any) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	return b
}

func insertEntry(t testing.TB, ns engine.Namespace, doc bson.D) engine.Entry {
	t.Helper()
	return engine.Entry{Op: engine.OpInsert, NS: ns, DocumentKey: raw(t, bson.D{{Key: "_id", Value: doc[0].Value}}), Document: raw(t, doc)}
}

func openT(t testing.TB, log oplog, scope Scope, spec bson.D, stages ...bson.D) *Stream {
	t.Helper()
	if spec == nil {
		spec = bson.D{}
	}
	s, err := open(log, scope, spec, stages)
	if err != nil {
		t.Fatalf("open %v %v: %v", scope, spec, err)
	}
	t.Cleanup(s.Close)
	return s
}

// nextAll returns the documents available now.
func nextAll(t testing.TB, s *Stream) ([]bson.Raw, bool) {
	t.Helper()
	docs, done, err := s.Next(context.Background(), 0, 0)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return docs, done
}

func keys(t testing.TB, doc bson.Raw) []string {
	t.Helper()
	els, err := doc.Elements()
	if err != nil {
		t.Fatalf("elements: %v", err)
	}
	var ks []string
	for _, e := range els {
		ks = append(ks, e.Key())
	}
	return ks
}

func wantKeys(t testing.TB, doc bson.Raw, want ...string) {
	t.Helper()
	if got := keys(t, doc); !reflect.DeepEqual(got, want) {
		t.Fatalf("fields = %v, want %v\n%s", got, want, doc)
	}
}

func str(t testing.TB, doc bson.Raw, path ...string) string {
	t.Helper()
	v, err := doc.LookupErr(path...)
	if err != nil {
		t.Fatalf("lookup %v in %s: %v", path, doc, err)
	}
	s, ok := v.StringValueOK()
	if !ok {
		t.Fatalf("%v is %s, not a string", path, v.Type)
	}
	return s
}

func opTypes(t testing.TB, docs []bson.Raw) []string {
	t.Helper()
	var out []string
	for _, d := range docs {
		out = append(out, str(t, d, "operationType"))
	}
	return out
}

func tokenOf(t testing.TB, doc bson.Raw) bson.Raw {
	t.Helper()
	v, err := doc.LookupErr("_id")
	if err != nil {
		t.Fatalf("no _id in %s", doc)
	}
	return v.Document()
}

func dataOf(t testing.TB, tok bson.Raw) string {
	t.Helper()
	return str(t, tok, "_data")
}

// codeOf returns the MongoDB error code of err, or 0.
func codeOf(err error) int32 {
	var me *mql.Error
	if errors.As(err, &me) {
		return me.Code
	}
	var ee *engine.Error
	if errors.As(err, &ee) {
		return ee.Code
	}
	return 0
}

func wantCode(t testing.TB, err error, code int32) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want code %d", code)
	}
	if got := codeOf(err); got != code {
		t.Fatalf("got error %v (code %d), want code %d", err, got, code)
	}
}

func ctx(t testing.TB) context.Context {
	t.Helper()
	return t.Context()
}

func hasLabel(err error, label string) bool {
	var ee *engine.Error
	return errors.As(err, &ee) && ee.HasLabel(label)
}
