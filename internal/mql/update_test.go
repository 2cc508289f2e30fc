package mql

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

type updateCase struct {
	name    string
	doc     string
	update  string
	filters string // JSON array of array filters
	ctx     ApplyContext
	want    string // resulting document; "" when an error is expected
	updated string // updatedFields as a JSON document; "" means {}
	removed []string
	trunc   []TruncatedArray
	// replaced: the server would log a replacement (a "replace" change
	// event) for this pipeline update.
	replaced bool
	code     int32 // expected error code from NewUpdate or Apply
}

var testNow = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func runUpdateCases(t *testing.T, cases []updateCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts UpdateOptions
			if tc.filters != "" {
				for _, f := range uj(t, tc.filters).(bson.A) {
					opts.ArrayFilters = append(opts.ArrayFilters, f.(bson.D))
				}
			}
			u, err := NewUpdate(uj(t, tc.update), opts)
			if err == nil {
				ctx := tc.ctx
				if ctx.Now.IsZero() {
					ctx.Now = testNow
				}
				doc := ujd(t, tc.doc)
				before := uCloneD(doc)
				var got bson.D
				var desc *UpdateDescription
				got, desc, err = u.Apply(doc, ctx)
				if !uIdentical(doc, before) {
					t.Fatalf("Apply modified its input: %s", ujs(doc))
				}
				if err == nil {
					if tc.code != 0 {
						t.Fatalf("want error code %d, got %s", tc.code, ujs(got))
					}
					if want := ujd(t, tc.want); !uIdentical(got, want) {
						t.Fatalf("document:\n got %s\nwant %s", ujs(got), ujs(want))
					}
					checkDesc(t, desc, tc.updated, tc.removed, tc.trunc)
					if desc.Replaced != tc.replaced {
						t.Errorf("Replaced = %v, want %v", desc.Replaced, tc.replaced)
					}
					return
				}
			}
			if tc.code == 0 {
				t.Fatalf("unexpected error: %v", err)
			}
			wantCode(t, err, tc.code)
		})
	}
}

func checkDesc(t *testing.T, desc *UpdateDescription, updated string, removed []string, trunc []TruncatedArray) {
	t.Helper()
	if updated == "" {
		updated = "{}"
	}
	gotUpd := bson.D{}
	for _, f := range desc.UpdatedFields {
		gotUpd = append(gotUpd, bson.E{Key: f.Path, Value: f.Value})
	}
	if want := ujd(t, updated); !uIdentical(gotUpd, want) {
		t.Errorf("updatedFields:\n got %s\nwant %s", ujs(gotUpd), ujs(want))
	}
	if strings.Join(desc.RemovedFields, ",") != strings.Join(removed, ",") {
		t.Errorf("removedFields: got %q want %q", desc.RemovedFields, removed)
	}
	if len(desc.TruncatedArrays) != len(trunc) {
		t.Fatalf("truncatedArrays: got %v want %v", desc.TruncatedArrays, trunc)
	}
	for i := range trunc {
		if desc.TruncatedArrays[i] != trunc[i] {
			t.Errorf("truncatedArrays: got %v want %v", desc.TruncatedArrays, trunc)
		}
	}
}

func TestUpdateSetUnset(t *testing.T) {
	runUpdateCases(t, []updateCase{
		{name: "set existing keeps position", doc: `{"_id":1,"a":1,"b":2}`, update: `{"$set":{"a":5}}`,
			want: `{"_id":1,"a":5,"b":2}`, updated: `{"a":5}`},
		{name: "set same value is a no-op", doc: `{"_id":1,"a":1}`, update: `{"$set":{"a":1}}`,
			want: `{"_id":1,"a":1}`},
		{name: "set same number of another type is a change", doc: `{"_id":1,"a":1}`, update: `{"$set":{"a":1.0}}`,
			want: `{"_id":1,"a":1.0}`, updated: `{"a":1.0}`},
		{name: "new fields appended in lexicographic order", doc: `{"_id":1}`, update: `{"$set":{"z":1,"b":2,"a":3}}`,
			want: `{"_id":1,"a":3,"b":2,"z":1}`, updated: `{"a":3,"b":2,"z":1}`},
		{name: "numeric field names ordered numerically", doc: `{"_id":1}`, update: `{"$set":{"10":1,"9":2}}`,
			want: `{"_id":1,"9":2,"10":1}`, updated: `{"9":2,"10":1}`},
		{name: "dotted set into existing subdocument", doc: `{"_id":1,"a":{"b":1,"c":2}}`, update: `{"$set":{"a.b":3}}`,
			want: `{"_id":1,"a":{"b":3,"c":2}}`, updated: `{"a.b":3}`},
		{name: "dotted set creates parents, reported at first created", doc: `{"_id":1}`, update: `{"$set":{"a.b.c":1}}`,
			want: `{"_id":1,"a":{"b":{"c":1}}}`, updated: `{"a":{"b":{"c":1}}}`},
		{name: "two created siblings reported once", doc: `{"_id":1}`, update: `{"$set":{"a.x":1,"a.y":2}}`,
			want: `{"_id":1,"a":{"x":1,"y":2}}`, updated: `{"a":{"x":1,"y":2}}`},
		{name: "numeric segment on missing field creates a document", doc: `{"_id":1}`, update: `{"$set":{"a.0":1}}`,
			want: `{"_id":1,"a":{"0":1}}`, updated: `{"a":{"0":1}}`},
		{name: "set array element by index", doc: `{"_id":1,"a":[1,2,3]}`, update: `{"$set":{"a.1":9}}`,
			want: `{"_id":1,"a":[1,9,3]}`, updated: `{"a.1":9}`},
		{name: "set past the end pads with null", doc: `{"_id":1,"a":[1]}`, update: `{"$set":{"a.3":4}}`,
			want: `{"_id":1,"a":[1,null,null,4]}`, updated: `{"a.3":4}`},
		{name: "set field of array element", doc: `{"_id":1,"a":[{"b":1},{"b":2}]}`, update: `{"$set":{"a.1.b":5}}`,
			want: `{"_id":1,"a":[{"b":1},{"b":5}]}`, updated: `{"a.1.b":5}`},
		{name: "set through a scalar fails", doc: `{"_id":1,"a":1}`, update: `{"$set":{"a.b":1}}`, code: 28},
		{name: "non-numeric field of array fails", doc: `{"_id":1,"a":[1]}`, update: `{"$set":{"a.b":1}}`, code: 28},
		{name: "unset removes", doc: `{"_id":1,"a":1,"b":2}`, update: `{"$unset":{"a":""}}`,
			want: `{"_id":1,"b":2}`, removed: []string{"a"}},
		{name: "unset missing is a no-op", doc: `{"_id":1}`, update: `{"$unset":{"a":1,"x.y":1}}`, want: `{"_id":1}`},
		{name: "unset nested", doc: `{"_id":1,"a":{"b":1,"c":1}}`, update: `{"$unset":{"a.b":1}}`,
			want: `{"_id":1,"a":{"c":1}}`, removed: []string{"a.b"}},
		{name: "unset array element sets null", doc: `{"_id":1,"a":[1,2]}`, update: `{"$unset":{"a.0":1}}`,
			want: `{"_id":1,"a":[null,2]}`, updated: `{"a.0":null}`},
		{name: "unset through scalar is a no-op", doc: `{"_id":1,"a":1}`, update: `{"$unset":{"a.b":1}}`, want: `{"_id":1,"a":1}`},
		{name: "set _id to same value allowed", doc: `{"_id":1,"a":1}`, update: `{"$set":{"_id":1,"a":2}}`,
			want: `{"_id":1,"a":2}`, updated: `{"a":2}`},
		{name: "set _id to other value fails", doc: `{"_id":1}`, update: `{"$set":{"_id":2}}`, code: 66},
		{name: "unset _id fails", doc: `{"_id":1}`, update: `{"$unset":{"_id":1}}`, code: 66},
		{name: "set _id subfield fails", doc: `{"_id":{"a":1}}`, update: `{"$set":{"_id.a":2}}`, code: 66},
		{name: "set empty operand is a no-op", doc: `{"_id":1}`, update: `{"$set":{}}`, want: `{"_id":1}`},
		{name: "set document value replaces whole", doc: `{"_id":1,"a":{"b":1}}`, update: `{"$set":{"a":{"c":2}}}`,
			want: `{"_id":1,"a":{"c":2}}`, updated: `{"a":{"c":2}}`},
	})
}

func TestUpdateParseErrors(t *testing.T) {
	runUpdateCases(t, []updateCase{
		{name: "unknown modifier", doc: `{}`, update: `{"$foo":{"a":1}}`, code: 9},
		{name: "mixed operator and field", doc: `{}`, update: `{"$set":{"a":1},"b":1}`, code: 9},
		{name: "operator argument not a document", doc: `{}`, update: `{"$set":1}`, code: 9},
		{name: "same path twice", doc: `{}`, update: `{"$set":{"a":1},"$inc":{"a":1}}`, code: 40},
		{name: "prefix conflict", doc: `{}`, update: `{"$set":{"a":1},"$unset":{"a.b":1}}`, code: 40},
		{name: "rename conflicts with set", doc: `{}`, update: `{"$rename":{"a":"b"},"$set":{"b":1}}`, code: 40},
		{name: "empty path", doc: `{}`, update: `{"$set":{"":1}}`, code: 56},
		{name: "empty segment", doc: `{}`, update: `{"$set":{"a..b":1}}`, code: 56},
		{name: "dollar field", doc: `{}`, update: `{"$set":{"$x":1}}`, code: 52},
		{name: "inc with string", doc: `{}`, update: `{"$inc":{"a":"x"}}`, code: 14},
		{name: "mul with string", doc: `{}`, update: `{"$mul":{"a":"x"}}`, code: 14},
		{name: "replacement with dollar field", doc: `{}`, update: `{"a":1,"$set":{"b":1}}`, code: 52},
		{name: "pop with 2", doc: `{}`, update: `{"$pop":{"a":2}}`, code: 9},
		{name: "pullAll not array", doc: `{}`, update: `{"$pullAll":{"a":1}}`, code: 2},
		{name: "each not array", doc: `{}`, update: `{"$push":{"a":{"$each":1}}}`, code: 2},
		{name: "unknown push clause", doc: `{}`, update: `{"$push":{"a":{"$each":[1],"$foo":1}}}`, code: 2},
		{name: "slice not integer", doc: `{}`, update: `{"$push":{"a":{"$each":[1],"$slice":"x"}}}`, code: 2},
		{name: "bad push sort", doc: `{}`, update: `{"$push":{"a":{"$each":[1],"$sort":2}}}`, code: 2},
		{name: "rename to itself", doc: `{}`, update: `{"$rename":{"a":"a"}}`, code: 2},
		{name: "rename onto own child", doc: `{}`, update: `{"$rename":{"a":"a.b"}}`, code: 2},
		{name: "rename target not string", doc: `{}`, update: `{"$rename":{"a":1}}`, code: 2},
		{name: "currentDate bad type", doc: `{}`, update: `{"$currentDate":{"a":{"$type":"x"}}}`, code: 2},
		{name: "two positional", doc: `{}`, update: `{"$set":{"a.$.b.$":1}}`, code: 2},
		{name: "positional without query match", doc: `{"_id":1,"a":[1]}`, update: `{"$set":{"a.$":1}}`, code: 2},
		{name: "pipeline with match stage", doc: `{}`, update: `[{"$match":{}}]`, code: 72},
		{name: "pipeline with unknown stage", doc: `{}`, update: `[{"$foo":{}}]`, code: 40324},
		{name: "null update", doc: `{}`, update: `null`, code: 9},
	})
}

func TestUpdateArithmetic(t *testing.T) {
	runUpdateCases(t, []updateCase{
		{name: "inc int32", doc: `{"_id":1,"a":1}`, update: `{"$inc":{"a":2}}`, want: `{"_id":1,"a":3}`, updated: `{"a":3}`},
		{name: "inc missing sets", doc: `{"_id":1}`, update: `{"$inc":{"a":2}}`, want: `{"_id":1,"a":2}`, updated: `{"a":2}`},
		{name: "inc by zero is a no-op", doc: `{"_id":1,"a":1}`, update: `{"$inc":{"a":0}}`, want: `{"_id":1,"a":1}`},
		{name: "inc int32 overflow widens to long", doc: `{"_id":1,"a":2147483647}`, update: `{"$inc":{"a":1}}`,
			want: `{"_id":1,"a":{"$numberLong":"2147483648"}}`, updated: `{"a":{"$numberLong":"2147483648"}}`},
		{name: "inc long overflow fails", doc: `{"_id":1,"a":{"$numberLong":"9223372036854775807"}}`, update: `{"$inc":{"a":1}}`, code: 2},
		{name: "inc int by double gives double", doc: `{"_id":1,"a":1}`, update: `{"$inc":{"a":0.5}}`, want: `{"_id":1,"a":1.5}`, updated: `{"a":1.5}`},
		{name: "inc int by long gives long", doc: `{"_id":1,"a":1}`, update: `{"$inc":{"a":{"$numberLong":"1"}}}`,
			want: `{"_id":1,"a":{"$numberLong":"2"}}`, updated: `{"a":{"$numberLong":"2"}}`},
		{name: "inc decimal", doc: `{"_id":1,"a":{"$numberDecimal":"1.1"}}`, update: `{"$inc":{"a":1}}`,
			want: `{"_id":1,"a":{"$numberDecimal":"2.1"}}`, updated: `{"a":{"$numberDecimal":"2.1"}}`},
		{name: "inc non-number field", doc: `{"_id":1,"a":"x"}`, update: `{"$inc":{"a":1}}`, code: 14},
		{name: "mul", doc: `{"_id":1,"a":3}`, update: `{"$mul":{"a":4}}`, want: `{"_id":1,"a":12}`, updated: `{"a":12}`},
		{name: "mul missing sets zero of arg type", doc: `{"_id":1}`, update: `{"$mul":{"a":2.5}}`, want: `{"_id":1,"a":0.0}`, updated: `{"a":0.0}`},
		{name: "mul missing int", doc: `{"_id":1}`, update: `{"$mul":{"a":{"$numberLong":"5"}}}`, want: `{"_id":1,"a":{"$numberLong":"0"}}`, updated: `{"a":{"$numberLong":"0"}}`},
		{name: "mul non-number", doc: `{"_id":1,"a":[1]}`, update: `{"$mul":{"a":2}}`, code: 14},
		{name: "min lowers", doc: `{"_id":1,"a":5}`, update: `{"$min":{"a":3}}`, want: `{"_id":1,"a":3}`, updated: `{"a":3}`},
		{name: "min keeps", doc: `{"_id":1,"a":5}`, update: `{"$min":{"a":7}}`, want: `{"_id":1,"a":5}`},
		{name: "max raises", doc: `{"_id":1,"a":5}`, update: `{"$max":{"a":7}}`, want: `{"_id":1,"a":7}`, updated: `{"a":7}`},
		{name: "max missing sets", doc: `{"_id":1}`, update: `{"$max":{"a":7}}`, want: `{"_id":1,"a":7}`, updated: `{"a":7}`},
		{name: "max compares across types", doc: `{"_id":1,"a":5}`, update: `{"$max":{"a":"x"}}`, want: `{"_id":1,"a":"x"}`, updated: `{"a":"x"}`},
		{name: "min null is smaller than numbers", doc: `{"_id":1,"a":5}`, update: `{"$min":{"a":null}}`, want: `{"_id":1,"a":null}`, updated: `{"a":null}`},
	})
}

func TestUpdateRenameCurrentDateSetOnInsert(t *testing.T) {
	ts := bson.Timestamp{T: 100, I: 7}
	runUpdateCases(t, []updateCase{
		{name: "rename moves to end", doc: `{"_id":1,"a":1,"b":2}`, update: `{"$rename":{"a":"c"}}`,
			want: `{"_id":1,"b":2,"c":1}`, updated: `{"c":1}`, removed: []string{"a"}},
		{name: "rename over existing keeps target position", doc: `{"_id":1,"b":2,"a":1}`, update: `{"$rename":{"a":"b"}}`,
			want: `{"_id":1,"b":1}`, updated: `{"b":1}`, removed: []string{"a"}},
		{name: "rename missing source is a no-op", doc: `{"_id":1}`, update: `{"$rename":{"a":"b"}}`, want: `{"_id":1}`},
		{name: "rename into subdocument", doc: `{"_id":1,"a":1}`, update: `{"$rename":{"a":"x.y"}}`,
			want: `{"_id":1,"x":{"y":1}}`, updated: `{"x":{"y":1}}`, removed: []string{"a"}},
		{name: "rename from array element fails", doc: `{"_id":1,"a":[{"b":1}]}`, update: `{"$rename":{"a.0.b":"c"}}`, code: 2},
		{name: "currentDate true", doc: `{"_id":1}`, update: `{"$currentDate":{"d":true}}`,
			want: `{"_id":1,"d":{"$date":"2024-05-06T07:08:09Z"}}`, updated: `{"d":{"$date":"2024-05-06T07:08:09Z"}}`},
		{name: "currentDate type date", doc: `{"_id":1}`, update: `{"$currentDate":{"d":{"$type":"date"}}}`,
			want: `{"_id":1,"d":{"$date":"2024-05-06T07:08:09Z"}}`, updated: `{"d":{"$date":"2024-05-06T07:08:09Z"}}`},
		{name: "currentDate timestamp", doc: `{"_id":1}`, update: `{"$currentDate":{"t":{"$type":"timestamp"}}}`,
			ctx: ApplyContext{ClusterTime: ts}, want: `{"_id":1,"t":{"$timestamp":{"t":100,"i":7}}}`, updated: `{"t":{"$timestamp":{"t":100,"i":7}}}`},
		{name: "setOnInsert ignored on update", doc: `{"_id":1}`, update: `{"$setOnInsert":{"a":1}}`, want: `{"_id":1}`},
		{name: "setOnInsert on insert", doc: `{"_id":1}`, update: `{"$setOnInsert":{"a":1},"$set":{"b":2}}`,
			ctx: ApplyContext{Insert: true}, want: `{"_id":1,"a":1,"b":2}`, updated: `{"a":1,"b":2}`},
		{name: "insert may set _id and moves it first", doc: `{"x":1}`, update: `{"$set":{"_id":5}}`,
			ctx: ApplyContext{Insert: true}, want: `{"_id":5,"x":1}`, updated: `{"_id":5}`},
	})
}

func TestUpdateArrays(t *testing.T) {
	runUpdateCases(t, []updateCase{
		{name: "push appends, reported per element", doc: `{"_id":1,"a":[1,2,3]}`, update: `{"$push":{"a":4}}`,
			want: `{"_id":1,"a":[1,2,3,4]}`, updated: `{"a.3":4}`},
		{name: "push each appends several", doc: `{"_id":1,"a":[1]}`, update: `{"$push":{"a":{"$each":[2,3]}}}`,
			want: `{"_id":1,"a":[1,2,3]}`, updated: `{"a.1":2,"a.2":3}`},
		{name: "push to missing creates", doc: `{"_id":1}`, update: `{"$push":{"a":1}}`,
			want: `{"_id":1,"a":[1]}`, updated: `{"a":[1]}`},
		{name: "push to empty array reports array", doc: `{"_id":1,"a":[]}`, update: `{"$push":{"a":1}}`,
			want: `{"_id":1,"a":[1]}`, updated: `{"a":[1]}`},
		{name: "push document without each pushes it", doc: `{"_id":1,"a":[]}`, update: `{"$push":{"a":{"x":1}}}`,
			want: `{"_id":1,"a":[{"x":1}]}`, updated: `{"a":[{"x":1}]}`},
		{name: "push array value pushes one element", doc: `{"_id":1,"a":[1]}`, update: `{"$push":{"a":[2,3]}}`,
			want: `{"_id":1,"a":[1,[2,3]]}`, updated: `{"a.1":[2,3]}`},
		{name: "push position", doc: `{"_id":1,"a":[1,2]}`, update: `{"$push":{"a":{"$each":[9],"$position":0}}}`,
			want: `{"_id":1,"a":[9,1,2]}`, updated: `{"a":[9,1,2]}`},
		{name: "push negative position", doc: `{"_id":1,"a":[1,2,3]}`, update: `{"$push":{"a":{"$each":[9],"$position":-1}}}`,
			want: `{"_id":1,"a":[1,2,9,3]}`, updated: `{"a":[1,2,9,3]}`},
		{name: "push slice keeps first", doc: `{"_id":1,"a":[1,2]}`, update: `{"$push":{"a":{"$each":[3,4],"$slice":3}}}`,
			want: `{"_id":1,"a":[1,2,3]}`, updated: `{"a":[1,2,3]}`},
		{name: "push negative slice keeps last", doc: `{"_id":1,"a":[1,2]}`, update: `{"$push":{"a":{"$each":[3,4],"$slice":-2}}}`,
			want: `{"_id":1,"a":[3,4]}`, updated: `{"a":[3,4]}`},
		{name: "push slice zero empties", doc: `{"_id":1,"a":[1,2]}`, update: `{"$push":{"a":{"$each":[],"$slice":0}}}`,
			want: `{"_id":1,"a":[]}`, updated: `{"a":[]}`},
		{name: "push sort whole elements desc", doc: `{"_id":1,"a":[3,1]}`, update: `{"$push":{"a":{"$each":[2],"$sort":-1}}}`,
			want: `{"_id":1,"a":[3,2,1]}`, updated: `{"a":[3,2,1]}`},
		{name: "push sort by field then slice", doc: `{"_id":1,"a":[{"s":5},{"s":1}]}`,
			update: `{"$push":{"a":{"$each":[{"s":3}],"$sort":{"s":1},"$slice":2}}}`,
			want:   `{"_id":1,"a":[{"s":1},{"s":3}]}`, updated: `{"a":[{"s":1},{"s":3}]}`},
		{name: "push empty each is a no-op", doc: `{"_id":1,"a":[1]}`, update: `{"$push":{"a":{"$each":[]}}}`, want: `{"_id":1,"a":[1]}`},
		{name: "push onto non-array", doc: `{"_id":1,"a":1}`, update: `{"$push":{"a":1}}`, code: 2},
		{name: "addToSet adds new", doc: `{"_id":1,"a":[1,2]}`, update: `{"$addToSet":{"a":3}}`,
			want: `{"_id":1,"a":[1,2,3]}`, updated: `{"a":[1,2,3]}`},
		{name: "addToSet existing is a no-op", doc: `{"_id":1,"a":[1,2]}`, update: `{"$addToSet":{"a":2}}`, want: `{"_id":1,"a":[1,2]}`},
		{name: "addToSet each dedupes", doc: `{"_id":1,"a":[1]}`, update: `{"$addToSet":{"a":{"$each":[1,2,2,3]}}}`,
			want: `{"_id":1,"a":[1,2,3]}`, updated: `{"a":[1,2,3]}`},
		{name: "addToSet missing creates", doc: `{"_id":1}`, update: `{"$addToSet":{"a":{"$each":[1,1]}}}`,
			want: `{"_id":1,"a":[1]}`, updated: `{"a":[1]}`},
		{name: "addToSet non-array", doc: `{"_id":1,"a":1}`, update: `{"$addToSet":{"a":1}}`, code: 2},
		{name: "pull value", doc: `{"_id":1,"a":[1,2,1,3]}`, update: `{"$pull":{"a":1}}`,
			want: `{"_id":1,"a":[2,3]}`, updated: `{"a":[2,3]}`},
		{name: "pull condition", doc: `{"_id":1,"a":[1,5,6,9]}`, update: `{"$pull":{"a":{"$gte":6}}}`,
			want: `{"_id":1,"a":[1,5]}`, updated: `{"a":[1,5]}`},
		{name: "pull document query matches subset of fields", doc: `{"_id":1,"a":[{"x":1,"y":2},{"x":2}]}`, update: `{"$pull":{"a":{"x":1}}}`,
			want: `{"_id":1,"a":[{"x":2}]}`, updated: `{"a":[{"x":2}]}`},
		{name: "pull nothing matches is a no-op", doc: `{"_id":1,"a":[1]}`, update: `{"$pull":{"a":7}}`, want: `{"_id":1,"a":[1]}`},
		{name: "pull missing is a no-op", doc: `{"_id":1}`, update: `{"$pull":{"a":7}}`, want: `{"_id":1}`},
		{name: "pull non-array", doc: `{"_id":1,"a":1}`, update: `{"$pull":{"a":1}}`, code: 2},
		{name: "pullAll", doc: `{"_id":1,"a":[1,2,3,1]}`, update: `{"$pullAll":{"a":[1,3]}}`,
			want: `{"_id":1,"a":[2]}`, updated: `{"a":[2]}`},
		{name: "pop last", doc: `{"_id":1,"a":[1,2,3]}`, update: `{"$pop":{"a":1}}`, want: `{"_id":1,"a":[1,2]}`, updated: `{"a":[1,2]}`},
		{name: "pop first", doc: `{"_id":1,"a":[1,2,3]}`, update: `{"$pop":{"a":-1}}`, want: `{"_id":1,"a":[2,3]}`, updated: `{"a":[2,3]}`},
		{name: "pop empty is a no-op", doc: `{"_id":1,"a":[]}`, update: `{"$pop":{"a":1}}`, want: `{"_id":1,"a":[]}`},
		{name: "pop non-array", doc: `{"_id":1,"a":1}`, update: `{"$pop":{"a":1}}`, code: 14},
	})
}

func TestUpdatePositional(t *testing.T) {
	runUpdateCases(t, []updateCase{
		{name: "positional", doc: `{"_id":1,"a":[1,2,3]}`, update: `{"$set":{"a.$":9}}`,
			ctx: ApplyContext{HasPositional: true, PositionalIndex: 1}, want: `{"_id":1,"a":[1,9,3]}`, updated: `{"a.1":9}`},
		{name: "positional subfield", doc: `{"_id":1,"a":[{"b":1},{"b":2}]}`, update: `{"$inc":{"a.$.b":10}}`,
			ctx: ApplyContext{HasPositional: true, PositionalIndex: 1}, want: `{"_id":1,"a":[{"b":1},{"b":12}]}`, updated: `{"a.1.b":12}`},
		{name: "all positional", doc: `{"_id":1,"a":[1,2,3]}`, update: `{"$inc":{"a.$[]":1}}`,
			want: `{"_id":1,"a":[2,3,4]}`, updated: `{"a.0":2,"a.1":3,"a.2":4}`},
		{name: "all positional nested", doc: `{"_id":1,"a":[{"b":[1,2]},{"b":[3]}]}`, update: `{"$set":{"a.$[].b.$[]":0}}`,
			want: `{"_id":1,"a":[{"b":[0,0]},{"b":[0]}]}`, updated: `{"a.0.b.0":0,"a.0.b.1":0,"a.1.b.0":0}`},
		{name: "all positional on missing fails", doc: `{"_id":1}`, update: `{"$set":{"a.$[]":1}}`, code: 2},
		{name: "all positional on scalar fails", doc: `{"_id":1,"a":1}`, update: `{"$set":{"a.$[]":1}}`, code: 2},
		{name: "filtered", doc: `{"_id":1,"a":[1,5,8]}`, update: `{"$set":{"a.$[x]":0}}`, filters: `[{"x":{"$gte":5}}]`,
			want: `{"_id":1,"a":[1,0,0]}`, updated: `{"a.1":0,"a.2":0}`},
		{name: "filtered by subfield (spec updateOne-arrayFilters)", doc: `{"_id":1,"y":[{"b":3},{"b":1}]}`,
			update: `{"$set":{"y.$[i].b":2}}`, filters: `[{"i.b":3}]`,
			want: `{"_id":1,"y":[{"b":2},{"b":1}]}`, updated: `{"y.0.b":2}`},
		{name: "filtered matches nothing is a no-op", doc: `{"_id":1,"y":[{"b":3},{"b":1}]}`,
			update: `{"$set":{"y.$[i].b":2}}`, filters: `[{"i.b":4}]`, want: `{"_id":1,"y":[{"b":3},{"b":1}]}`},
		{name: "two nested filters (spec)", doc: `{"_id":1,"y":[{"b":5,"c":[{"d":2},{"d":1}]}]}`,
			update: `{"$set":{"y.$[i].c.$[j].d":0}}`, filters: `[{"i.b":5},{"j.d":1}]`,
			want: `{"_id":1,"y":[{"b":5,"c":[{"d":2},{"d":0}]}]}`, updated: `{"y.0.c.1.d":0}`},
		{name: "undefined identifier", doc: `{"_id":1,"a":[1]}`, update: `{"$set":{"a.$[x]":0}}`, code: 2},
		{name: "unused filter", doc: `{"_id":1,"a":[1]}`, update: `{"$set":{"a.0":0}}`, filters: `[{"x":1}]`, code: 9},
		{name: "duplicate filter identifier", doc: `{"_id":1,"a":[1]}`, update: `{"$set":{"a.$[x]":0}}`, filters: `[{"x":1},{"x":2}]`, code: 9},
		{name: "bad identifier", doc: `{"_id":1,"a":[1]}`, update: `{"$set":{"a.$[X]":0}}`, filters: `[{"X":1}]`, code: 2},
		{name: "filter with two identifiers", doc: `{"_id":1,"a":[1]}`, update: `{"$set":{"a.$[x]":0}}`, filters: `[{"x":1,"y":2}]`, code: 9},
		{name: "dynamic conflict between all-positional and index", doc: `{"_id":1,"a":[1,2]}`,
			update: `{"$set":{"a.$[]":0,"a.0":5}}`, code: 40},
	})
}

func TestUpdateReplacementAndPipeline(t *testing.T) {
	// pad makes documents big enough that the server keeps a delta (an
	// update event) instead of logging a replacement.
	const pad = `"pad":"0123456789012345678901234567890123456789"`
	runUpdateCases(t, []updateCase{
		{name: "replacement keeps _id first", doc: `{"_id":1,"a":1}`, update: `{"b":2}`,
			want: `{"_id":1,"b":2}`, updated: `{"b":2}`, removed: []string{"a"}, replaced: true},
		{name: "replacement _id is moved first", doc: `{"_id":1,"a":1}`, update: `{"b":2,"_id":1}`,
			want: `{"_id":1,"b":2}`, updated: `{"b":2}`, removed: []string{"a"}, replaced: true},
		{name: "replacement _id compared across numeric types", doc: `{"_id":1,"a":1}`, update: `{"_id":1.0,"a":2}`,
			want: `{"_id":1.0,"a":2}`, updated: `{"_id":1.0,"a":2}`, replaced: true},
		{name: "replacement zero timestamp gets cluster time", doc: `{"_id":1}`, update: `{"t":{"$timestamp":{"t":0,"i":0}}}`,
			ctx:  ApplyContext{ClusterTime: bson.Timestamp{T: 9, I: 2}},
			want: `{"_id":1,"t":{"$timestamp":{"t":9,"i":2}}}`, updated: `{"t":{"$timestamp":{"t":9,"i":2}}}`, replaced: true},
		{name: "upsert replacement puts _id first", doc: `{"_id":7}`, update: `{"b":2,"_id":7}`, ctx: ApplyContext{Insert: true},
			want: `{"_id":7,"b":2}`, updated: `{"b":2}`, replaced: true},
		{name: "replacement changing _id fails", doc: `{"_id":1}`, update: `{"_id":2}`, code: 66},
		{name: "identical replacement is a no-op", doc: `{"_id":1,"a":1}`, update: `{"a":1}`, want: `{"_id":1,"a":1}`},
		{name: "empty replacement", doc: `{"_id":1,"a":1}`, update: `{}`, want: `{"_id":1}`, removed: []string{"a"}, replaced: true},
		{name: "pipeline array truncation (change-streams spec)", doc: `{"_id":1,"a":1,"array":["foo",{"a":"bar"},1,2,3]}`,
			update: `[{"$set":{"array":["foo",{"a":"bar"}]}}]`,
			want:   `{"_id":1,"a":1,"array":["foo",{"a":"bar"}]}`, trunc: []TruncatedArray{{Field: "array", NewSize: 2}}},
		{name: "pipeline set nested is diffed", doc: `{"_id":1,"a":{"b":1,"c":"0123456789012345678901234567890123456789"},` + pad + `}`,
			update: `[{"$set":{"a.b":5}}]`,
			want:   `{"_id":1,"a":{"b":5,"c":"0123456789012345678901234567890123456789"},` + pad + `}`, updated: `{"a.b":5}`},
		{name: "small sub-document is updated whole", doc: `{"_id":1,"a":{"b":1,"c":2},` + pad + `}`, update: `[{"$set":{"a.b":5}}]`,
			want: `{"_id":1,"a":{"b":5,"c":2},` + pad + `}`, updated: `{"a":{"b":5,"c":2}}`},
		{name: "small document is logged as a replacement", doc: `{"_id":1,"a":{"b":1,"c":2}}`, update: `[{"$set":{"a.b":5}}]`,
			want: `{"_id":1,"a":{"b":5,"c":2}}`, updated: `{"a":{"b":5,"c":2}}`, replaced: true},
		{name: "pipeline unset", doc: `{"_id":1,"a":1,"b":2,` + pad + `}`, update: `[{"$unset":"a"}]`,
			want: `{"_id":1,"b":2,` + pad + `}`, removed: []string{"a"}},
		{name: "pipeline expression uses fields", doc: `{"_id":1,"a":2,"b":3,` + pad + `}`, update: `[{"$set":{"c":{"$add":["$a","$b"]}}}]`,
			want: `{"_id":1,"a":2,"b":3,` + pad + `,"c":5}`, updated: `{"c":5}`},
		{name: "pipeline array grows", doc: `{"_id":1,"a":[1],` + pad + `}`, update: `[{"$set":{"a":{"$concatArrays":["$a",[2]]}}}]`,
			want: `{"_id":1,"a":[1,2],` + pad + `}`, updated: `{"a.1":2}`},
		{name: "pipeline replaceWith keeps _id", doc: `{"_id":1,"a":{"x":1}}`, update: `[{"$replaceWith":"$a"}]`,
			want: `{"_id":1,"x":1}`, updated: `{"x":1}`, removed: []string{"a"}, replaced: true},
		{name: "pipeline project", doc: `{"_id":1,"a":1,"b":2,` + pad + `}`, update: `[{"$project":{"b":1,"pad":1}}]`,
			want: `{"_id":1,"b":2,` + pad + `}`, removed: []string{"a"}},
		{name: "pipeline NOW", doc: `{"_id":1,` + pad + `}`, update: `[{"$set":{"t":"$$NOW"}}]`,
			want: `{"_id":1,` + pad + `,"t":{"$date":"2024-05-06T07:08:09Z"}}`, updated: `{"t":{"$date":"2024-05-06T07:08:09Z"}}`},
		{name: "pipeline changing _id fails", doc: `{"_id":1}`, update: `[{"$set":{"_id":2}}]`, code: 66},
		{name: "pipeline no-op", doc: `{"_id":1,"a":1}`, update: `[{"$set":{"a":1}}]`, want: `{"_id":1,"a":1}`},
		{name: "pipeline field order change is delete and insert", doc: `{"_id":1,` + pad + `,"a":1,"b":2}`,
			update: `[{"$replaceWith":{"_id":"$_id","pad":"$pad","b":"$b","a":"$a"}}]`, want: `{"_id":1,` + pad + `,"b":2,"a":1}`, updated: `{"a":1}`},
		{name: "pipeline deletes listed sorted before inserts", doc: `{"_id":1,` + pad + `,"z":1,"y":2,"x":3}`,
			update: `[{"$replaceWith":{"_id":"$_id","pad":"$pad","n":1}}]`, want: `{"_id":1,` + pad + `,"n":1}`,
			updated: `{"n":1}`, removed: []string{"x", "y", "z"}},
	})
}

func TestUpdateDescriptionEmpty(t *testing.T) {
	u, err := NewUpdate(ujd(t, `{"$set":{"a":1}}`), UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, desc, err := u.Apply(ujd(t, `{"_id":1,"a":1}`), ApplyContext{})
	if err != nil || !desc.Empty() {
		t.Fatalf("want empty description, got %+v, %v", desc, err)
	}
	if u.IsReplacement() {
		t.Fatal("operator update reported as replacement")
	}
	r, err := NewUpdate(ujd(t, `{"a":1}`), UpdateOptions{})
	if err != nil || !r.IsReplacement() {
		t.Fatalf("replacement not recognized: %v", err)
	}
}

func TestUpsertSeed(t *testing.T) {
	cases := []struct {
		filter, want string
		code         int32
	}{
		{`{"a":1}`, `{"a":1}`, 0},
		{`{"b":1,"_id":5}`, `{"_id":5,"b":1}`, 0},
		{`{"a.b":1,"a.c":2}`, `{"a":{"b":1,"c":2}}`, 0},
		{`{"a":{"$eq":3},"b":{"$gt":1}}`, `{"a":3}`, 0},
		{`{"$and":[{"a":1},{"b":{"$eq":2}}]}`, `{"a":1,"b":2}`, 0},
		{`{"$or":[{"a":1},{"b":1}],"c":{"$in":[7]},"d":{"$in":[1,2]}}`, `{"c":7}`, 0},
		{`{"$or":[{"a":1}]}`, `{"a":1}`, 0},
		{`{"a":{"$regex":"x"},"r":{"$regularExpression":{"pattern":"x","options":""}}}`, `{}`, 0},
		{`{"a":{"x":1}}`, `{"a":{"x":1}}`, 0},
		{`{"a":1,"$and":[{"a":2}]}`, ``, 54},
		{`{"a":1,"a.b":2}`, ``, 54},
	}
	for _, tc := range cases {
		got, err := UpsertSeed(ujd(t, tc.filter))
		if tc.code != 0 {
			wantCode(t, err, tc.code)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.filter, err)
		}
		if want := ujd(t, tc.want); !uIdentical(got, want) {
			t.Errorf("%s: got %s want %s", tc.filter, ujs(got), ujs(want))
		}
	}
}

// benchDoc1K builds a document of about 1 KiB of BSON.
func benchDoc1K() bson.D {
	d := bson.D{{Key: "_id", Value: bson.NewObjectID()}}
	for i := 0; i < 20; i++ {
		d = append(d, bson.E{Key: "field" + string(rune('a'+i)), Value: strings.Repeat("v", 30)})
	}
	d = append(d, bson.E{Key: "count", Value: int32(1)},
		bson.E{Key: "nested", Value: bson.D{{Key: "x", Value: int32(1)}, {Key: "tags", Value: bson.A{"a", "b", "c"}}}})
	return d
}

func BenchmarkUpdateSet(b *testing.B) {
	doc := benchDoc1K()
	if raw, err := bson.Marshal(doc); err != nil || len(raw) < 900 || len(raw) > 1200 {
		b.Fatalf("benchmark document is %d bytes (%v), want about 1 KiB", len(raw), err)
	}
	u, err := NewUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "count", Value: int32(2)}}}}, UpdateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := ApplyContext{Now: testNow}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, desc, err := u.Apply(doc, ctx)
		if err != nil || desc.Empty() {
			b.Fatal(err)
		}
	}
}

func TestUpdatePipelineLet(t *testing.T) {
	u, err := NewUpdate(uj(t, `[{"$set":{"v":"$$who"}}]`), UpdateOptions{Let: map[string]any{"who": "me"}})
	if err != nil {
		t.Fatal(err)
	}
	got, desc, err := u.Apply(ujd(t, `{"_id":1}`), ApplyContext{})
	if err != nil || !uIdentical(got, ujd(t, `{"_id":1,"v":"me"}`)) {
		t.Fatalf("got %s, %v", ujs(got), err)
	}
	checkDesc(t, desc, `{"v":"me"}`, nil, nil)
}

func TestUpdateLimits(t *testing.T) {
	runUpdateCases(t, []updateCase{
		{name: "explicit position at the end reports the array", doc: `{"_id":1,"a":[1,2]}`,
			update: `{"$push":{"a":{"$each":[3],"$position":2}}}`, want: `{"_id":1,"a":[1,2,3]}`, updated: `{"a":[1,2,3]}`},
		{name: "position past the end appends", doc: `{"_id":1,"a":[1,2]}`,
			update: `{"$push":{"a":{"$each":[3],"$position":9}}}`, want: `{"_id":1,"a":[1,2,3]}`, updated: `{"a.2":3}`},
		{name: "slice that removes nothing still appends", doc: `{"_id":1,"a":[1]}`,
			update: `{"$push":{"a":{"$each":[2],"$slice":{"$numberLong":"-9223372036854775808"}}}}`, want: `{"_id":1,"a":[1,2]}`, updated: `{"a.1":2}`},
		{name: "backfill limit", doc: `{"_id":1,"a":[]}`, update: `{"$set":{"a.1500001":1}}`, code: 34},
		{name: "backfill at the limit", doc: `{"_id":1,"a":[]}`, update: `{"$set":{"a.3":1}}`, want: `{"_id":1,"a":[null,null,null,1]}`, updated: `{"a.3":1}`},
		{name: "array id rejected", doc: `{"x":1}`, update: `{"$set":{"_id":[1]}}`, ctx: ApplyContext{Insert: true}, code: 53},
	})
}

// TestUpdateConcurrentApply shares one compiled Update between goroutines;
// run with -race it proves Apply does not write shared state.
func TestUpdateConcurrentApply(t *testing.T) {
	u, err := NewUpdate(uj(t, `{"$push":{"a":{"$each":[{"x":1}],"$sort":{"x":-1}}},"$set":{"d.e":[1,2]},"$inc":{"n":1}}`), UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	doc := ujd(t, `{"_id":1,"a":[{"x":2}],"n":1}`)
	want := ujd(t, `{"_id":1,"a":[{"x":2},{"x":1}],"n":2,"d":{"e":[1,2]}}`)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for range 200 {
				got, _, err := u.Apply(doc, ApplyContext{})
				if err == nil && !uIdentical(got, want) {
					err = fmt.Errorf("got %s", ujs(got))
				}
				if err != nil {
					errs <- err
					return
				}
				got[1].Value.(bson.A)[0].(bson.D)[0].Value = "mutated"
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestUpdateDocumentedExamples replays examples from the MongoDB manual's
// update operator pages.
func TestUpdateDocumentedExamples(t *testing.T) {
	runUpdateCases(t, []updateCase{
		{name: "pull $in and value from two arrays",
			doc:     `{"_id":1,"fruits":["apples","pears","oranges","grapes","bananas"],"vegetables":["carrots","celery","squash","carrots"]}`,
			update:  `{"$pull":{"fruits":{"$in":["apples","oranges"]},"vegetables":"carrots"}}`,
			want:    `{"_id":1,"fruits":["pears","grapes","bananas"],"vegetables":["celery","squash"]}`,
			updated: `{"fruits":["pears","grapes","bananas"],"vegetables":["celery","squash"]}`},
		{name: "pull gte", doc: `{"_id":1,"votes":[3,5,6,7,7,8]}`, update: `{"$pull":{"votes":{"$gte":6}}}`,
			want: `{"_id":1,"votes":[3,5]}`, updated: `{"votes":[3,5]}`},
		{name: "pull document condition", doc: `{"_id":1,"results":[{"item":"A","score":5},{"item":"B","score":8}]}`,
			update: `{"$pull":{"results":{"score":8,"item":"B"}}}`,
			want:   `{"_id":1,"results":[{"item":"A","score":5}]}`, updated: `{"results":[{"item":"A","score":5}]}`},
		{name: "pull with elemMatch on nested arrays",
			doc:     `{"_id":1,"results":[{"item":"A","score":5,"answers":[{"q":1,"a":4},{"q":2,"a":6}]},{"item":"B","score":8,"answers":[{"q":1,"a":8},{"q":2,"a":9}]}]}`,
			update:  `{"$pull":{"results":{"answers":{"$elemMatch":{"q":2,"a":{"$gte":8}}}}}}`,
			want:    `{"_id":1,"results":[{"item":"A","score":5,"answers":[{"q":1,"a":4},{"q":2,"a":6}]}]}`,
			updated: `{"results":[{"item":"A","score":5,"answers":[{"q":1,"a":4},{"q":2,"a":6}]}]}`},
		{name: "addToSet array value is one element", doc: `{"_id":1,"letters":["a","b"]}`, update: `{"$addToSet":{"letters":["c","d"]}}`,
			want: `{"_id":1,"letters":["a","b",["c","d"]]}`, updated: `{"letters":["a","b",["c","d"]]}`},
		{name: "addToSet each", doc: `{"_id":2,"item":"cable","tags":["electronics","supplies"]}`,
			update:  `{"$addToSet":{"tags":{"$each":["camera","electronics","accessories"]}}}`,
			want:    `{"_id":2,"item":"cable","tags":["electronics","supplies","camera","accessories"]}`,
			updated: `{"tags":["electronics","supplies","camera","accessories"]}`},
		{name: "push each sort slice", doc: `{"_id":5,"quizzes":[{"wk":1,"score":10},{"wk":2,"score":8},{"wk":3,"score":5},{"wk":4,"score":6}]}`,
			update:  `{"$push":{"quizzes":{"$each":[{"wk":5,"score":8},{"wk":6,"score":7},{"wk":7,"score":6}],"$sort":{"score":-1},"$slice":3}}}`,
			want:    `{"_id":5,"quizzes":[{"wk":1,"score":10},{"wk":2,"score":8},{"wk":5,"score":8}]}`,
			updated: `{"quizzes":[{"wk":1,"score":10},{"wk":2,"score":8},{"wk":5,"score":8}]}`},
		{name: "filtered identifier gte", doc: `{"_id":1,"grades":[95,92,90]}`, update: `{"$set":{"grades.$[element]":100}}`,
			filters: `[{"element":{"$gte":100}}]`, want: `{"_id":1,"grades":[95,92,90]}`},
		{name: "filtered identifier with two conditions", doc: `{"_id":1,"grades":[{"grade":80,"mean":75,"std":6},{"grade":85,"mean":90,"std":4},{"grade":85,"mean":85,"std":6}]}`,
			update: `{"$inc":{"grades.$[elem].std":-1}}`, filters: `[{"elem.grade":{"$gte":80},"elem.std":{"$gt":5}}]`,
			want:    `{"_id":1,"grades":[{"grade":80,"mean":75,"std":5},{"grade":85,"mean":90,"std":4},{"grade":85,"mean":85,"std":5}]}`,
			updated: `{"grades.0.std":5,"grades.2.std":5}`},
		{name: "filtered with $or", doc: `{"_id":1,"degrees":[{"level":"Master"},{"level":"Bachelor"},{"level":"PhD"}]}`,
			update: `{"$set":{"degrees.$[d].gradcampaign":1}}`, filters: `[{"$or":[{"d.level":"Master"},{"d.level":"PhD"}]}]`,
			want:    `{"_id":1,"degrees":[{"level":"Master","gradcampaign":1},{"level":"Bachelor"},{"level":"PhD","gradcampaign":1}]}`,
			updated: `{"degrees.0.gradcampaign":1,"degrees.2.gradcampaign":1}`},
		{name: "all positional with nested filter", doc: `{"_id":1,"grades":[{"type":"quiz","questions":[10,8,5]},{"type":"quiz","questions":[8,9,6]}]}`,
			update: `{"$inc":{"grades.$[].questions.$[score]":2}}`, filters: `[{"score":{"$gte":8}}]`,
			want:    `{"_id":1,"grades":[{"type":"quiz","questions":[12,10,5]},{"type":"quiz","questions":[10,11,6]}]}`,
			updated: `{"grades.0.questions.0":12,"grades.0.questions.1":10,"grades.1.questions.0":10,"grades.1.questions.1":11}`},
		{name: "all positional on upsert seed array", doc: `{"myArray":[5,8]}`, update: `{"$set":{"myArray.$[]":10}}`,
			ctx: ApplyContext{Insert: true}, want: `{"myArray":[10,10]}`, updated: `{"myArray.0":10,"myArray.1":10}`},
		{name: "rename embedded field", doc: `{"_id":1,"name":{"first":"george","last":"washington"}}`, update: `{"$rename":{"name.first":"name.fname"}}`,
			want: `{"_id":1,"name":{"last":"washington","fname":"george"}}`, updated: `{"name.fname":"george"}`, removed: []string{"name.first"}},
		{name: "mul decimal and int", doc: `{"_id":1,"price":{"$numberDecimal":"10.99"},"qty":25}`,
			update: `{"$mul":{"price":{"$numberDecimal":"1.25"},"qty":2}}`,
			want:   `{"_id":1,"price":{"$numberDecimal":"13.7375"},"qty":50}`, updated: `{"price":{"$numberDecimal":"13.7375"},"qty":50}`},
		{name: "mul mixed types", doc: `{"_id":1,"price":{"$numberLong":"10"}}`, update: `{"$mul":{"price":{"$numberInt":"5"}}}`,
			want: `{"_id":1,"price":{"$numberLong":"50"}}`, updated: `{"price":{"$numberLong":"50"}}`},
		{name: "currentDate with set", doc: `{"_id":1,"status":"a"}`,
			update:  `{"$currentDate":{"lastModified":true,"cancellation.date":{"$type":"timestamp"}},"$set":{"status":"D","cancellation.reason":"user request"}}`,
			ctx:     ApplyContext{ClusterTime: bson.Timestamp{T: 5, I: 1}},
			want:    `{"_id":1,"status":"D","cancellation":{"date":{"$timestamp":{"t":5,"i":1}},"reason":"user request"},"lastModified":{"$date":"2024-05-06T07:08:09Z"}}`,
			updated: `{"status":"D","cancellation":{"date":{"$timestamp":{"t":5,"i":1}},"reason":"user request"},"lastModified":{"$date":"2024-05-06T07:08:09Z"}}`},
	})
}

func TestUpdateKindsAndPositional(t *testing.T) {
	for _, tc := range []struct {
		update               string
		pipeline, positional bool
	}{
		{`{"$set":{"a.$.b":1}}`, false, true},
		{`{"$set":{"a.$[].b":1}}`, false, false},
		{`[{"$set":{"a":1}}]`, true, false},
		{`{"a":1}`, false, false},
	} {
		u, err := NewUpdate(uj(t, tc.update), UpdateOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tc.update, err)
		}
		if u.IsPipeline() != tc.pipeline || u.UsesPositional() != tc.positional {
			t.Errorf("%s: IsPipeline %v UsesPositional %v", tc.update, u.IsPipeline(), u.UsesPositional())
		}
	}
}
