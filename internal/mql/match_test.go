package mql

import (
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// D parses relaxed extended JSON into a bson.D, failing the test on error.
func D(tb testing.TB, s string) bson.D {
	tb.Helper()
	var d bson.D
	if err := bson.UnmarshalExtJSON([]byte(s), false, &d); err != nil {
		tb.Fatalf("bad test JSON %s: %v", s, err)
	}
	return d
}

type matchCase struct {
	filter string
	doc    string
	want   bool
}

func runMatchCases(t *testing.T, cases []matchCase) {
	t.Helper()
	for _, tc := range cases {
		m, err := NewMatcher(D(t, tc.filter))
		if err != nil {
			t.Errorf("NewMatcher(%s): %v", tc.filter, err)
			continue
		}
		if got := m.Match(D(t, tc.doc)); got != tc.want {
			t.Errorf("filter %s on %s: got %v, want %v", tc.filter, tc.doc, got, tc.want)
		}
		ok, _, _ := m.MatchArrayIndex(D(t, tc.doc))
		if ok != tc.want {
			t.Errorf("MatchArrayIndex: filter %s on %s: got %v, want %v", tc.filter, tc.doc, ok, tc.want)
		}
	}
}

func TestMatchEquality(t *testing.T) {
	runMatchCases(t, []matchCase{
		{`{}`, `{"a": 1}`, true},
		{`{"a": 1}`, `{"a": 1}`, true},
		{`{"a": 1}`, `{"a": 1.0}`, true},
		{`{"a": 1}`, `{"a": {"$numberLong": "1"}}`, true},
		{`{"a": 1}`, `{"a": {"$numberDecimal": "1.00"}}`, true},
		{`{"a": 1}`, `{"a": 2}`, false},
		{`{"a": 1}`, `{"a": "1"}`, false},
		{`{"a": 1}`, `{"b": 1}`, false},
		{`{"a": "x"}`, `{"a": "x"}`, true},
		{`{"a": "x"}`, `{"a": "X"}`, false},
		{`{"a": {"$eq": 1}}`, `{"a": 1}`, true},
		{`{"a": 1, "b": 2}`, `{"a": 1, "b": 2}`, true},
		{`{"a": 1, "b": 2}`, `{"a": 1, "b": 3}`, false},
		// Arrays: any element or the whole array.
		{`{"a": 2}`, `{"a": [1, 2, 3]}`, true},
		{`{"a": 4}`, `{"a": [1, 2, 3]}`, false},
		{`{"a": [1, 2]}`, `{"a": [1, 2]}`, true},
		{`{"a": [1, 2]}`, `{"a": [2, 1]}`, false},
		{`{"a": [1, 2]}`, `{"a": [[1, 2], 3]}`, true},
		{`{"a": [1]}`, `{"a": 1}`, false},
		{`{"a": []}`, `{"a": []}`, true},
		{`{"a": []}`, `{"a": [[]]}`, true},
		// Embedded documents: exact, ordered.
		{`{"a": {"b": 1, "c": 2}}`, `{"a": {"b": 1, "c": 2}}`, true},
		{`{"a": {"b": 1, "c": 2}}`, `{"a": {"c": 2, "b": 1}}`, false},
		{`{"a": {"b": 1}}`, `{"a": {"b": 1, "c": 2}}`, false},
		{`{"a": {"b": 1}}`, `{"a": [{"b": 1}, {"b": 2}]}`, true},
		// DBRef-shaped documents are literals, not operators.
		{`{"a": {"$ref": "c", "$id": 1}}`, `{"a": {"$ref": "c", "$id": 1}}`, true},
		// Dotted paths.
		{`{"a.b": 1}`, `{"a": {"b": 1}}`, true},
		{`{"a.b": 1}`, `{"a": {"b": 2}}`, false},
		{`{"a.b": 1}`, `{"a": [{"b": 2}, {"b": 1}]}`, true},
		{`{"a.b": 1}`, `{"a": [{"b": [3, 1]}]}`, true},
		{`{"a.b.c": 1}`, `{"a": [{"b": [{"c": 1}]}]}`, true},
		{`{"a.b": 1}`, `{"a": [[{"b": 1}]]}`, false}, // no traversal of nested arrays
		{`{"a.0": 1}`, `{"a": [1, 2]}`, true},
		{`{"a.1": 1}`, `{"a": [1, 2]}`, false},
		{`{"a.0.b": 1}`, `{"a": [{"b": 1}]}`, true},
		{`{"a.0.b": 1}`, `{"a": [{"b": 2}, {"b": 1}]}`, false},
		{`{"a.0": 5}`, `{"a": {"0": 5}}`, true},
		{`{"a.0": 5}`, `{"a": [{"0": 5}]}`, true}, // field named "0" in an element
		{`{"a.1.0": 7}`, `{"a": [1, [7, 8]]}`, true},
		{`{"a.0.0": 7}`, `{"a": [[7]]}`, true},
		{`{"a.b": 1}`, `{"a": 5}`, false},
	})
}

func TestMatchNullAndMissing(t *testing.T) {
	// Semantics from MongoDB 8.0: null equality matches null and missing,
	// not undefined.
	runMatchCases(t, []matchCase{
		{`{"a": null}`, `{"a": null}`, true},
		{`{"a": null}`, `{}`, true},
		{`{"a": null}`, `{"a": {"$undefined": true}}`, false},
		{`{"a": null}`, `{"a": 0}`, false},
		{`{"a": null}`, `{"a": [1, null]}`, true},
		{`{"a": null}`, `{"a": [1, 2]}`, false},
		{`{"a": null}`, `{"a": []}`, false},
		{`{"a": {"$ne": null}}`, `{"a": 1}`, true},
		{`{"a": {"$ne": null}}`, `{}`, false},
		{`{"a": {"$ne": null}}`, `{"a": {"$undefined": true}}`, true},
		{`{"a.b": null}`, `{"a": {}}`, true},
		{`{"a.b": null}`, `{"a": 4}`, true},
		{`{"a.b": null}`, `{"a": {"b": "hi"}}`, false},
		{`{"a.b": null}`, `{"a": [1, "string", 4]}`, true},
		{`{"a.b": null}`, `{"a": []}`, true},
		{`{"a.b": null}`, `{"a": [[]]}`, true},
		{`{"a.b": null}`, `{"a": [{"b": 3}, {}]}`, true},
		{`{"a.b": null}`, `{"a": [{"b": 1}, {"b": 3}]}`, false},
		{`{"a.b": {"$ne": null}}`, `{"a": [{"b": 1}, {"b": 3}]}`, true},
		{`{"a.b": {"$ne": null}}`, `{"a": [{"b": 3}, {}]}`, false},
		{`{"a": {"$in": [null, 4]}}`, `{}`, true},
		{`{"a": {"$in": [null, 4]}}`, `{"a": 4}`, true},
		{`{"a": {"$in": [null, 4]}}`, `{"a": 5}`, false},
		{`{"a": {"$nin": [null, 4]}}`, `{}`, false},
		{`{"a": {"$nin": [null, 4]}}`, `{"a": 5}`, true},
		{`{"a": {"$gte": null}}`, `{}`, true},
		{`{"a": {"$lte": null}}`, `{"a": null}`, true},
		{`{"a": {"$gt": null}}`, `{"a": null}`, false},
		{`{"a": {"$lt": null}}`, `{}`, false},
		{`{"a": {"$not": {"$gte": null}}}`, `{"a": 4}`, true},
		{`{"a": {"$not": {"$gte": null}}}`, `{}`, false},
	})
}

func TestMatchComparison(t *testing.T) {
	runMatchCases(t, []matchCase{
		{`{"a": {"$gt": 1}}`, `{"a": 2}`, true},
		{`{"a": {"$gt": 1}}`, `{"a": 1}`, false},
		{`{"a": {"$gte": 1}}`, `{"a": 1.0}`, true},
		{`{"a": {"$lt": 1}}`, `{"a": 0.5}`, true},
		{`{"a": {"$lte": 1}}`, `{"a": {"$numberLong": "2"}}`, false},
		{`{"a": {"$gt": 1}}`, `{"a": "2"}`, false}, // type bracketing
		{`{"a": {"$lt": "b"}}`, `{"a": 1}`, false},
		{`{"a": {"$lt": "b"}}`, `{"a": "a"}`, true},
		{`{"a": {"$gt": 1}}`, `{}`, false},
		{`{"a": {"$gt": 1}}`, `{"a": null}`, false},
		{`{"a": {"$gt": 2}}`, `{"a": [1, 3]}`, true},
		{`{"a": {"$gt": 1, "$lt": 3}}`, `{"a": [0, 4]}`, true}, // each bound by a different element
		{`{"a": {"$gt": 1, "$lt": 3}}`, `{"a": [0, 5]}`, true},
		{`{"a": {"$gt": 1, "$lt": 3}}`, `{"a": [0, 1]}`, false},
		{`{"a": {"$gt": [1]}}`, `{"a": [2]}`, true}, // the whole array compares with the array
		{`{"a": {"$gt": [1]}}`, `{"a": [0]}`, false},
		{`{"a": {"$gt": [1]}}`, `{"a": 5}`, false},
		{`{"a": {"$gt": {"$minKey": 1}}}`, `{"a": "x"}`, true},
		{`{"a": {"$lt": {"$maxKey": 1}}}`, `{"a": {"x": 1}}`, true},
		{`{"a": {"$gt": {"$maxKey": 1}}}`, `{"a": 1}`, false},
		{`{"a": {"$gt": {"$date": "2020-01-01T00:00:00Z"}}}`, `{"a": {"$date": "2021-01-01T00:00:00Z"}}`, true},
		{`{"a": {"$gt": {"$date": "2020-01-01T00:00:00Z"}}}`, `{"a": 5}`, false},
		{`{"a": {"$gt": {"$numberDouble": "NaN"}}}`, `{"a": 1}`, false},
		{`{"a": {"$lt": 1}}`, `{"a": {"$numberDouble": "NaN"}}`, false},
		{`{"a": {"$gte": {"$numberDouble": "NaN"}}}`, `{"a": {"$numberDouble": "NaN"}}`, true},
		{`{"a": {"$eq": {"$numberDouble": "NaN"}}}`, `{"a": {"$numberDecimal": "NaN"}}`, true},
		{`{"a": {"$gt": {"$numberDouble": "-Infinity"}}}`, `{"a": -1e308}`, true},
		{`{"a": {"$gt": {"$numberDecimal": "1.5"}}}`, `{"a": 2}`, true},
		{`{"a": {"$gt": {"b": 1}}}`, `{"a": {"b": 2}}`, true},
		{`{"a.b": {"$lt": 5}}`, `{"a": [{"b": 10}, {"b": 1}]}`, true},
		{`{"a": {"$ne": 1}}`, `{"a": [1, 2]}`, false},
		{`{"a": {"$ne": 1}}`, `{"a": [2, 3]}`, true},
		{`{"a": {"$ne": 1}}`, `{}`, true},
		{`{"a": {"$gt": {"$oid": "000000000000000000000001"}}}`, `{"a": {"$oid": "000000000000000000000002"}}`, true},
		{`{"a": {"$gte": true}}`, `{"a": false}`, false},
		{`{"a": {"$gt": {"$timestamp": {"t": 1, "i": 1}}}}`, `{"a": {"$timestamp": {"t": 1, "i": 2}}}`, true},
	})
}

func TestMatchInNin(t *testing.T) {
	runMatchCases(t, []matchCase{
		{`{"a": {"$in": [1, 2]}}`, `{"a": 2}`, true},
		{`{"a": {"$in": [1, 2]}}`, `{"a": 2.0}`, true},
		{`{"a": {"$in": [1, 2]}}`, `{"a": 3}`, false},
		{`{"a": {"$in": []}}`, `{"a": 3}`, false},
		{`{"a": {"$in": [1, "x", {"b": 1}]}}`, `{"a": {"b": 1}}`, true},
		{`{"a": {"$in": [5, 6]}}`, `{"a": [1, 6]}`, true},
		{`{"a": {"$in": [[1, 6]]}}`, `{"a": [1, 6]}`, true},
		{`{"a": {"$in": [{"$regularExpression": {"pattern": "^ab", "options": ""}}]}}`, `{"a": "abc"}`, true},
		{`{"a": {"$in": [{"$regularExpression": {"pattern": "^ab", "options": "i"}}]}}`, `{"a": "ABc"}`, true},
		{`{"a": {"$in": [{"$regularExpression": {"pattern": "^ab", "options": ""}}]}}`, `{"a": "xab"}`, false},
		{`{"a": {"$nin": [1, 2]}}`, `{"a": 3}`, true},
		{`{"a": {"$nin": [1, 2]}}`, `{"a": [3, 1]}`, false},
		{`{"a": {"$nin": [1, 2]}}`, `{}`, true},
		{`{"a": {"$nin": []}}`, `{"a": 1}`, true},
	})
}

func TestMatchExistsType(t *testing.T) {
	runMatchCases(t, []matchCase{
		{`{"a": {"$exists": true}}`, `{"a": null}`, true},
		{`{"a": {"$exists": true}}`, `{}`, false},
		{`{"a": {"$exists": false}}`, `{}`, true},
		{`{"a": {"$exists": 0}}`, `{"a": 1}`, false},
		{`{"a": {"$exists": 1}}`, `{"a": 1}`, true},
		{`{"a.b": {"$exists": true}}`, `{"a": [{"c": 1}, {"b": 0}]}`, true},
		{`{"a.b": {"$exists": false}}`, `{"a": [{"c": 1}, {"b": 0}]}`, false},
		{`{"a.b": {"$exists": false}}`, `{"a": [1, 2]}`, true},
		{`{"a.1": {"$exists": true}}`, `{"a": [1, 2]}`, true},
		{`{"a.2": {"$exists": true}}`, `{"a": [1, 2]}`, false},
		{`{"a": {"$type": "string"}}`, `{"a": "x"}`, true},
		{`{"a": {"$type": 2}}`, `{"a": "x"}`, true},
		{`{"a": {"$type": 2.0}}`, `{"a": 1}`, false},
		{`{"a": {"$type": "number"}}`, `{"a": 1.5}`, true},
		{`{"a": {"$type": "number"}}`, `{"a": {"$numberDecimal": "1"}}`, true},
		{`{"a": {"$type": "number"}}`, `{"a": "1"}`, false},
		{`{"a": {"$type": "int"}}`, `{"a": 1}`, true},
		{`{"a": {"$type": "long"}}`, `{"a": 1}`, false},
		{`{"a": {"$type": "long"}}`, `{"a": {"$numberLong": "1"}}`, true},
		{`{"a": {"$type": "double"}}`, `{"a": 1.5}`, true},
		{`{"a": {"$type": "array"}}`, `{"a": []}`, true},
		{`{"a": {"$type": "array"}}`, `{"a": [[1]]}`, true},
		{`{"a": {"$type": "array"}}`, `{"a": 1}`, false},
		{`{"a": {"$type": "string"}}`, `{"a": [1, "x"]}`, true},
		{`{"a": {"$type": "null"}}`, `{"a": null}`, true},
		{`{"a": {"$type": "null"}}`, `{}`, false},
		{`{"a": {"$type": ["string", "bool"]}}`, `{"a": true}`, true},
		{`{"a": {"$type": []}}`, `{"a": true}`, false},
		{`{"a": {"$type": "objectId"}}`, `{"a": {"$oid": "000000000000000000000001"}}`, true},
		{`{"a": {"$type": "date"}}`, `{"a": {"$date": "2020-01-01T00:00:00Z"}}`, true},
		{`{"a": {"$type": "minKey"}}`, `{"a": {"$minKey": 1}}`, true},
		{`{"a": {"$type": -1}}`, `{"a": {"$minKey": 1}}`, true},
		{`{"a": {"$type": 127}}`, `{"a": {"$maxKey": 1}}`, true},
		{`{"a": {"$type": "object"}}`, `{"a": {}}`, true},
		{`{"a": {"$type": "binData"}}`, `{"a": {"$binary": {"base64": "AQ==", "subType": "00"}}}`, true},
	})
}

func TestMatchLogical(t *testing.T) {
	runMatchCases(t, []matchCase{
		{`{"$and": [{"a": 1}, {"b": 2}]}`, `{"a": 1, "b": 2}`, true},
		{`{"$and": [{"a": 1}, {"b": 2}]}`, `{"a": 1, "b": 3}`, false},
		{`{"$or": [{"a": 1}, {"b": 2}]}`, `{"a": 0, "b": 2}`, true},
		{`{"$or": [{"a": 1}, {"b": 2}]}`, `{"a": 0, "b": 0}`, false},
		{`{"$nor": [{"a": 1}, {"b": 2}]}`, `{"a": 0, "b": 0}`, true},
		{`{"$nor": [{"a": 1}, {"b": 2}]}`, `{"a": 1}`, false},
		{`{"$or": [{"$and": [{"a": 1}, {"b": 1}]}, {"c": 1}]}`, `{"a": 1, "b": 1}`, true},
		{`{"a": {"$not": {"$gt": 5}}}`, `{"a": 3}`, true},
		{`{"a": {"$not": {"$gt": 5}}}`, `{"a": 7}`, false},
		{`{"a": {"$not": {"$gt": 5}}}`, `{}`, true},
		{`{"a": {"$not": {"$gt": 5}}}`, `{"a": "x"}`, true},
		{`{"a": {"$not": {"$gt": 5}}}`, `{"a": [1, 9]}`, false},
		{`{"a": {"$not": {"$gt": 1, "$lt": 5}}}`, `{"a": 3}`, false},
		{`{"a": {"$not": {"$gt": 1, "$lt": 5}}}`, `{"a": 7}`, true},
		{`{"a": {"$not": {"$regularExpression": {"pattern": "^x", "options": ""}}}}`, `{"a": "xy"}`, false},
		{`{"a": {"$not": {"$regularExpression": {"pattern": "^x", "options": ""}}}}`, `{"a": "yx"}`, true},
		{`{"a": {"$not": {"$regex": "^x"}}}`, `{"a": "yx"}`, true},
		{`{"$comment": "hello", "a": 1}`, `{"a": 1}`, true},
		{`{"$alwaysFalse": 1}`, `{"a": 1}`, false},
		{`{"$alwaysTrue": 1}`, `{"a": 1}`, true},
	})
}

func TestMatchRegex(t *testing.T) {
	runMatchCases(t, []matchCase{
		{`{"a": {"$regularExpression": {"pattern": "^ab", "options": ""}}}`, `{"a": "abc"}`, true},
		{`{"a": {"$regularExpression": {"pattern": "^ab", "options": ""}}}`, `{"a": "Abc"}`, false},
		{`{"a": {"$regularExpression": {"pattern": "^ab", "options": "i"}}}`, `{"a": "Abc"}`, true},
		{`{"a": {"$regex": "^ab"}}`, `{"a": "abc"}`, true},
		{`{"a": {"$regex": "^ab", "$options": "i"}}`, `{"a": "ABC"}`, true},
		{`{"a": {"$options": "i", "$regex": "^ab"}}`, `{"a": "ABC"}`, true},
		{`{"a": {"$regex": {"$regularExpression": {"pattern": "^ab", "options": "i"}}}}`, `{"a": "ABC"}`, true},
		{`{"a": {"$regex": {"$regularExpression": {"pattern": "^ab", "options": ""}}, "$options": "i"}}`, `{"a": "ABC"}`, true},
		{`{"a": {"$regex": "^b", "$options": "m"}}`, `{"a": "a\nb"}`, true},
		{`{"a": {"$regex": "^b"}}`, `{"a": "a\nb"}`, false},
		{`{"a": {"$regex": "a.b", "$options": "s"}}`, `{"a": "a\nb"}`, true},
		{`{"a": {"$regex": "a.b"}}`, `{"a": "a\nb"}`, false},
		{`{"a": {"$regex": "a b # comment\n c", "$options": "x"}}`, `{"a": "abc"}`, true},
		{`{"a": {"$regex": "a[ ]b", "$options": "x"}}`, `{"a": "a b"}`, true},
		{`{"a": {"$regex": "a\\ b", "$options": "x"}}`, `{"a": "a b"}`, true},
		{`{"a": {"$regex": "b"}}`, `{"a": ["x", "abc"]}`, true},
		{`{"a": {"$regex": "1"}}`, `{"a": 1}`, false},
		{`{"a": {"$regex": "x"}}`, `{"a": {"$symbol": "xyz"}}`, true},
		{`{"a": {"$regex": "x"}}`, `{}`, false},
		{`{"a": {"$regularExpression": {"pattern": "x", "options": "i"}}}`, `{"a": {"$regularExpression": {"pattern": "x", "options": "i"}}}`, true},
		{`{"a": {"$eq": {"$regularExpression": {"pattern": "x", "options": ""}}}}`, `{"a": "x"}`, false},
		{`{"a": {"$eq": {"$regularExpression": {"pattern": "x", "options": ""}}}}`, `{"a": {"$regularExpression": {"pattern": "x", "options": ""}}}`, true},
		{`{"a": {"$regex": "é"}}`, `{"a": "café"}`, true},
		// PCRE anchors: "$" also matches before a final newline, "\Z" too.
		{`{"a": {"$regex": "c$"}}`, `{"a": "abc\n"}`, true},
		{`{"a": {"$regex": "c$"}}`, `{"a": "abc\nd"}`, false},
		{`{"a": {"$regex": "c$"}}`, `{"a": "abc"}`, true},
		{`{"a": {"$regex": "c\\Z"}}`, `{"a": "abc\n"}`, true},
		{`{"a": {"$regex": "c\\Z", "$options": "m"}}`, `{"a": "abc\nd"}`, false},
		{`{"a": {"$regex": "^b$", "$options": "m"}}`, `{"a": "a\nb\nc"}`, true},
		{`{"a": {"$regex": "[$]"}}`, `{"a": "x$y"}`, true},
		{`{"a": {"$regex": "[]$]x"}}`, `{"a": "$x"}`, true},
		{`{"a": {"$regex": "\\$"}}`, `{"a": "5$"}`, true},
		{`{"a": {"$regex": "\\$"}}`, `{"a": "5"}`, false},
	})
}

func TestMatchArrayOperators(t *testing.T) {
	runMatchCases(t, []matchCase{
		{`{"a": {"$size": 2}}`, `{"a": [1, 2]}`, true},
		{`{"a": {"$size": 2}}`, `{"a": [1]}`, false},
		{`{"a": {"$size": 0}}`, `{"a": []}`, true},
		{`{"a": {"$size": 0}}`, `{}`, false},
		{`{"a": {"$size": 1}}`, `{"a": [[1, 2]]}`, true},
		{`{"a": {"$size": 2.0}}`, `{"a": [1, 2]}`, true},
		{`{"a.b": {"$size": 2}}`, `{"a": [{"b": [1, 2]}]}`, true},
		{`{"a": {"$size": 1}}`, `{"a": "x"}`, false},
		{`{"a": {"$all": [1, 2]}}`, `{"a": [2, 3, 1]}`, true},
		{`{"a": {"$all": [1, 2]}}`, `{"a": [2, 3]}`, false},
		{`{"a": {"$all": [1]}}`, `{"a": 1}`, true},
		{`{"a": {"$all": []}}`, `{"a": [1]}`, false},
		{`{"a": {"$all": [[1, 2]]}}`, `{"a": [1, 2]}`, true},
		{`{"a": {"$all": [[1, 2]]}}`, `{"a": [[1, 2], 3]}`, true},
		{`{"a": {"$all": [{"$regularExpression": {"pattern": "^x", "options": ""}}, "yz"]}}`, `{"a": ["xa", "yz"]}`, true},
		{`{"a.b": {"$all": [1, 2]}}`, `{"a": [{"b": 1}, {"b": 2}]}`, true},
		{`{"a": {"$all": [{"$elemMatch": {"x": 1}}, {"$elemMatch": {"y": 2}}]}}`, `{"a": [{"x": 1}, {"y": 2}]}`, true},
		{`{"a": {"$all": [{"$elemMatch": {"x": 1}}, {"$elemMatch": {"y": 3}}]}}`, `{"a": [{"x": 1}, {"y": 2}]}`, false},
		{`{"a": {"$elemMatch": {"$gt": 1, "$lt": 3}}}`, `{"a": [0, 2, 5]}`, true},
		{`{"a": {"$elemMatch": {"$gt": 1, "$lt": 3}}}`, `{"a": [0, 5]}`, false},
		{`{"a": {"$elemMatch": {"$gt": 1}}}`, `{"a": 5}`, false},
		{`{"a": {"$elemMatch": {"$eq": null}}}`, `{"a": [1, null]}`, true},
		{`{"a": {"$elemMatch": {"$ne": null}}}`, `{"a": [null]}`, false},
		{`{"a": {"$elemMatch": {"$not": {"$gt": 3}}}}`, `{"a": [5, 1]}`, true},
		{`{"a": {"$elemMatch": {"$in": [7, 8]}}}`, `{"a": [1, 8]}`, true},
		{`{"a": {"$elemMatch": {"$regex": "^b"}}}`, `{"a": ["a", "bc"]}`, true},
		{`{"a": {"$elemMatch": {"$size": 1}}}`, `{"a": [[1], [1, 2]]}`, true},
		{`{"a": {"$elemMatch": {"$elemMatch": {"$gt": 5}}}}`, `{"a": [[1], [1, 9]]}`, true},
		{`{"a": {"$elemMatch": {"$gt": 5}}}`, `{"a": [[9]]}`, false}, // no traversal inside an element
		{`{"a": {"$elemMatch": {"b": 1, "c": 2}}}`, `{"a": [{"b": 1, "c": 2}]}`, true},
		{`{"a": {"$elemMatch": {"b": 1, "c": 2}}}`, `{"a": [{"b": 1}, {"c": 2}]}`, false},
		{`{"a": {"$elemMatch": {"b": {"$gt": 1}}}}`, `{"a": [{"b": 0}, {"b": 3}]}`, true},
		{`{"a": {"$elemMatch": {"b.c": 1}}}`, `{"a": [{"b": [{"c": 1}]}]}`, true},
		{`{"a": {"$elemMatch": {"$or": [{"b": 1}, {"c": 1}]}}}`, `{"a": [{"c": 1}]}`, true},
		{`{"a": {"$elemMatch": {"b": 1}}}`, `{"a": [1, 2]}`, false},
		{`{"a": {"$elemMatch": {"1": 5}}}`, `{"a": [[4, 5]]}`, true},
		{`{"a": {"$elemMatch": {"1": 5}}}`, `{"a": [[5, 4]]}`, false},
		{`{"a": {"$elemMatch": {}}}`, `{"a": [{"x": 1}]}`, true},
		{`{"a": {"$elemMatch": {}}}`, `{"a": [1]}`, false},
		{`{"a.b": {"$elemMatch": {"$eq": 1}}}`, `{"a": [{"b": [1]}]}`, true},
		{`{"a": {"$elemMatch": {"b": null}}}`, `{"a": [{"c": 1}]}`, true},
		{`{"a": {"$mod": [4, 0]}}`, `{"a": 8}`, true},
		{`{"a": {"$mod": [4, 1]}}`, `{"a": 8}`, false},
		{`{"a": {"$mod": [4, 1]}}`, `{"a": 9.9}`, true}, // the value is truncated
		{`{"a": {"$mod": [4, -1]}}`, `{"a": -5}`, true}, // remainder has the sign of the dividend
		{`{"a": {"$mod": [4.5, 0]}}`, `{"a": 8}`, true}, // divisor truncated to 4
		{`{"a": {"$mod": [4, 0]}}`, `{"a": "8"}`, false},
		{`{"a": {"$mod": [4, 0]}}`, `{"a": [3, 12]}`, true},
		{`{"a": {"$mod": [4, 0]}}`, `{"a": {"$numberDouble": "NaN"}}`, false},
		{`{"a": {"$mod": [-1, 0]}}`, `{"a": {"$numberLong": "-9223372036854775808"}}`, true},
	})
}

func TestMatchBitwise(t *testing.T) {
	// Examples from the $bitsAllSet/$bitsAnySet/... reference pages.
	runMatchCases(t, []matchCase{
		{`{"a": {"$bitsAllSet": [1, 5]}}`, `{"a": 54}`, true},
		{`{"a": {"$bitsAllSet": [1, 5]}}`, `{"a": 20}`, false},
		{`{"a": {"$bitsAllSet": 50}}`, `{"a": 54}`, true},
		{`{"a": {"$bitsAllSet": 50}}`, `{"a": 20}`, false},
		{`{"a": {"$bitsAllSet": {"$binary": {"base64": "MA==", "subType": "00"}}}}`, `{"a": 54}`, true},
		{`{"a": {"$bitsAnySet": [1, 5]}}`, `{"a": 20}`, false},
		{`{"a": {"$bitsAnySet": [1, 5]}}`, `{"a": 2}`, true},
		{`{"a": {"$bitsAllClear": [1, 5]}}`, `{"a": 20}`, true},
		{`{"a": {"$bitsAllClear": [1, 5]}}`, `{"a": 54}`, false},
		{`{"a": {"$bitsAnyClear": [1, 5]}}`, `{"a": 2}`, true},
		{`{"a": {"$bitsAnyClear": [1, 5]}}`, `{"a": 54}`, false},
		{`{"a": {"$bitsAllSet": [100]}}`, `{"a": -1}`, true}, // sign extension
		{`{"a": {"$bitsAllSet": [100]}}`, `{"a": 1}`, false},
		{`{"a": {"$bitsAllSet": [0]}}`, `{"a": 1.5}`, false},
		{`{"a": {"$bitsAllSet": [0]}}`, `{"a": 3.0}`, true},
		{`{"a": {"$bitsAllSet": [0]}}`, `{"a": "1"}`, false},
		{`{"a": {"$bitsAllSet": [0, 9]}}`, `{"a": {"$binary": {"base64": "AQI=", "subType": "00"}}}`, true},
		{`{"a": {"$bitsAllSet": [16]}}`, `{"a": {"$binary": {"base64": "AQI=", "subType": "00"}}}`, false},
		{`{"a": {"$bitsAllSet": []}}`, `{"a": 0}`, true},
		{`{"a": {"$bitsAnySet": []}}`, `{"a": 7}`, false},
	})
}

func TestMatchArrayIndex(t *testing.T) {
	tests := []struct {
		filter, doc string
		ok          bool
		idx         int
		hasIdx      bool
	}{
		{`{"a": 2}`, `{"a": [1, 2, 3]}`, true, 1, true},
		{`{"a": 2}`, `{"a": 2}`, true, 0, false},
		{`{"a": [1, 2]}`, `{"a": [1, 2]}`, true, 0, false}, // whole array
		{`{"a.b": 5}`, `{"a": [{"b": 1}, {"b": 5}]}`, true, 1, true},
		{`{"a.b": 5}`, `{"a": [{"b": [4]}, {"b": [9, 5]}]}`, true, 1, true}, // outermost array wins
		{`{"a": {"$elemMatch": {"$gt": 5}}}`, `{"a": [1, 9]}`, true, 1, true},
		{`{"a": {"$elemMatch": {"b": 2}}}`, `{"a": [{"b": 1}, {"b": 2}]}`, true, 1, true},
		{`{"x": 1, "a": {"$gte": 3}}`, `{"x": 1, "a": [1, 2, 3, 4]}`, true, 2, true},
		{`{"a": 9}`, `{"a": [1, 2]}`, false, 0, false},
		{`{"a.1": 2}`, `{"a": [1, 2]}`, true, 0, false}, // explicit offset is not a traversal
		{`{"a": {"$ne": 2}}`, `{"a": [1, 3]}`, true, 0, false},
	}
	for _, tt := range tests {
		m, err := NewMatcher(D(t, tt.filter))
		if err != nil {
			t.Fatalf("NewMatcher(%s): %v", tt.filter, err)
		}
		ok, idx, hasIdx := m.MatchArrayIndex(D(t, tt.doc))
		if ok != tt.ok || idx != tt.idx || hasIdx != tt.hasIdx {
			t.Errorf("MatchArrayIndex %s on %s = (%v, %d, %v), want (%v, %d, %v)",
				tt.filter, tt.doc, ok, idx, hasIdx, tt.ok, tt.idx, tt.hasIdx)
		}
	}
}

func TestMatcherErrors(t *testing.T) {
	tests := []struct {
		filter string
		code   int32
		msg    string
	}{
		{`{"a": {"$foo": 1}}`, CodeBadValue, "unknown operator: $foo"},
		{`{"$foo": 1}`, CodeBadValue, "unknown top level operator: $foo"},
		{`{"a": {"$gt": 1, "b": 1}}`, CodeBadValue, "unknown operator: b"},
		{`{"$and": []}`, CodeBadValue, "$and must be a nonempty array"},
		{`{"$or": 1}`, CodeBadValue, "$or must be a nonempty array"},
		{`{"$nor": [1]}`, CodeBadValue, "entries need to be full objects"},
		{`{"a": {"$in": 1}}`, CodeBadValue, "$in needs an array"},
		{`{"a": {"$nin": {"x": 1}}}`, CodeBadValue, "$nin needs an array"},
		{`{"a": {"$in": [{"$gt": 1}]}}`, CodeBadValue, "cannot nest $ under $in"},
		{`{"a": {"$all": 1}}`, CodeBadValue, "$all needs an array"},
		{`{"a": {"$all": [{"$elemMatch": {"b": 1}}, 1]}}`, CodeBadValue, "$all/$elemMatch has to be consistent"},
		{`{"a": {"$size": "x"}}`, CodeBadValue, "$size needs a number"},
		{`{"a": {"$size": 1.5}}`, CodeBadValue, "$size must be a whole number"},
		{`{"a": {"$size": -1}}`, CodeBadValue, "$size may not be negative"},
		{`{"a": {"$mod": 1}}`, CodeBadValue, "malformed mod, needs to be an array"},
		{`{"a": {"$mod": [1]}}`, CodeBadValue, "malformed mod, not enough elements"},
		{`{"a": {"$mod": [1, 2, 3]}}`, CodeBadValue, "malformed mod, too many elements"},
		{`{"a": {"$mod": [0, 1]}}`, CodeBadValue, "divisor cannot be 0"},
		{`{"a": {"$mod": ["x", 1]}}`, CodeBadValue, "divisor value is invalid"},
		{`{"a": {"$mod": [{"$numberDouble": "NaN"}, 1]}}`, CodeBadValue, "divisor value is invalid"},
		{`{"a": {"$type": "nope"}}`, CodeBadValue, "Unknown type name alias: nope"},
		{`{"a": {"$type": 99}}`, CodeBadValue, "Invalid numerical type code"},
		{`{"a": {"$type": {}}}`, CodeBadValue, "type must be represented as a number or a string"},
		{`{"a": {"$not": 1}}`, CodeBadValue, "$not needs a regex or a document"},
		{`{"a": {"$not": {}}}`, CodeBadValue, "$not cannot be empty"},
		{`{"a": {"$not": {"b": 1}}}`, CodeBadValue, "unknown operator: b"},
		{`{"a": {"$elemMatch": 1}}`, CodeBadValue, "$elemMatch needs an Object"},
		{`{"a": {"$elemMatch": {"$foo": 1}}}`, CodeBadValue, "unknown operator: $foo"},
		{`{"a": {"$elemMatch": {"b": {"$foo": 1}}}}`, CodeBadValue, "unknown operator: $foo"},
		{`{"a": {"$regex": 1}}`, CodeBadValue, "$regex has to be a string"},
		{`{"a": {"$options": "i"}}`, CodeBadValue, "$options needs a $regex"},
		{`{"a": {"$regex": "x", "$options": "q"}}`, CodeBadValue, "invalid flag in regex options: q"},
		{`{"a": {"$regex": {"$regularExpression": {"pattern": "x", "options": "i"}}, "$options": "m"}}`, CodeBadValue, "options set in both $regex and $options"},
		{`{"a": {"$regex": "(?<=x)y"}}`, 51091, "Regular expression is invalid"},
		{`{"a": {"$ne": {"$regularExpression": {"pattern": "x", "options": ""}}}}`, CodeBadValue, "Can't have regex as arg to $ne."},
		{`{"$where": "true"}`, CodeBadValue, "$where is not supported"},
		{`{"a": {"$near": [0, 0]}}`, CodeBadValue, "$near is not supported"},
		{`{"a": {"$bitsAllSet": -1}}`, CodeBadValue, "non-negative"},
		{`{"a": {"$bitsAllSet": 1.5}}`, CodeBadValue, "takes an Array, a number, or a BinData"},
		{`{"a": {"$bitsAnySet": "x"}}`, CodeBadValue, "takes an Array, a number, or a BinData"},
		{`{"a": {"$bitsAnySet": [-1]}}`, CodeBadValue, "bit positions must be >= 0"},
		{`{"a": {"$bitsAnySet": ["x"]}}`, CodeBadValue, "bit positions must be an integer"},
		{`{"$alwaysTrue": 2}`, CodeBadValue, "$alwaysTrue must be an integer value of 1"},
		{`{"$or": [{"a": {"$bad": 1}}]}`, CodeBadValue, "unknown operator: $bad"},
		{`{"a": {"$elemMatch": {"$expr": {"$eq": ["$b", 1]}}}}`, CodeBadValue, "$expr can only be applied to the top-level document"},
		{`{"a": {"$elemMatch": {"$or": [{"$expr": true}]}}}`, CodeBadValue, "$expr can only be applied to the top-level document"},
	}
	for _, tt := range tests {
		_, err := NewMatcher(D(t, tt.filter))
		var me *Error
		if !errors.As(err, &me) {
			t.Errorf("NewMatcher(%s): error %v is not *Error", tt.filter, err)
			continue
		}
		if me.Code != tt.code || !strings.Contains(me.Message, tt.msg) {
			t.Errorf("NewMatcher(%s) = %d %q, want %d containing %q", tt.filter, me.Code, me.Message, tt.code, tt.msg)
		}
	}
}

func TestMatcherDepthLimit(t *testing.T) {
	f := bson.D{{Key: "a", Value: 1}}
	for i := 0; i < 200; i++ {
		f = bson.D{{Key: "$and", Value: bson.A{f}}}
	}
	if _, err := NewMatcher(f); err == nil {
		t.Fatal("a filter nested 200 levels deep compiled")
	}
	e := bson.D{{Key: "$gt", Value: 1}}
	for i := 0; i < 200; i++ {
		e = bson.D{{Key: "$not", Value: e}}
	}
	if _, err := NewMatcher(bson.D{{Key: "a", Value: e}}); err == nil {
		t.Fatal("a $not chain 200 levels deep compiled")
	}
}

func TestMatchGoNativeValues(t *testing.T) {
	// Filters built in Go code (bson.M, int) behave like decoded ones.
	m, err := NewMatcher(bson.D{{Key: "a", Value: bson.M{"$gt": 1}}, {Key: "b", Value: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Match(bson.D{{Key: "a", Value: int64(2)}, {Key: "b", Value: int32(3)}}) {
		t.Error("bson.M operator document with Go int did not match")
	}
	if m.Match(bson.D{{Key: "a", Value: int64(1)}, {Key: "b", Value: int32(3)}}) {
		t.Error("matched a = 1 against $gt: 1")
	}
}

func TestMatcherIsReusable(t *testing.T) {
	m, err := NewMatcher(D(t, `{"a.b": {"$in": [1, 2]}}`))
	if err != nil {
		t.Fatal(err)
	}
	docs := []bson.D{D(t, `{"a": {"b": 1}}`), D(t, `{"a": [{"b": 3}]}`), D(t, `{"a": [{"b": 3}, {"b": 2}]}`)}
	want := []bool{true, false, true}
	for round := 0; round < 3; round++ {
		for i, d := range docs {
			if got := m.Match(d); got != want[i] {
				t.Errorf("round %d doc %d: got %v", round, i, got)
			}
		}
	}
}

func TestValues(t *testing.T) {
	vals, missing := Values(D(t, `{"a": [{"b": 1}, {"b": [2, 3]}, {"c": 1}]}`), "a.b")
	want := bson.A{int32(1), int32(2), int32(3), bson.A{int32(2), int32(3)}}
	if Compare(bson.A(vals), want) != 0 || !missing {
		t.Errorf("Values = %v, %v; want %v, true", vals, missing, want)
	}
	vals, missing = Values(D(t, `{"a": {"b": 5}}`), "a.b")
	if len(vals) != 1 || vals[0] != int32(5) || missing {
		t.Errorf("Values = %v, %v", vals, missing)
	}
	if vals, missing = Values(D(t, `{"a": [1, 2]}`), "a.b"); len(vals) != 0 || !missing {
		t.Errorf("Values over scalars = %v, %v", vals, missing)
	}
}

func TestLookup(t *testing.T) {
	doc := D(t, `{"a": {"b": [10, {"c": "x"}]}, "n": null, "0": "zero"}`)
	tests := []struct {
		path string
		want any
		ok   bool
	}{
		{"a.b.0", int32(10), true},
		{"a.b.1.c", "x", true},
		{"a.b.2", nil, false},
		{"a.b.c", nil, false}, // no implicit traversal
		{"a.x", nil, false},
		{"n", nil, true},
		{"n.x", nil, false},
		{"0", "zero", true},
		{"a.b.01", nil, false},
		{"a.b.-1", nil, false},
		{"", nil, false},
	}
	for _, tt := range tests {
		got, ok := Lookup(doc, tt.path)
		if ok != tt.ok || (ok && !Equal(got, tt.want)) {
			t.Errorf("Lookup(%q) = %v, %v; want %v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
	if v, ok := Lookup(doc, "a"); !ok || TypeNumber(v) != TypeObject {
		t.Errorf("Lookup(a) = %v, %v", v, ok)
	}
}

func TestMatchExpr(t *testing.T) {
	runMatchCases(t, []matchCase{
		{`{"$expr": {"$eq": ["$a", 1]}}`, `{"a": 1}`, true},
		{`{"$expr": {"$eq": ["$a", 1]}}`, `{"a": 2}`, false},
		{`{"$expr": {"$eq": ["$a", "$b"]}, "c": 1}`, `{"a": 2, "b": 2, "c": 1}`, true},
		{`{"$or": [{"$expr": {"$eq": ["$a", 5]}}, {"b": 1}]}`, `{"a": 5}`, true},
	})
	if _, err := NewMatcher(D(t, `{"$expr": {"$noSuchOperator": 1}}`)); err == nil {
		t.Error("an unknown expression operator compiled")
	}
	m, err := NewMatcher(D(t, `{"$expr": {"$eq": ["$a", 1]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := m.MatchErr(D(t, `{"a": 1}`)); !ok || err != nil {
		t.Errorf("MatchErr = %v, %v", ok, err)
	}
}

func TestMatcherConcurrent(t *testing.T) {
	// One compiled matcher is shared by every cursor and change stream.
	m, err := NewMatcher(D(t, `{"a.b": {"$elemMatch": {"$gt": 1}}, "c": {"$regex": "^x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	yes, no := D(t, `{"a": [{"b": [0, 2]}], "c": "xy"}`), D(t, `{"a": [{"b": [0]}], "c": "xy"}`)
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 500; i++ {
				if !m.Match(yes) || m.Match(no) {
					done <- errors.New("wrong result under concurrency")
					return
				}
				if ok, idx, has := m.MatchArrayIndex(yes); !ok || !has || idx != 0 {
					done <- errors.New("wrong array index under concurrency")
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
