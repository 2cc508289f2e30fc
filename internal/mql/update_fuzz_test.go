package mql

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// FuzzUpdateApply checks that no update document, applied to any document,
// makes NewUpdate or Apply panic; errors are fine.
func FuzzUpdateApply(f *testing.F) {
	seeds := [][2]string{
		{`{"_id":1,"a":[1,{"b":2}],"c":{"d":1}}`, `{"$set":{"a.1.b":3,"c.e":1}}`},
		{`{"_id":1,"a":[1,2,3]}`, `{"$push":{"a":{"$each":[4],"$slice":-2,"$position":-9}}}`},
		{`{"_id":1,"a":[{"x":1}]}`, `{"$set":{"a.$[].x":0},"$pull":{"b":{"$gt":1}}}`},
		{`{"_id":1}`, `{"$rename":{"a":"b.c"},"$inc":{"n":1}}`},
		{`{"_id":1,"a":5}`, `{"$set":{"a.b.c":1}}`},
		{`{"_id":1,"s":"x"}`, `{"$set":{"v":{"$substrCP":["$s",1,-1]}}}`},
		{`{"_id":1,"a":[]}`, `{"$set":{"a.1500002":1}}`},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, docJSON, updJSON string) {
		var doc bson.D
		if bson.UnmarshalExtJSON([]byte(docJSON), false, &doc) != nil {
			return
		}
		var wrapped bson.D
		if bson.UnmarshalExtJSON([]byte(`{"u":`+updJSON+`}`), false, &wrapped) != nil || len(wrapped) != 1 {
			return
		}
		u, err := NewUpdate(wrapped[0].Value, UpdateOptions{})
		if err != nil {
			return
		}
		for _, ctx := range []ApplyContext{{}, {Insert: true}, {HasPositional: true, PositionalIndex: 1}} {
			_, _, _ = u.Apply(doc, ctx)
		}
	})
}

// FuzzExprEval checks that no expression panics when compiled and
// evaluated.
func FuzzExprEval(f *testing.F) {
	for _, s := range []string{`{"$add":["$a",1]}`, `{"$slice":["$arr",-1,9223372036854775807]}`,
		`{"$range":[0,10,3]}`, `{"$substr":["abc",1,9223372036854775807]}`,
		`{"$map":{"input":"$arr","in":{"$multiply":["$$this",2]}}}`, `{"$dateToString":{"date":"$t","format":"%Y%%"}}`} {
		f.Add(s)
	}
	doc := bson.D{{Key: "a", Value: int32(1)}, {Key: "arr", Value: bson.A{int32(1), "x", bson.D{{Key: "k", Value: 1.5}}}},
		{Key: "t", Value: bson.DateTime(1e12)}, {Key: "s", Value: "héllo"}}
	f.Fuzz(func(t *testing.T, exprJSON string) {
		var wrapped bson.D
		if bson.UnmarshalExtJSON([]byte(`{"e":`+exprJSON+`}`), false, &wrapped) != nil || len(wrapped) != 1 {
			return
		}
		e, err := NewExpr(wrapped[0].Value)
		if err != nil {
			return
		}
		_, _ = e.Eval(doc, nil)
	})
}
