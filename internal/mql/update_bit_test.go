package mql

import "testing"

// $bit, as MongoDB's BitNode: operations in order, int64 when either
// operand is, a missing field starts as int32 0, non-integers refused.
func TestUpdateBit(t *testing.T) {
	runUpdateCases(t, []updateCase{
		{name: "and", doc: `{"_id":1,"a":13}`, update: `{"$bit":{"a":{"and":10}}}`, want: `{"_id":1,"a":8}`, updated: `{"a":8}`},
		{name: "or", doc: `{"_id":1,"a":13}`, update: `{"$bit":{"a":{"or":2}}}`, want: `{"_id":1,"a":15}`, updated: `{"a":15}`},
		{name: "xor", doc: `{"_id":1,"a":13}`, update: `{"$bit":{"a":{"xor":5}}}`, want: `{"_id":1,"a":8}`, updated: `{"a":8}`},
		{name: "in order", doc: `{"_id":1,"a":12}`, update: `{"$bit":{"a":{"or":1,"and":5}}}`, want: `{"_id":1,"a":5}`, updated: `{"a":5}`},
		{name: "int64 operand widens", doc: `{"_id":1,"a":1}`, update: `{"$bit":{"a":{"or":{"$numberLong":"4"}}}}`, want: `{"_id":1,"a":{"$numberLong":"5"}}`, updated: `{"a":{"$numberLong":"5"}}`},
		{name: "missing starts at int32 0", doc: `{"_id":1}`, update: `{"$bit":{"b.c":{"or":6}}}`, want: `{"_id":1,"b":{"c":6}}`, updated: `{"b":{"c":6}}`},
		{name: "no change is a no-op", doc: `{"_id":1,"a":7}`, update: `{"$bit":{"a":{"and":7}}}`, want: `{"_id":1,"a":7}`},
		{name: "array element", doc: `{"_id":1,"a":[1,2]}`, update: `{"$bit":{"a.1":{"or":1}}}`, want: `{"_id":1,"a":[1,3]}`, updated: `{"a.1":3}`},
		{name: "double field", doc: `{"_id":1,"a":1.5}`, update: `{"$bit":{"a":{"and":1}}}`, code: 2},
		{name: "double operand", doc: `{"_id":1,"a":1}`, update: `{"$bit":{"a":{"and":1.5}}}`, code: 2},
		{name: "unknown operation", doc: `{"_id":1,"a":1}`, update: `{"$bit":{"a":{"nand":1}}}`, code: 2},
		{name: "no operation", doc: `{"_id":1,"a":1}`, update: `{"$bit":{"a":{}}}`, code: 2},
		{name: "not a document", doc: `{"_id":1,"a":1}`, update: `{"$bit":{"a":1}}`, code: 2},
	})
}
