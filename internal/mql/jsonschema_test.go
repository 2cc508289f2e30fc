package mql

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestJSONSchemaKeywords(t *testing.T) {
	cases := []struct {
		schema, doc string
		want        bool
	}{
		{`{"bsonType": "object", "required": ["a"]}`, `{"a": 1}`, true},
		{`{"required": ["a", "b"]}`, `{"a": 1}`, false},
		{`{"properties": {"a": {"bsonType": "string"}}}`, `{"a": 1}`, false},
		{`{"properties": {"a": {"bsonType": "string"}}}`, `{"b": 1}`, true},
		{`{"properties": {"a": {"bsonType": ["int", "string"]}}}`, `{"a": 1}`, true},
		{`{"properties": {"a": {"bsonType": "number"}}}`, `{"a": 1.5}`, true},
		{`{"properties": {"a": {"type": "number", "minimum": 2}}}`, `{"a": 1}`, false},
		{`{"properties": {"a": {"minimum": 1, "exclusiveMinimum": true}}}`, `{"a": 1}`, false},
		{`{"properties": {"a": {"maximum": 1, "exclusiveMaximum": true}}}`, `{"a": 0}`, true},
		{`{"properties": {"a": {"minimum": 5}}}`, `{"a": "x"}`, true},
		{`{"properties": {"a": {"multipleOf": 3}}}`, `{"a": 9}`, true},
		{`{"properties": {"a": {"multipleOf": 3}}}`, `{"a": 10}`, false},
		{`{"properties": {"s": {"minLength": 2, "maxLength": 3}}}`, `{"s": "héé"}`, true},
		{`{"properties": {"s": {"maxLength": 2}}}`, `{"s": "héé"}`, false},
		{`{"properties": {"s": {"pattern": "^a+$"}}}`, `{"s": "aab"}`, false},
		{`{"properties": {"e": {"enum": [1, "x"]}}}`, `{"e": "x"}`, true},
		{`{"properties": {"e": {"enum": [1, "x"]}}}`, `{"e": 2}`, false},
		{`{"additionalProperties": false, "properties": {"_id": {}, "a": {}}}`, `{"_id": 1, "a": 1}`, true},
		{`{"additionalProperties": false, "properties": {"a": {}}}`, `{"a": 1, "b": 2}`, false},
		{`{"additionalProperties": {"bsonType": "int"}, "patternProperties": {"^s": {"bsonType": "string"}}}`, `{"sx": "y", "n": 1}`, true},
		{`{"patternProperties": {"^s": {"bsonType": "string"}}}`, `{"sx": 1}`, false},
		{`{"minProperties": 2}`, `{"a": 1}`, false},
		{`{"maxProperties": 1}`, `{"a": 1}`, true},
		{`{"properties": {"l": {"items": {"bsonType": "int"}, "minItems": 1, "uniqueItems": true}}}`, `{"l": [1, 2]}`, true},
		{`{"properties": {"l": {"uniqueItems": true}}}`, `{"l": [1, 1.0]}`, false},
		{`{"properties": {"l": {"maxItems": 1}}}`, `{"l": [1, 2]}`, false},
		{`{"properties": {"l": {"items": [{"bsonType": "int"}], "additionalItems": false}}}`, `{"l": [1, 2]}`, false},
		{`{"properties": {"l": {"items": [{"bsonType": "int"}], "additionalItems": {"bsonType": "string"}}}}`, `{"l": [1, "x"]}`, true},
		{`{"dependencies": {"a": ["b"]}}`, `{"a": 1}`, false},
		{`{"dependencies": {"a": {"required": ["c"]}}}`, `{"a": 1, "c": 2}`, true},
		{`{"allOf": [{"required": ["a"]}, {"required": ["b"]}]}`, `{"a": 1}`, false},
		{`{"anyOf": [{"required": ["a"]}, {"required": ["b"]}]}`, `{"b": 1}`, true},
		{`{"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}`, `{"a": 1, "b": 1}`, false},
		{`{"not": {"required": ["a"]}}`, `{"b": 1}`, true},
		{`{"title": "t", "description": "d", "properties": {"o": {"type": "object", "required": ["x"]}}}`, `{"o": {"y": 1}}`, false},
		{`{"properties": {"b": {"type": "boolean"}}}`, `{"b": true}`, true},
	}
	for _, tc := range cases {
		var schema, doc bson.D
		if err := bson.UnmarshalExtJSON([]byte(tc.schema), false, &schema); err != nil {
			t.Fatal(err)
		}
		if err := bson.UnmarshalExtJSON([]byte(tc.doc), false, &doc); err != nil {
			t.Fatal(err)
		}
		m, err := NewMatcher(bson.D{{Key: "$jsonSchema", Value: schema}})
		if err != nil {
			t.Fatalf("%s: %v", tc.schema, err)
		}
		if got := m.Match(doc); got != tc.want {
			t.Errorf("schema %s on %s: %v, want %v", tc.schema, tc.doc, got, tc.want)
		}
	}
}

func TestJSONSchemaErrors(t *testing.T) {
	for _, tc := range []struct {
		schema string
		code   int32
	}{
		{`{"bogus": 1}`, CodeFailedToParse},
		{`{"format": "email"}`, CodeFailedToParse},
		{`{"properties": {"a": {"nope": 1}}}`, CodeFailedToParse},
		{`{"type": "integer"}`, CodeFailedToParse},
		{`{"bsonType": "float"}`, CodeFailedToParse},
		{`{"exclusiveMinimum": true}`, CodeFailedToParse},
		{`{"required": "a"}`, CodeFailedToParse},
		{`{"minimum": "a"}`, CodeTypeMismatch},
		{`{"title": 1}`, CodeTypeMismatch},
	} {
		var schema bson.D
		if err := bson.UnmarshalExtJSON([]byte(tc.schema), false, &schema); err != nil {
			t.Fatal(err)
		}
		_, err := NewMatcher(bson.D{{Key: "$jsonSchema", Value: schema}})
		if e, ok := err.(*Error); !ok || e.Code != tc.code {
			t.Errorf("%s: %v, want code %d", tc.schema, err, tc.code)
		}
	}
}

func TestValidationDetails(t *testing.T) {
	schema := bson.D{{Key: "$jsonSchema", Value: bson.D{
		{Key: "required", Value: bson.A{"a", "b"}},
		{Key: "properties", Value: bson.D{{Key: "a", Value: bson.D{{Key: "bsonType", Value: "string"}}}}},
	}}}
	d := ValidationDetails(schema, bson.D{{Key: "a", Value: int32(1)}})
	if d[0].Value != "$jsonSchema" {
		t.Fatalf("details = %v", d)
	}
	rules, _ := d[1].Value.(bson.A)
	if len(rules) != 2 {
		t.Fatalf("want the required and properties rules, got %v", rules)
	}
	q := ValidationDetails(bson.D{{Key: "x", Value: bson.D{{Key: "$gt", Value: 1}}}}, bson.D{{Key: "x", Value: 0}})
	if q[0].Value != "$and" || len(q[1].Value.(bson.A)) != 1 {
		t.Fatalf("query validator details = %v", q)
	}
}

func TestRandAndSampleRate(t *testing.T) {
	e, err := NewExpr(bson.D{{Key: "$rand", Value: bson.D{}}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[float64]bool{}
	for range 100 {
		v, err := e.Eval(nil, nil)
		f, ok := v.(float64)
		if err != nil || !ok || f < 0 || f >= 1 {
			t.Fatalf("$rand = %v, %v", v, err)
		}
		seen[f] = true
	}
	if len(seen) < 90 {
		t.Fatalf("$rand gave only %d distinct values in 100", len(seen))
	}
	if _, err := NewExpr(bson.D{{Key: "$rand", Value: 1}}); err == nil {
		t.Fatal("$rand: 1 accepted")
	}
	for _, tc := range []struct {
		rate     any
		min, max int
	}{{0.0, 0, 0}, {1, 1000, 1000}, {0.5, 350, 650}} {
		m, err := NewMatcher(bson.D{{Key: "$sampleRate", Value: tc.rate}})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for range 1000 {
			if m.Match(bson.D{}) {
				n++
			}
		}
		if n < tc.min || n > tc.max {
			t.Errorf("$sampleRate %v matched %d of 1000", tc.rate, n)
		}
	}
	for _, bad := range []any{1.5, -0.1, "x"} {
		if _, err := NewMatcher(bson.D{{Key: "$sampleRate", Value: bad}}); err == nil {
			t.Errorf("$sampleRate %v accepted", bad)
		}
	}
}
