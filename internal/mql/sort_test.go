package mql

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// sortIDs sorts docs (each with an _id) by spec and returns the _ids in order.
func sortIDs(t *testing.T, spec string, docs []string) []any {
	t.Helper()
	s, err := NewSort(D(t, spec))
	if err != nil {
		t.Fatalf("NewSort(%s): %v", spec, err)
	}
	ds := make([]bson.D, len(docs))
	for i, d := range docs {
		ds[i] = D(t, d)
	}
	byCompare := slices.Clone(ds)
	slices.SortStableFunc(byCompare, s.Compare)
	// The key-based path must agree with Compare.
	type keyed struct {
		k SortKey
		d bson.D
	}
	ks := make([]keyed, len(ds))
	for i, d := range ds {
		ks[i] = keyed{s.Key(d), d}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int { return s.CompareKeys(a.k, b.k) })
	var ids []any
	for i, d := range byCompare {
		id, _ := Lookup(d, "_id")
		kid, _ := Lookup(ks[i].d, "_id")
		if !Equal(id, kid) {
			t.Errorf("spec %s: Compare and CompareKeys disagree at %d: %v vs %v", spec, i, id, kid)
		}
		ids = append(ids, id)
	}
	return ids
}

func ids(v ...int32) []any {
	out := make([]any, len(v))
	for i, x := range v {
		out[i] = x
	}
	return out
}

func TestSortOrders(t *testing.T) {
	tests := []struct {
		name string
		spec string
		docs []string
		want []any
	}{
		{
			"ascending numbers across types", `{"a": 1}`,
			[]string{`{"_id": 1, "a": 3}`, `{"_id": 2, "a": 1.5}`, `{"_id": 3, "a": {"$numberLong": "2"}}`},
			ids(2, 3, 1),
		},
		{
			"descending", `{"a": -1}`,
			[]string{`{"_id": 1, "a": 3}`, `{"_id": 2, "a": 1.5}`, `{"_id": 3, "a": {"$numberLong": "2"}}`},
			ids(1, 3, 2),
		},
		{
			"type brackets and missing as null", `{"a": 1}`,
			[]string{`{"_id": 1, "a": "s"}`, `{"_id": 2, "a": 5}`, `{"_id": 3}`, `{"_id": 4, "a": null}`, `{"_id": 5, "a": {"x": 1}}`, `{"_id": 6, "a": {"$minKey": 1}}`},
			ids(6, 3, 4, 2, 1, 5),
		},
		{
			"array ascending uses minimum", `{"a": 1}`,
			[]string{`{"_id": 1, "a": [5, 1]}`, `{"_id": 2, "a": 2}`, `{"_id": 3, "a": [3, 4]}`},
			ids(1, 2, 3),
		},
		{
			"array descending uses maximum", `{"a": -1}`,
			[]string{`{"_id": 1, "a": [5, 1]}`, `{"_id": 2, "a": 6}`, `{"_id": 3, "a": [3, 4]}`},
			ids(2, 1, 3),
		},
		{
			"empty array below null", `{"a": 1}`,
			[]string{`{"_id": 1, "a": null}`, `{"_id": 2, "a": []}`, `{"_id": 3, "a": 0}`},
			ids(2, 1, 3),
		},
		{
			"empty array below null descending", `{"a": -1}`,
			[]string{`{"_id": 1, "a": null}`, `{"_id": 2, "a": []}`, `{"_id": 3, "a": 0}`},
			ids(3, 1, 2),
		},
		{
			"nested array element is an array value", `{"a": 1}`,
			[]string{`{"_id": 1, "a": [[0], 9]}`, `{"_id": 2, "a": 5}`},
			ids(2, 1),
		},
		{
			"dotted path through array of documents", `{"a.b": 1}`,
			[]string{`{"_id": 1, "a": [{"b": 7}, {"b": 3}]}`, `{"_id": 2, "a": {"b": 4}}`, `{"_id": 3, "a": [{"b": 5}]}`},
			ids(1, 2, 3),
		},
		{
			"dotted path with a missing branch sorts as null", `{"a.b": 1}`,
			[]string{`{"_id": 1, "a": [{"b": 7}, {"c": 3}]}`, `{"_id": 2, "a": {"b": 4}}`},
			ids(1, 2),
		},
		{
			"compound with tie-break", `{"a": 1, "b": -1}`,
			[]string{`{"_id": 1, "a": 1, "b": 1}`, `{"_id": 2, "a": 1, "b": 2}`, `{"_id": 3, "a": 0, "b": 0}`},
			ids(3, 2, 1),
		},
		{
			"ties keep input order in a stable sort", `{"a": 1}`,
			[]string{`{"_id": 1, "a": 1}`, `{"_id": 2, "a": 1.0}`, `{"_id": 3, "a": 0}`},
			ids(3, 1, 2),
		},
		{
			"strings by bytes", `{"s": 1}`,
			[]string{`{"_id": 1, "s": "b"}`, `{"_id": 2, "s": "B"}`, `{"_id": 3, "s": "a"}`},
			ids(2, 3, 1),
		},
		{
			"sort by subdocument", `{"a": 1}`,
			[]string{`{"_id": 1, "a": {"x": 2}}`, `{"_id": 2, "a": {"x": 1, "y": 1}}`},
			ids(2, 1),
		},
		{
			"numeric path segment", `{"a.1": -1}`,
			[]string{`{"_id": 1, "a": [9, 1]}`, `{"_id": 2, "a": [0, 5]}`},
			ids(2, 1),
		},
		{
			"decimal and double one-element array", `{"a": 1}`,
			[]string{`{"_id": 1, "a": [{"$numberDecimal": "2.5"}]}`, `{"_id": 2, "a": 2}`},
			ids(2, 1),
		},
		{
			"empty spec keeps order", `{}`,
			[]string{`{"_id": 2}`, `{"_id": 1}`},
			ids(2, 1),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sortIDs(t, tt.spec, tt.docs)
			if Compare(bson.A(got), bson.A(tt.want)) != 0 {
				t.Errorf("sorted _ids = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSortSpecErrors(t *testing.T) {
	tests := []struct {
		spec string
		code int32
		msg  string
	}{
		{`{"a": 2}`, CodeSortBadOrder, "must be 1 (for ascending) or -1"},
		{`{"a": 0}`, CodeSortBadOrder, "must be 1 (for ascending) or -1"},
		{`{"a": 1.5}`, CodeSortBadOrder, "must be 1 (for ascending) or -1"},
		{`{"a": "asc"}`, CodeSortIllegalKey, "Illegal key in $sort specification"},
		{`{"a": true}`, CodeSortIllegalKey, "Illegal key in $sort specification"},
		{`{"a": {"x": 1}}`, CodeSortIllegalKey, "Illegal key in $sort specification"},
		{`{"a": {"$meta": "textScore"}}`, CodeBadValue, "not supported"},
		{`{"": 1}`, 40352, "empty string"},
		{`{"$a": 1}`, 16410, "may not start with '$'"},
		{`{"a..b": 1}`, 15998, "may not be empty"},
		{`{"$natural": 1, "a": 1}`, CodeBadValue, "$natural cannot be combined"},
	}
	for _, tt := range tests {
		_, err := NewSort(D(t, tt.spec))
		var me *Error
		if !errors.As(err, &me) {
			t.Errorf("NewSort(%s): %v is not *Error", tt.spec, err)
			continue
		}
		if me.Code != tt.code || !strings.Contains(me.Message, tt.msg) {
			t.Errorf("NewSort(%s) = %d %q, want %d containing %q", tt.spec, me.Code, me.Message, tt.code, tt.msg)
		}
	}
}

func TestSortAcceptsNumericTypes(t *testing.T) {
	for _, spec := range []string{`{"a": 1.0}`, `{"a": {"$numberLong": "-1"}}`, `{"a": {"$numberDecimal": "1"}}`} {
		s, err := NewSort(D(t, spec))
		if err != nil {
			t.Errorf("NewSort(%s): %v", spec, err)
			continue
		}
		if s.Len() != 1 || s.Natural() != 0 {
			t.Errorf("NewSort(%s): Len %d Natural %d", spec, s.Len(), s.Natural())
		}
	}
	s, err := NewSort(D(t, `{"$natural": -1}`))
	if err != nil || s.Natural() != -1 || s.Len() != 0 {
		t.Errorf("NewSort($natural: -1) = %v, %v", s, err)
	}
}
