package mql

import (
	"fmt"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

type pipelineCase struct {
	name     string
	docs     string // JSON array of documents
	pipeline string // JSON array of stages
	want     string // JSON array of result documents
	code     int32
}

const pipelineDocs = `[
	{"_id":1,"cat":"a","qty":5,"price":2.5,"tags":["x","y"],"sub":{"k":1,"j":2}},
	{"_id":2,"cat":"b","qty":3,"price":1,"tags":[],"sub":{"k":2}},
	{"_id":3,"cat":"a","qty":1,"tags":"solo"},
	{"_id":4,"cat":null,"qty":{"$numberLong":"10"},"tags":null}
]`

func stagesOf(t testing.TB, s string) []bson.D {
	t.Helper()
	var out []bson.D
	for _, st := range uj(t, s).(bson.A) {
		out = append(out, st.(bson.D))
	}
	return out
}

func runPipelineCases(t *testing.T, cases []pipelineCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.docs
			if src == "" {
				src = pipelineDocs
			}
			docs := stagesOf(t, src)
			before := make([]bson.D, len(docs))
			for i, d := range docs {
				before[i] = uCloneD(d)
			}
			p, err := NewPipeline(stagesOf(t, tc.pipeline), PipelineOptions{})
			var got []bson.D
			if err == nil {
				got, err = p.Run(docs)
			}
			for i := range docs {
				if !uIdentical(docs[i], before[i]) {
					t.Fatalf("Run modified input %d: %s", i, ujs(docs[i]))
				}
			}
			if tc.code != 0 {
				if err == nil {
					t.Fatalf("want error %d, got %v", tc.code, got)
				}
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			gotA := bson.A{}
			for _, d := range got {
				gotA = append(gotA, d)
			}
			if want := uj(t, tc.want); !uIdentical(gotA, want) {
				t.Fatalf("\n got %s\nwant %s", ujs(gotA), ujs(want))
			}
		})
	}
}

func TestPipelineMatchSortSkipLimit(t *testing.T) {
	runPipelineCases(t, []pipelineCase{
		{name: "match", pipeline: `[{"$match":{"cat":"a"}},{"$project":{"_id":1}}]`, want: `[{"_id":1},{"_id":3}]`},
		{name: "match expr", pipeline: `[{"$match":{"$expr":{"$gt":["$qty",4]}}},{"$project":{"_id":1}}]`, want: `[{"_id":1},{"_id":4}]`},
		{name: "sort desc then limit", pipeline: `[{"$sort":{"qty":-1}},{"$limit":2},{"$project":{"qty":1}}]`,
			want: `[{"_id":4,"qty":{"$numberLong":"10"}},{"_id":1,"qty":5}]`},
		{name: "skip", pipeline: `[{"$skip":3},{"$project":{"_id":1}}]`, want: `[{"_id":4}]`},
		{name: "skip past end", pipeline: `[{"$skip":10}]`, want: `[]`},
		{name: "limit zero", pipeline: `[{"$limit":0}]`, code: 15958},
		{name: "negative skip", pipeline: `[{"$skip":-1}]`, code: 5107200},
		{name: "sort not object", pipeline: `[{"$sort":1}]`, code: 15973},
		{name: "match not object", pipeline: `[{"$match":1}]`, code: 15959},
		{name: "unknown stage", pipeline: `[{"$foo":{}}]`, code: 40324},
		{name: "unsupported stage", pipeline: `[{"$lookup":{}}]`, code: CodeCommandNotSupported},
		{name: "stage with two keys", pipeline: `[{"$match":{},"$limit":1}]`, code: 40323},
	})
}

func TestPipelineProject(t *testing.T) {
	runPipelineCases(t, []pipelineCase{
		{name: "inclusion keeps input order and _id", docs: `[{"_id":1,"a":1,"b":2,"c":3}]`, pipeline: `[{"$project":{"c":1,"a":1}}]`,
			want: `[{"_id":1,"a":1,"c":3}]`},
		{name: "inclusion without _id", docs: `[{"_id":1,"a":1,"b":2}]`, pipeline: `[{"$project":{"_id":0,"b":1}}]`, want: `[{"b":2}]`},
		{name: "exclusion", docs: `[{"_id":1,"a":1,"b":2}]`, pipeline: `[{"$project":{"a":0}}]`, want: `[{"_id":1,"b":2}]`},
		{name: "only _id excluded", docs: `[{"_id":1,"a":1}]`, pipeline: `[{"$project":{"_id":0}}]`, want: `[{"a":1}]`},
		{name: "computed fields appended", docs: `[{"_id":1,"a":1,"b":2}]`,
			pipeline: `[{"$project":{"sum":{"$add":["$a","$b"]},"a":1,"lit":"text","flag":{"$literal":true}}}]`,
			want:     `[{"_id":1,"a":1,"sum":3,"lit":"text","flag":true}]`},
		{name: "computed missing is omitted", docs: `[{"_id":1}]`, pipeline: `[{"$project":{"x":"$nope"}}]`, want: `[{"_id":1}]`},
		{name: "dotted inclusion", docs: `[{"_id":1,"a":{"b":1,"c":2},"d":1}]`, pipeline: `[{"$project":{"a.b":1}}]`, want: `[{"_id":1,"a":{"b":1}}]`},
		{name: "nested spec inclusion", docs: `[{"_id":1,"a":{"b":1,"c":2}}]`, pipeline: `[{"$project":{"a":{"c":1}}}]`, want: `[{"_id":1,"a":{"c":2}}]`},
		{name: "inclusion through array of documents", docs: `[{"_id":1,"a":[{"b":1,"c":2},{"c":3},5]}]`, pipeline: `[{"$project":{"a.c":1}}]`,
			want: `[{"_id":1,"a":[{"c":2},{"c":3}]}]`},
		{name: "exclusion through array", docs: `[{"_id":1,"a":[{"b":1,"c":2},5]}]`, pipeline: `[{"$project":{"a.b":0}}]`,
			want: `[{"_id":1,"a":[{"c":2},5]}]`},
		{name: "computed nested creates subdocument", docs: `[{"_id":1,"x":7}]`, pipeline: `[{"$project":{"a.b":"$x"}}]`,
			want: `[{"_id":1,"a":{"b":7}}]`},
		{name: "inclusion on scalar path drops it", docs: `[{"_id":1,"a":5}]`, pipeline: `[{"$project":{"a.b":1}}]`, want: `[{"_id":1}]`},
		{name: "mixing inclusion and exclusion", pipeline: `[{"$project":{"a":1,"b":0}}]`, code: 31254},
		{name: "exclusion then inclusion", pipeline: `[{"$project":{"a":0,"b":1}}]`, code: 31253},
		{name: "expression in exclusion", pipeline: `[{"$project":{"a":0,"b":"$x"}}]`, code: 31252},
		{name: "empty projection", pipeline: `[{"$project":{}}]`, code: 51272},
		{name: "path collision", pipeline: `[{"$project":{"a":1,"a.b":1}}]`, code: 31250},
		{name: "unset", docs: `[{"_id":1,"a":1,"b":{"c":1,"d":2}}]`, pipeline: `[{"$unset":["a","b.c"]}]`, want: `[{"_id":1,"b":{"d":2}}]`},
		{name: "unset string", docs: `[{"_id":1,"a":1}]`, pipeline: `[{"$unset":"a"}]`, want: `[{"_id":1}]`},
		{name: "unset bad spec", pipeline: `[{"$unset":1}]`, code: 31002},
	})
}

func TestPipelineAddFieldsReplaceRoot(t *testing.T) {
	runPipelineCases(t, []pipelineCase{
		{name: "add and replace in place", docs: `[{"_id":1,"a":1,"b":2}]`, pipeline: `[{"$addFields":{"a":10,"c":{"$add":["$a","$b"]}}}]`,
			want: `[{"_id":1,"a":10,"b":2,"c":3}]`},
		{name: "expressions see the input document", docs: `[{"_id":1,"a":1}]`, pipeline: `[{"$set":{"a":5,"b":"$a"}}]`,
			want: `[{"_id":1,"a":5,"b":1}]`},
		{name: "nested spec merges into subdocument", docs: `[{"_id":1,"s":{"x":1}}]`, pipeline: `[{"$addFields":{"s":{"y":2}}}]`,
			want: `[{"_id":1,"s":{"x":1,"y":2}}]`},
		{name: "dotted path into array of documents", docs: `[{"_id":1,"a":[{"x":1},{"x":2}]}]`, pipeline: `[{"$set":{"a.y":0}}]`,
			want: `[{"_id":1,"a":[{"x":1,"y":0},{"x":2,"y":0}]}]`},
		{name: "dotted path replaces scalar", docs: `[{"_id":1,"a":5}]`, pipeline: `[{"$set":{"a.b":1}}]`, want: `[{"_id":1,"a":{"b":1}}]`},
		{name: "remove with $$REMOVE", docs: `[{"_id":1,"a":1,"b":2}]`, pipeline: `[{"$set":{"a":"$$REMOVE"}}]`, want: `[{"_id":1,"b":2}]`},
		{name: "literal numbers are values", docs: `[{"_id":1}]`, pipeline: `[{"$addFields":{"one":1,"f":false}}]`, want: `[{"_id":1,"one":1,"f":false}]`},
		{name: "empty object needs $literal", pipeline: `[{"$set":{"a":{}}}]`, code: 51282},
		{name: "literal empty object", docs: `[{"_id":1}]`, pipeline: `[{"$set":{"a":{"$literal":{}}}}]`, want: `[{"_id":1,"a":{}}]`},
		{name: "replaceRoot", docs: `[{"_id":1,"s":{"x":1}}]`, pipeline: `[{"$replaceRoot":{"newRoot":"$s"}}]`, want: `[{"x":1}]`},
		{name: "replaceWith expression", docs: `[{"_id":1,"s":{"x":1}}]`, pipeline: `[{"$replaceWith":{"$mergeObjects":[{"_id":"$_id"},"$s"]}}]`,
			want: `[{"_id":1,"x":1}]`},
		{name: "replaceRoot to non-document", docs: `[{"_id":1}]`, pipeline: `[{"$replaceRoot":{"newRoot":"$missing"}}]`, code: 40228},
		{name: "replaceRoot without newRoot", pipeline: `[{"$replaceRoot":{}}]`, code: 40231},
	})
}

func TestPipelineGroupCountUnwind(t *testing.T) {
	runPipelineCases(t, []pipelineCase{
		{name: "group sum avg count", pipeline: `[{"$group":{"_id":"$cat","n":{"$sum":1},"q":{"$sum":"$qty"},"avg":{"$avg":"$price"},"c":{"$count":{}}}}]`,
			want: `[{"_id":"a","n":2,"q":6,"avg":2.5,"c":2},{"_id":"b","n":1,"q":3,"avg":1.0,"c":1},{"_id":null,"n":1,"q":{"$numberLong":"10"},"avg":null,"c":1}]`},
		{name: "group null id", pipeline: `[{"$group":{"_id":null,"max":{"$max":"$qty"},"min":{"$min":"$price"},"first":{"$first":"$_id"},"last":{"$last":"$_id"}}}]`,
			want: `[{"_id":null,"max":{"$numberLong":"10"},"min":1,"first":1,"last":4}]`},
		{name: "group push addToSet", pipeline: `[{"$group":{"_id":"$cat","ids":{"$push":"$_id"},"prices":{"$addToSet":"$price"}}},{"$match":{"_id":"a"}}]`,
			want: `[{"_id":"a","ids":[1,3],"prices":[2.5]}]`},
		{name: "group document id", docs: `[{"a":1,"b":1},{"a":1,"b":1.0},{"a":2}]`,
			pipeline: `[{"$group":{"_id":{"a":"$a","b":"$b"},"n":{"$sum":1}}}]`,
			want:     `[{"_id":{"a":1,"b":1},"n":2},{"_id":{"a":2},"n":1}]`},
		{name: "group numeric ids unify", docs: `[{"v":1},{"v":1.0},{"v":{"$numberLong":"1"}}]`, pipeline: `[{"$group":{"_id":"$v","n":{"$sum":1}}}]`,
			want: `[{"_id":1,"n":3}]`},
		{name: "group first of missing is null", docs: `[{"_id":1}]`, pipeline: `[{"$group":{"_id":null,"f":{"$first":"$x"}}}]`, want: `[{"_id":null,"f":null}]`},
		{name: "group without _id", pipeline: `[{"$group":{"n":{"$sum":1}}}]`, code: 15955},
		{name: "group unknown accumulator", pipeline: `[{"$group":{"_id":null,"n":{"$foo":1}}}]`, code: 15952},
		{name: "group dotted field", pipeline: `[{"$group":{"_id":null,"a.b":{"$sum":1}}}]`, code: 40235},
		{name: "group field not accumulator", pipeline: `[{"$group":{"_id":null,"a":1}}]`, code: 40234},
		{name: "count", pipeline: `[{"$match":{"cat":"a"}},{"$count":"total"}]`, want: `[{"total":2}]`},
		{name: "count of nothing", pipeline: `[{"$match":{"cat":"zz"}},{"$count":"total"}]`, want: `[]`},
		{name: "count bad name", pipeline: `[{"$count":"$x"}]`, code: 40158},
		{name: "unwind", pipeline: `[{"$unwind":"$tags"},{"$project":{"tags":1}}]`,
			want: `[{"_id":1,"tags":"x"},{"_id":1,"tags":"y"},{"_id":3,"tags":"solo"}]`},
		{name: "unwind preserve and index", pipeline: `[{"$unwind":{"path":"$tags","includeArrayIndex":"i","preserveNullAndEmptyArrays":true}},{"$project":{"tags":1,"i":1}}]`,
			want: `[{"_id":1,"tags":"x","i":{"$numberLong":"0"}},{"_id":1,"tags":"y","i":{"$numberLong":"1"}},{"_id":2,"tags":[],"i":null},{"_id":3,"tags":"solo","i":null},{"_id":4,"tags":null,"i":null}]`},
		{name: "unwind nested path", docs: `[{"_id":1,"a":{"b":[1,2]}}]`, pipeline: `[{"$unwind":"$a.b"}]`,
			want: `[{"_id":1,"a":{"b":1}},{"_id":1,"a":{"b":2}}]`},
		{name: "unwind without dollar", pipeline: `[{"$unwind":"tags"}]`, code: 28818},
		{name: "sortByCount", pipeline: `[{"$sortByCount":"$cat"}]`,
			want: `[{"_id":"a","count":2},{"_id":"b","count":1},{"_id":null,"count":1}]`},
		{name: "facet", pipeline: `[{"$facet":{"n":[{"$count":"c"}],"ids":[{"$match":{"cat":"b"}},{"$project":{"_id":1}}]}}]`,
			want: `[{"n":[{"c":4}],"ids":[{"_id":2}]}]`},
		{name: "nested facet", pipeline: `[{"$facet":{"x":[{"$facet":{}}]}}]`, code: 40600},
	})
}

func TestPipelineStreamingAndApplyOne(t *testing.T) {
	p, err := NewPipeline(stagesOf(t, `[{"$match":{"a":{"$gt":1}}},{"$set":{"b":{"$multiply":["$a",2]}}},{"$unset":"a"}]`), PipelineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Streaming() {
		t.Fatal("match/set/unset pipeline should be streaming")
	}
	out, keep, err := p.ApplyOne(ujd(t, `{"_id":1,"a":3}`))
	if err != nil || !keep || !uIdentical(out, ujd(t, `{"_id":1,"b":6}`)) {
		t.Fatalf("ApplyOne: %s %v %v", ujs(out), keep, err)
	}
	_, keep, err = p.ApplyOne(ujd(t, `{"_id":2,"a":1}`))
	if err != nil || keep {
		t.Fatalf("ApplyOne should drop: %v %v", keep, err)
	}
	g, err := NewPipeline(stagesOf(t, `[{"$group":{"_id":null}}]`), PipelineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if g.Streaming() {
		t.Fatal("$group is not streaming")
	}
	out, keep, err = g.ApplyOne(ujd(t, `{"_id":2}`))
	if err != nil || !keep || !uIdentical(out, ujd(t, `{"_id":null}`)) {
		t.Fatalf("non-streaming ApplyOne: %s %v %v", ujs(out), keep, err)
	}
}

func TestPipelineVars(t *testing.T) {
	p, err := NewPipeline(stagesOf(t, `[{"$set":{"v":"$$x","now":"$$NOW"}}]`),
		PipelineOptions{Vars: map[string]any{"x": "hello", "NOW": bson.DateTime(1000)}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Run([]bson.D{ujd(t, `{"_id":1}`)})
	if err != nil || len(out) != 1 || !uIdentical(out[0], ujd(t, `{"_id":1,"v":"hello","now":{"$date":"1970-01-01T00:00:01Z"}}`)) {
		t.Fatalf("got %v %v", out, err)
	}
}

func TestPipelineUnsupportedStageNamesStage(t *testing.T) {
	for _, st := range []string{"$lookup", "$out", "$merge", "$geoNear", "$graphLookup", "$unionWith"} {
		_, err := NewPipeline([]bson.D{{{Key: st, Value: bson.D{}}}}, PipelineOptions{})
		wantCode(t, err, CodeCommandNotSupported)
		if !strings.Contains(err.Error(), st) {
			t.Errorf("error for %s does not name it: %v", st, err)
		}
	}
	_, err := NewPipeline([]bson.D{{{Key: "$bogus", Value: 1}}}, PipelineOptions{})
	if err == nil || !strings.Contains(err.Error(), "Unrecognized pipeline stage name: '$bogus'") {
		t.Fatalf("got %v", err)
	}
}

func BenchmarkPipelineMatchProject(b *testing.B) {
	docs := make([]bson.D, 1000)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: int32(i)}, {Key: "g", Value: int32(i % 10)},
			{Key: "name", Value: fmt.Sprintf("user-%d", i)}, {Key: "score", Value: float64(i) / 3},
			{Key: "sub", Value: bson.D{{Key: "a", Value: int32(i)}, {Key: "b", Value: "x"}}}}
	}
	p, err := NewPipeline(stagesOf(b, `[{"$match":{"g":{"$in":[1,3,5]},"score":{"$gt":10}}},{"$project":{"name":1,"sub.a":1,"double":{"$multiply":["$score",2]}}}]`), PipelineOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		out, err := p.Run(docs)
		if err != nil || len(out) == 0 {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*len(docs)), "ns/doc")
}

func TestPipelineMoreAccumulators(t *testing.T) {
	runPipelineCases(t, []pipelineCase{
		{name: "stdDev", docs: `[{"v":2},{"v":4},{"v":4},{"v":4},{"v":5},{"v":5},{"v":7},{"v":9},{"v":"x"}]`,
			pipeline: `[{"$group":{"_id":null,"pop":{"$stdDevPop":"$v"},"one":{"$stdDevSamp":{"$literal":1}}}}]`,
			want:     `[{"_id":null,"pop":2.0,"one":0.0}]`},
		{name: "stdDevSamp of one value is null", docs: `[{"v":1}]`, pipeline: `[{"$group":{"_id":null,"s":{"$stdDevSamp":"$v"}}}]`,
			want: `[{"_id":null,"s":null}]`},
		{name: "firstN lastN maxN minN", docs: `[{"v":3},{"v":1},{},{"v":5},{"v":4}]`,
			pipeline: `[{"$group":{"_id":null,"f":{"$firstN":{"input":"$v","n":3}},"l":{"$lastN":{"input":"$v","n":2}},"mx":{"$maxN":{"input":"$v","n":2}},"mn":{"$minN":{"input":"$v","n":10}}}}]`,
			want:     `[{"_id":null,"f":[3,1,null],"l":[5,4],"mx":[5,4],"mn":[1,3,4,5]}]`},
		{name: "firstN bad n", docs: `[{"v":1}]`, pipeline: `[{"$group":{"_id":null,"f":{"$firstN":{"input":"$v","n":0}}}}]`, code: 5787908},
	})
}

// TestPipelineChangeStreamProjections runs the $project stages of the
// change-streams spec tests over a change event.
func TestPipelineChangeStreamProjections(t *testing.T) {
	const event = `[{"_id":{"_data":"82"},"operationType":"insert","clusterTime":{"$timestamp":{"t":1,"i":1}},
		"fullDocument":{"_id":1},"ns":{"db":"database0","coll":"collection0"},"documentKey":{"_id":1}}]`
	runPipelineCases(t, []pipelineCase{
		{name: "unknown operationType", docs: event, pipeline: `[{"$project":{"operationType":"addedInFutureMongoDBVersion","ns":1}}]`,
			want: `[{"_id":{"_data":"82"},"ns":{"db":"database0","coll":"collection0"},"operationType":"addedInFutureMongoDBVersion"}]`},
		{name: "new field", docs: event, pipeline: `[{"$project":{"operationType":1,"ns":1,"newField":"newFieldValue"}}]`,
			want: `[{"_id":{"_data":"82"},"operationType":"insert","ns":{"db":"database0","coll":"collection0"},"newField":"newFieldValue"}]`},
		{name: "new structure in ns", docs: event, pipeline: `[{"$project":{"operationType":"insert","ns.viewOn":"db.coll"}}]`,
			want: `[{"_id":{"_data":"82"},"ns":{"viewOn":"db.coll"},"operationType":"insert"}]`},
		{name: "modified structure in ns", docs: event,
			pipeline: `[{"$project":{"operationType":"insert","ns":{"db":"$ns.db","coll":"$ns.coll","viewOn":"db.coll"}}}]`,
			want:     `[{"_id":{"_data":"82"},"ns":{"db":"database0","coll":"collection0","viewOn":"db.coll"},"operationType":"insert"}]`},
		{name: "renamed field", docs: event, pipeline: `[{"$project":{"optype":"$operationType","ns":1,"newField":"value"}}]`,
			want: `[{"_id":{"_data":"82"},"ns":{"db":"database0","coll":"collection0"},"optype":"insert","newField":"value"}]`},
	})
}

func TestPipelineVarsInMatchExpr(t *testing.T) {
	p, err := NewPipeline(stagesOf(t, `[{"$match":{"$expr":{"$gt":["$qty","$$min"]}}},{"$match":{"$and":[{"$expr":{"$eq":["$cat","$$c.name"]}}]}},{"$project":{"_id":1}}]`),
		PipelineOptions{Vars: map[string]any{"min": int32(2), "c": bson.D{{Key: "name", Value: "a"}}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Run(stagesOf(t, pipelineDocs))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || !uIdentical(out[0], ujd(t, `{"_id":1}`)) {
		t.Fatalf("got %v", out)
	}
}

func TestPipelineGroupKeysAndMerge(t *testing.T) {
	runPipelineCases(t, []pipelineCase{
		{name: "keys of many types", docs: `[{"k":{"$oid":"5ab9cbfa31c2ab715d42129e"}},{"k":{"$oid":"5ab9cbfa31c2ab715d42129e"}},
			{"k":true},{"k":{"$date":"2021-01-01T00:00:00Z"}},{"k":{"$timestamp":{"t":1,"i":2}}},{"k":{"$binary":{"base64":"AQI=","subType":"00"}}},
			{"k":{"$regularExpression":{"pattern":"a","options":"i"}}},{"k":[1,2]},{"k":[1,2.0]},{"k":1.5},{"k":{"$numberDecimal":"2.5"}},{"k":"s"},{}]`,
			pipeline: `[{"$group":{"_id":"$k","n":{"$sum":1}}},{"$project":{"_id":0,"n":1}}]`,
			want:     `[{"n":2},{"n":1},{"n":1},{"n":1},{"n":1},{"n":1},{"n":2},{"n":1},{"n":1},{"n":1},{"n":1}]`},
		{name: "mergeObjects accumulator", docs: `[{"g":1,"d":{"a":1}},{"g":1,"d":{"b":2,"a":3}},{"g":1,"d":null}]`,
			pipeline: `[{"$group":{"_id":"$g","m":{"$mergeObjects":"$d"}}}]`, want: `[{"_id":1,"m":{"a":3,"b":2}}]`},
		{name: "avg of decimals", docs: `[{"v":{"$numberDecimal":"1"}},{"v":2}]`, pipeline: `[{"$group":{"_id":null,"a":{"$avg":"$v"}}}]`,
			want: `[{"_id":null,"a":{"$numberDecimal":"1.5"}}]`},
		{name: "count name with dot", pipeline: `[{"$count":"a.b"}]`, code: 40160},
		{name: "count empty name", pipeline: `[{"$count":""}]`, code: 40157},
	})
}

func TestPipelineNowIsOneInstantPerRun(t *testing.T) {
	p, err := NewPipeline(stagesOf(t, `[{"$set":{"t":"$$NOW"}},{"$group":{"_id":"$t","n":{"$sum":1}}}]`), PipelineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	docs := make([]bson.D, 500)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: int32(i)}}
	}
	out, err := p.Run(docs)
	if err != nil || len(out) != 1 {
		t.Fatalf("want one $$NOW value for the whole run, got %d groups (%v)", len(out), err)
	}
}

func TestPipelineRedact(t *testing.T) {
	// The example of the MongoDB manual's $redact page, reduced.
	const doc = `[{"_id":1,"tags":["G","STLW"],"year":2014,"subsections":[
		{"subtitle":"Section 1","tags":["SI","G"],"content":"c1"},
		{"subtitle":"Section 2","tags":["STLW"],"content":"c2"},
		{"subtitle":"Section 3","tags":["TK"],"content":{"text":"c3","tags":["SI"]}}]}]`
	const expr = `{"$cond":{"if":{"$gt":[{"$size":{"$setIntersection":["$tags",["STLW","G"]]}},0]},"then":"$$DESCEND","else":"$$PRUNE"}}`
	runPipelineCases(t, []pipelineCase{
		{name: "descend and prune", docs: doc, pipeline: `[{"$redact":` + expr + `}]`,
			want: `[{"_id":1,"tags":["G","STLW"],"year":2014,"subsections":[{"subtitle":"Section 1","tags":["SI","G"],"content":"c1"},{"subtitle":"Section 2","tags":["STLW"],"content":"c2"}]}]`},
		{name: "keep", docs: doc, pipeline: `[{"$redact":"$$KEEP"},{"$project":{"year":1}}]`, want: `[{"_id":1,"year":2014}]`},
		{name: "prune top level", docs: doc, pipeline: `[{"$redact":"$$PRUNE"}]`, want: `[]`},
		{name: "bad answer", docs: doc, pipeline: `[{"$redact":"x"}]`, code: 17053},
	})
	p, err := NewPipeline(stagesOf(t, `[{"$redact":"$$KEEP"}]`), PipelineOptions{})
	if err != nil || !p.Streaming() {
		t.Fatalf("$redact should compile and stream: %v", err)
	}
}

func TestPipelineBucketSample(t *testing.T) {
	const docs = `[{"p":5},{"p":15},{"p":12},{"p":40},{"p":"x"},{}]`
	runPipelineCases(t, []pipelineCase{
		{name: "bucket with default and output", docs: docs,
			pipeline: `[{"$bucket":{"groupBy":"$p","boundaries":[0,10,20],"default":"other","output":{"n":{"$sum":1},"ps":{"$push":"$p"}}}}]`,
			want:     `[{"_id":0,"n":1,"ps":[5]},{"_id":10,"n":2,"ps":[15,12]},{"_id":"other","n":3,"ps":[40,"x"]}]`},
		{name: "bucket default count", docs: `[{"p":1},{"p":2}]`, pipeline: `[{"$bucket":{"groupBy":"$p","boundaries":[0,5]}}]`,
			want: `[{"_id":0,"count":2}]`},
		{name: "bucket value outside without default", docs: docs, pipeline: `[{"$bucket":{"groupBy":"$p","boundaries":[0,10]}}]`, code: 40066},
		{name: "bucket unsorted boundaries", pipeline: `[{"$bucket":{"groupBy":"$p","boundaries":[10,0]}}]`, code: 40194},
		{name: "bucket mixed boundary types", pipeline: `[{"$bucket":{"groupBy":"$p","boundaries":[0,"a"]}}]`, code: 40193},
		{name: "bucket default inside range", pipeline: `[{"$bucket":{"groupBy":"$p","boundaries":[0,10],"default":5}}]`, code: 40199},
		{name: "bucket one boundary", pipeline: `[{"$bucket":{"groupBy":"$p","boundaries":[0]}}]`, code: 40192},
		{name: "sample all, then count", docs: docs, pipeline: `[{"$sample":{"size":10}},{"$count":"n"}]`, want: `[{"n":6}]`},
		{name: "sample some", docs: docs, pipeline: `[{"$sample":{"size":2}},{"$count":"n"}]`, want: `[{"n":2}]`},
		{name: "sample without size", pipeline: `[{"$sample":{}}]`, code: 28749},
		{name: "sample negative", pipeline: `[{"$sample":{"size":-1}}]`, code: 28747},
	})
}
