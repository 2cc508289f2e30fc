package mql

import (
	"errors"
	"math"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// sameDoc compares documents exactly, including field order and types.
func sameDoc(a, b bson.D) bool {
	ra, err1 := bson.MarshalExtJSON(a, true, false)
	rb, err2 := bson.MarshalExtJSON(b, true, false)
	return err1 == nil && err2 == nil && string(ra) == string(rb)
}

func TestProjectionApply(t *testing.T) {
	doc := `{"_id": 1, "a": 1, "b": {"c": 2, "d": 3}, "e": [{"f": 1, "g": 2}, {"f": 3}, 5, [{"f": 4, "g": 5}]], "h": [1, 2, 3, 4, 5], "s": "x"}`
	tests := []struct {
		name, spec, want string
	}{
		{"empty keeps everything", `{}`, doc},
		{"inclusion keeps _id", `{"a": 1}`, `{"_id": 1, "a": 1}`},
		{"inclusion with true", `{"a": true, "s": true}`, `{"_id": 1, "a": 1, "s": "x"}`},
		{"inclusion in document order", `{"s": 1, "a": 1}`, `{"_id": 1, "a": 1, "s": "x"}`},
		{"inclusion without _id", `{"a": 1, "_id": 0}`, `{"a": 1}`},
		{"_id alone", `{"_id": 1}`, `{"_id": 1}`},
		{"_id excluded alone", `{"_id": 0}`, `{"a": 1, "b": {"c": 2, "d": 3}, "e": [{"f": 1, "g": 2}, {"f": 3}, 5, [{"f": 4, "g": 5}]], "h": [1, 2, 3, 4, 5], "s": "x"}`},
		{"exclusion", `{"b": 0, "e": 0, "h": false}`, `{"_id": 1, "a": 1, "s": "x"}`},
		{"dotted inclusion", `{"b.c": 1}`, `{"_id": 1, "b": {"c": 2}}`},
		{"nested spec inclusion", `{"b": {"d": 1}}`, `{"_id": 1, "b": {"d": 3}}`},
		{"dotted exclusion", `{"b.c": 0}`, `{"_id": 1, "a": 1, "b": {"d": 3}, "e": [{"f": 1, "g": 2}, {"f": 3}, 5, [{"f": 4, "g": 5}]], "h": [1, 2, 3, 4, 5], "s": "x"}`},
		{"dotted inclusion through arrays drops scalars", `{"e.f": 1, "_id": 0}`, `{"e": [{"f": 1}, {"f": 3}, [{"f": 4}]]}`},
		{"dotted exclusion through arrays keeps scalars", `{"e.g": 0, "_id": 0, "a": 0, "b": 0, "h": 0, "s": 0}`, `{"e": [{"f": 1}, {"f": 3}, 5, [{"f": 4}]]}`},
		{"dotted inclusion into a scalar drops it", `{"a.x": 1}`, `{"_id": 1}`},
		{"dotted inclusion of a missing subfield keeps empty doc", `{"b.zz": 1}`, `{"_id": 1, "b": {}}`},
		{"missing field", `{"zz": 1}`, `{"_id": 1}`},
		{"slice first n keeps other fields", `{"h": {"$slice": 2}, "_id": 0, "a": 0, "b": 0, "e": 0, "s": 0}`, `{"h": [1, 2]}`},
		{"slice alone keeps everything", `{"h": {"$slice": 1}}`, `{"_id": 1, "a": 1, "b": {"c": 2, "d": 3}, "e": [{"f": 1, "g": 2}, {"f": 3}, 5, [{"f": 4, "g": 5}]], "h": [1], "s": "x"}`},
		{"slice last n", `{"h": {"$slice": -2}, "a": 1}`, `{"_id": 1, "a": 1, "h": [4, 5]}`},
		{"slice more than length", `{"h": {"$slice": 10}, "a": 1}`, `{"_id": 1, "a": 1, "h": [1, 2, 3, 4, 5]}`},
		{"slice negative more than length", `{"h": {"$slice": -10}, "a": 1}`, `{"_id": 1, "a": 1, "h": [1, 2, 3, 4, 5]}`},
		{"slice skip limit", `{"h": {"$slice": [1, 2]}, "a": 1}`, `{"_id": 1, "a": 1, "h": [2, 3]}`},
		{"slice negative skip", `{"h": {"$slice": [-2, 5]}, "a": 1}`, `{"_id": 1, "a": 1, "h": [4, 5]}`},
		{"slice skip past end", `{"h": {"$slice": [9, 2]}, "a": 1}`, `{"_id": 1, "a": 1, "h": []}`},
		{"slice zero", `{"h": {"$slice": 0}, "a": 1}`, `{"_id": 1, "a": 1, "h": []}`},
		{"slice non-array unchanged", `{"s": {"$slice": 1}, "a": 1}`, `{"_id": 1, "a": 1, "s": "x"}`},
		{"slice in inclusion includes the field", `{"a": 1, "h": {"$slice": 1}}`, `{"_id": 1, "a": 1, "h": [1]}`},
		{"elemMatch", `{"e": {"$elemMatch": {"f": {"$gt": 2}}}}`, `{"_id": 1, "e": [{"f": 3}]}`},
		{"elemMatch after other fields", `{"e": {"$elemMatch": {"f": 1}}, "s": 1}`, `{"_id": 1, "s": "x", "e": [{"f": 1, "g": 2}]}`},
		{"elemMatch without match omits the field", `{"e": {"$elemMatch": {"f": 99}}, "a": 1}`, `{"_id": 1, "a": 1}`},
		{"elemMatch value form", `{"h": {"$elemMatch": {"$gt": 3}}}`, `{"_id": 1, "h": [4]}`},
		{"computed literal", `{"a": 1, "lit": "hello"}`, `{"_id": 1, "a": 1, "lit": "hello"}`},
		{"computed field path", `{"copy": "$b.c", "_id": 0}`, `{"copy": 2}`},
		{"computed literal operator", `{"one": {"$literal": 1}, "_id": 0}`, `{"one": 1}`},
		{"computed missing path omits field", `{"copy": "$nope", "_id": 0}`, `{}`},
		{"computed nested", `{"b": {"c": 1, "n": "$a"}, "_id": 0}`, `{"b": {"c": 2, "n": 1}}`},
		{"computed nested under missing field", `{"z.y": "$a", "_id": 0}`, `{"z": {"y": 1}}`},
		{"_id subfield", `{"_id": 0, "b.c": 1, "a": 1}`, `{"a": 1, "b": {"c": 2}}`},
		{"_id included in exclusion", `{"_id": 1, "b": 0, "e": 0, "h": 0}`, `{"_id": 1, "a": 1, "s": "x"}`},
		{"slice with _id 1 is inclusion", `{"_id": 1, "h": {"$slice": 1}}`, `{"_id": 1, "h": [1]}`},
		{"slice and elemMatch default to exclusion", `{"h": {"$slice": 1}, "e": {"$elemMatch": {"f": 3}}}`, `{"_id": 1, "a": 1, "b": {"c": 2, "d": 3}, "h": [1], "s": "x", "e": [{"f": 3}]}`},
		{"elemMatch in exclusion replaces the field", `{"a": 0, "e": {"$elemMatch": {"f": 3}}}`, `{"_id": 1, "b": {"c": 2, "d": 3}, "h": [1, 2, 3, 4, 5], "s": "x", "e": [{"f": 3}]}`},
		{"elemMatch with _id 0 is inclusion", `{"_id": 0, "e": {"$elemMatch": {"f": 3}}}`, `{"e": [{"f": 3}]}`},
		{"nested spec with dotted key", `{"b": {"c": 1}, "e": {"f": 1}, "_id": 0}`, `{"b": {"c": 2}, "e": [{"f": 1}, {"f": 3}, [{"f": 4}]]}`},
		{"computed array literal", `{"arr": [1, "$a"], "_id": 0}`, `{"arr": [1, 1]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewProjection(D(t, tt.spec))
			if err != nil {
				t.Fatalf("NewProjection(%s): %v", tt.spec, err)
			}
			in := D(t, doc)
			got, err := p.Apply(in)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if want := D(t, tt.want); !sameDoc(got, want) {
				t.Errorf("projection %s:\n got %v\nwant %v", tt.spec, got, want)
			}
			if !sameDoc(in, D(t, doc)) {
				t.Errorf("projection %s modified its input: %v", tt.spec, in)
			}
		})
	}
}

func TestProjectionPositional(t *testing.T) {
	doc := D(t, `{"_id": 1, "a": [10, 20, 30], "b": {"c": [{"x": 1}, {"x": 2}]}, "d": 4}`)
	tests := []struct {
		spec string
		idx  int
		want string
	}{
		{`{"a.$": 1}`, 1, `{"_id": 1, "a": [20]}`},
		{`{"a.$": 1, "d": 1}`, 2, `{"_id": 1, "a": [30], "d": 4}`},
		{`{"b.c.$": 1, "_id": 0}`, 1, `{"b": {"c": [{"x": 2}]}}`},
	}
	for _, tt := range tests {
		p, err := NewProjection(D(t, tt.spec))
		if err != nil {
			t.Fatalf("NewProjection(%s): %v", tt.spec, err)
		}
		if !p.NeedsPosition() {
			t.Errorf("%s: NeedsPosition = false", tt.spec)
		}
		got, err := p.ApplyPositional(doc, tt.idx, true)
		if err != nil {
			t.Fatalf("ApplyPositional(%s): %v", tt.spec, err)
		}
		if want := D(t, tt.want); !sameDoc(got, want) {
			t.Errorf("projection %s: got %v, want %v", tt.spec, got, want)
		}
	}
	// The positional index comes from the query.
	m, err := NewMatcher(D(t, `{"a": {"$gte": 20}}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProjection(D(t, `{"a.$": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	_, idx, has := m.MatchArrayIndex(doc)
	got, err := p.ApplyPositional(doc, idx, has)
	if err != nil || !sameDoc(got, D(t, `{"_id": 1, "a": [20]}`)) {
		t.Errorf("positional through MatchArrayIndex = %v, %v", got, err)
	}
	for _, bad := range []struct {
		idx int
		has bool
	}{{0, false}, {7, true}} {
		_, err := p.ApplyPositional(doc, bad.idx, bad.has)
		var me *Error
		if !errors.As(err, &me) || me.Code != CodeProjPositionalNoMatch {
			t.Errorf("ApplyPositional(%d, %v) error = %v, want code %d", bad.idx, bad.has, err, CodeProjPositionalNoMatch)
		}
	}
	if _, err := p.Apply(doc); err == nil {
		t.Error("Apply of a positional projection without an index succeeded")
	}
}

func TestProjectionErrors(t *testing.T) {
	tests := []struct {
		spec string
		code int32
		msg  string
	}{
		{`{"a": 1, "b": 0}`, CodeProjExclusionInInclusion, "Cannot do exclusion on field b in inclusion projection"},
		{`{"a": 0, "b": 1}`, CodeProjInclusionInExclusion, "Cannot do inclusion on field b in exclusion projection"},
		{`{"a": 0, "b": "$x"}`, CodeProjLiteralInExclusion, "in an exclusion projection"},
		{`{"a": 0, "b": {"$literal": 1}}`, CodeProjExprInExclusion, "Cannot use expression other than $meta in exclusion projection"},
		{`{"b": "$x", "a": 0}`, CodeProjExclusionInInclusion, "Cannot do exclusion on field a"},
		{`{"a": 0, "b.c": 1}`, CodeProjInclusionInExclusion, "Cannot do inclusion on field b.c"},
		{`{"a": 0, "b": {"c": 1}}`, CodeProjInclusionInExclusion, "Cannot do inclusion on field b.c"},
		{`{"a": 1, "a.b": 1}`, CodeProjPathCollision, "Path collision at a.b remaining portion b"},
		{`{"a.b": 1, "a": 1}`, CodeProjPathCollisionLeaf, "Path collision at a"},
		{`{"_id": 1, "_id.a": 1}`, CodeProjPathCollision, "Path collision at _id.a"},
		{`{"a": {}}`, CodeProjEmptySub, "empty sub-projection"},
		{`{"a": {"$slice": "x"}}`, CodeProjSliceArg, "$slice only supports numbers"},
		{`{"a": {"$slice": [1]}}`, CodeProjSliceArrayLen, "should be of form [skip, limit]"},
		{`{"a": {"$slice": [1, 2, 3, 4]}}`, CodeProjSliceArrayLen, "should be of form [skip, limit]"},
		{`{"a": {"$meta": "textScore"}}`, CodeBadValue, "not supported"},
		{`{"a.b": {"$elemMatch": {"x": 1}}}`, CodeProjElemMatchNested, "nested field"},
		{`{"a": {"b": {"$elemMatch": {"x": 1}}}}`, CodeProjElemMatchNested, "nested field"},
		{`{"a": {"$elemMatch": 1}}`, CodeProjElemMatchArg, "object required"},
		{`{"a": {"$elemMatch": {"$bad": 1}}}`, CodeBadValue, "unknown operator: $bad"},
		{`{"a.$": 1, "b": {"$elemMatch": {"x": 1}}}`, CodeProjPositionalElemMatch, "positional operator and $elemMatch"},
		{`{"b": {"$elemMatch": {"x": 1}}, "a.$": 1}`, 31256, "positional operator and $elemMatch"},
		{`{"a.$": 1, "b.$": 1}`, CodeProjMultiplePositional, "more than one positional"},
		{`{"a.$": {"$slice": 1}}`, CodeProjPositionalExpr, "positional projection cannot be used with an expression"},
		{`{"a.$": "x"}`, CodeProjPositionalLiteral, "positional projection cannot be used with a literal"},
		{`{"a.$": 0}`, 16410, "may not start with '$'"},
		{`{"a.$.$": 1}`, 31287, "positional operator twice"},
		{`{"a": 0, "b.$": 1}`, CodeProjInclusionInExclusion, "Cannot do inclusion on field b.$"},
		{`{"$a": 1}`, 16410, "may not start with '$'"},
		{`{"a": {"$slice": 1, "$elemMatch": {}}}`, 16410, "may not start with '$'"},
		{`{"a..b": 1}`, 15998, "may not be empty"},
		{`{"": 1}`, 40352, "empty string"},
		{`{"a": {"b": 1, "b.c": 1}}`, CodeProjPathCollision, "Path collision at a.b.c"},
	}
	for _, tt := range tests {
		_, err := NewProjection(D(t, tt.spec))
		var me *Error
		if !errors.As(err, &me) {
			t.Errorf("NewProjection(%s): %v is not *Error", tt.spec, err)
			continue
		}
		if me.Code != tt.code || !strings.Contains(me.Message, tt.msg) {
			t.Errorf("NewProjection(%s) = %d %q, want %d containing %q", tt.spec, me.Code, me.Message, tt.code, tt.msg)
		}
	}
}

func TestCompileFindSlice(t *testing.T) {
	// Arguments that are not the find() $slice syntax; NewProjection then
	// tries the aggregation $slice, so check the find() side directly.
	for _, tt := range []struct {
		arg  string
		code int32
	}{
		{`{"v": [1, 0]}`, CodeProjSliceLimit},
		{`{"v": [1, -3]}`, CodeProjSliceLimit},
		{`{"v": [1, "x"]}`, CodeProjSliceLimitType},
		{`{"v": ["x", 1]}`, CodeProjSliceSkip},
		{`{"v": "x"}`, CodeProjSliceArg},
		{`{"v": [1]}`, CodeProjSliceArrayLen},
	} {
		_, err := compileSlice(D(t, tt.arg)[0].Value)
		var me *Error
		if !errors.As(err, &me) || me.Code != tt.code {
			t.Errorf("compileSlice(%s) = %v, want code %d", tt.arg, err, tt.code)
		}
	}
	n, err := compileSlice(2.9)
	if err != nil || n.limit != 2 || n.hasSkip {
		t.Errorf("compileSlice(2.9) = %+v, %v", n, err)
	}
	n, err = compileSlice(bson.A{int64(-1), 1e12})
	if err != nil || n.skip != -1 || n.limit != math.MaxInt32 || !n.hasSkip {
		t.Errorf("compileSlice([-1, 1e12]) = %+v, %v", n, err)
	}
}

func TestProjectionAggregationSlice(t *testing.T) {
	// {$slice: ["$h", 2]} is not the find() syntax, so it is the
	// aggregation expression (a computed field).
	p, err := NewProjection(D(t, `{"first": {"$slice": ["$h", 2]}}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Apply(D(t, `{"_id": 1, "h": [1, 2, 3]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !sameDoc(got, D(t, `{"_id": 1, "first": [1, 2]}`)) {
		t.Errorf("got %v", got)
	}
}
