package mql

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

type exprCase struct {
	expr string
	doc  string // default {"_id":1,"a":5,"s":"Hello","arr":[1,2,3],"n":null,"d":{"x":1,"y":2}}
	want string // "missing" for a missing result
	code int32
}

const exprDoc = `{"_id":1,"a":5,"b":2,"s":"Hello","arr":[1,2,3],"n":null,"d":{"x":1,"y":2},
	"docs":[{"v":1},{"v":2},{"w":3}],"t":{"$date":"2021-03-04T05:06:07.089Z"}}`

func runExprCases(t *testing.T, cases []exprCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			doc := tc.doc
			if doc == "" {
				doc = exprDoc
			}
			e, err := NewExpr(uj(t, tc.expr))
			var got any
			var ok bool
			if err == nil {
				got, ok, err = e.EvalMissing(ujd(t, doc), map[string]any{"NOW": bson.DateTime(0), "myVar": int32(42)})
			}
			if tc.code != 0 {
				if err == nil {
					t.Fatalf("want error %d, got %s", tc.code, ujs(got))
				}
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.want == "missing" {
				if ok {
					t.Fatalf("want missing, got %s", ujs(got))
				}
				return
			}
			if !ok {
				t.Fatalf("got missing, want %s", tc.want)
			}
			if want := uj(t, tc.want); !uIdentical(got, want) {
				t.Fatalf("got %s want %s", ujs(got), ujs(want))
			}
		})
	}
}

func TestExprPathsAndVariables(t *testing.T) {
	runExprCases(t, []exprCase{
		{expr: `"$a"`, want: `5`},
		{expr: `"$d.x"`, want: `1`},
		{expr: `"$nope"`, want: `missing`},
		{expr: `"$docs.v"`, want: `[1,2]`},
		{expr: `"$arr.0"`, want: `[]`},
		{expr: `"$$ROOT.a"`, want: `5`},
		{expr: `"$$CURRENT.d.y"`, want: `2`},
		{expr: `"$$REMOVE"`, want: `missing`},
		{expr: `"$$NOW"`, want: `{"$date":"1970-01-01T00:00:00Z"}`},
		{expr: `"$$myVar"`, want: `42`},
		{expr: `"$$undefinedVar"`, code: 17276},
		{expr: `"$"`, code: 16872},
		{expr: `"plain"`, want: `"plain"`},
		{expr: `{"x":"$a","y":{"z":"$s"},"m":"$missing"}`, want: `{"x":5,"y":{"z":"Hello"}}`},
		{expr: `["$a","$missing",1]`, want: `[5,null,1]`},
		{expr: `{"$literal":"$a"}`, want: `"$a"`},
		{expr: `{"$literal":{"$add":1}}`, want: `{"$add":1}`},
		{expr: `{"$foo":1}`, code: 168},
		{expr: `{"$add":[1],"$sub":1}`, code: 15983},
		{expr: `{"a.b":1}`, code: 16412},
	})
}

func TestExprComparisonAndLogic(t *testing.T) {
	runExprCases(t, []exprCase{
		{expr: `{"$eq":["$a",5]}`, want: `true`},
		{expr: `{"$eq":["$a",5.0]}`, want: `true`},
		{expr: `{"$ne":["$a",5]}`, want: `false`},
		{expr: `{"$gt":["$a",4]}`, want: `true`},
		{expr: `{"$gte":["$a",5]}`, want: `true`},
		{expr: `{"$lt":["$s",1]}`, want: `false`},
		{expr: `{"$lte":["$n",0]}`, want: `true`},
		{expr: `{"$cmp":["$a",7]}`, want: `-1`},
		{expr: `{"$eq":["$missing",null]}`, want: `false`},
		{expr: `{"$lt":["$missing",null]}`, want: `true`},
		{expr: `{"$eq":[1]}`, code: 16020},
		{expr: `{"$and":[1,"$a",true]}`, want: `true`},
		{expr: `{"$and":[1,0]}`, want: `false`},
		{expr: `{"$and":[]}`, want: `true`},
		{expr: `{"$or":[0,null,"$missing"]}`, want: `false`},
		{expr: `{"$or":[0,"$s"]}`, want: `true`},
		{expr: `{"$not":["$n"]}`, want: `true`},
		{expr: `{"$not":[[]]}`, want: `false`},
		{expr: `{"$cond":[{"$gt":["$a",3]},"big","small"]}`, want: `"big"`},
		{expr: `{"$cond":{"if":"$n","then":1,"else":2}}`, want: `2`},
		{expr: `{"$cond":{"if":true,"then":1}}`, code: 9},
		{expr: `{"$ifNull":["$n","$missing","dflt"]}`, want: `"dflt"`},
		{expr: `{"$ifNull":["$a","dflt"]}`, want: `5`},
		{expr: `{"$ifNull":["$n",null]}`, want: `null`},
		{expr: `{"$switch":{"branches":[{"case":{"$lt":["$a",3]},"then":"low"},{"case":{"$lt":["$a",10]},"then":"mid"}],"default":"high"}}`, want: `"mid"`},
		{expr: `{"$switch":{"branches":[{"case":false,"then":1}],"default":"d"}}`, want: `"d"`},
		{expr: `{"$switch":{"branches":[{"case":false,"then":1}]}}`, code: 40066},
		{expr: `{"$in":[2,"$arr"]}`, want: `true`},
		{expr: `{"$in":[9,"$arr"]}`, want: `false`},
		{expr: `{"$in":[1,"$a"]}`, code: 40081},
	})
}

func TestExprArithmetic(t *testing.T) {
	runExprCases(t, []exprCase{
		{expr: `{"$add":[1,2,3]}`, want: `6`},
		{expr: `{"$add":[1,2.5]}`, want: `3.5`},
		{expr: `{"$add":[2147483647,1]}`, want: `{"$numberLong":"2147483648"}`},
		{expr: `{"$add":[{"$numberLong":"9223372036854775807"},1]}`, want: `9.223372036854775808e18`},
		{expr: `{"$add":["$a",null]}`, want: `null`},
		{expr: `{"$add":["$a","$missing"]}`, want: `null`},
		{expr: `{"$add":["$t",1000]}`, want: `{"$date":"2021-03-04T05:06:08.089Z"}`},
		{expr: `{"$add":["$s",1]}`, code: 14},
		{expr: `{"$subtract":[10,"$a"]}`, want: `5`},
		{expr: `{"$subtract":["$t",{"$add":["$t",-500]}]}`, want: `{"$numberLong":"500"}`},
		{expr: `{"$subtract":["$t",89]}`, want: `{"$date":"2021-03-04T05:06:07Z"}`},
		{expr: `{"$multiply":["$a",2,1.5]}`, want: `15.0`},
		{expr: `{"$divide":["$a",2]}`, want: `2.5`},
		{expr: `{"$divide":[4,2]}`, want: `2.0`},
		{expr: `{"$divide":[1,0]}`, code: 2},
		{expr: `{"$mod":["$a",3]}`, want: `2`},
		{expr: `{"$mod":[5.5,2]}`, want: `1.5`},
		{expr: `{"$mod":[1,0]}`, code: 16610},
		{expr: `{"$abs":-3}`, want: `3`},
		{expr: `{"$abs":[-2.5]}`, want: `2.5`},
		{expr: `{"$ceil":1.2}`, want: `2.0`},
		{expr: `{"$floor":-1.2}`, want: `-2.0`},
		{expr: `{"$floor":7}`, want: `7`},
		{expr: `{"$round":[2.5]}`, want: `2.0`},
		{expr: `{"$round":[3.5]}`, want: `4.0`},
		{expr: `{"$round":[1234.5678,2]}`, want: `1234.57`},
		{expr: `{"$round":[1234,-2]}`, want: `1200`},
		{expr: `{"$trunc":[-1.7]}`, want: `-1.0`},
		{expr: `{"$trunc":[1.789,1]}`, want: `1.7`},
		{expr: `{"$sqrt":16}`, want: `4.0`},
		{expr: `{"$pow":[2,10]}`, want: `1024`},
		{expr: `{"$abs":"x"}`, code: 28765},
		{expr: `{"$sum":"$arr"}`, want: `6`},
		{expr: `{"$sum":[1,"x",2.5]}`, want: `3.5`},
		{expr: `{"$avg":"$arr"}`, want: `2.0`},
		{expr: `{"$max":"$arr"}`, want: `3`},
		{expr: `{"$min":[4,null,2]}`, want: `2`},
		{expr: `{"$add":[{"$numberDecimal":"1.5"},1]}`, want: `{"$numberDecimal":"2.5"}`},
	})
}

func TestExprStrings(t *testing.T) {
	runExprCases(t, []exprCase{
		{expr: `{"$concat":["$s"," ","World"]}`, want: `"Hello World"`},
		{expr: `{"$concat":["$s","$n"]}`, want: `null`},
		{expr: `{"$concat":["$s",1]}`, code: 16702},
		{expr: `{"$toLower":"$s"}`, want: `"hello"`},
		{expr: `{"$toUpper":["$s"]}`, want: `"HELLO"`},
		{expr: `{"$toUpper":"$n"}`, want: `""`},
		{expr: `{"$substr":["$s",1,3]}`, want: `"ell"`},
		{expr: `{"$substr":["$s",1,-1]}`, want: `"ello"`},
		{expr: `{"$substrCP":["héllo",1,2]}`, want: `"él"`},
		{expr: `{"$substrBytes":["$s",10,2]}`, want: `""`},
		{expr: `{"$strLenCP":"héllo"}`, want: `5`},
		{expr: `{"$strLenBytes":"héllo"}`, want: `6`},
		{expr: `{"$strLenCP":1}`, code: 34471},
		{expr: `{"$split":["a,b,,c",","]}`, want: `["a","b","","c"]`},
		{expr: `{"$split":["$n",","]}`, want: `null`},
		{expr: `{"$split":["abc",""]}`, code: 40087},
		{expr: `{"$trim":{"input":"  x  "}}`, want: `"x"`},
		{expr: `{"$ltrim":{"input":"xxaxx","chars":"x"}}`, want: `"axx"`},
		{expr: `{"$rtrim":{"input":"xxaxx","chars":"x"}}`, want: `"xxa"`},
		{expr: `{"$trim":{"input":1}}`, code: 50699},
		{expr: `{"$strcasecmp":["abc","ABC"]}`, want: `0`},
	})
}

func TestExprArrays(t *testing.T) {
	runExprCases(t, []exprCase{
		{expr: `{"$size":"$arr"}`, want: `3`},
		{expr: `{"$size":"$a"}`, code: 17124},
		{expr: `{"$arrayElemAt":["$arr",0]}`, want: `1`},
		{expr: `{"$arrayElemAt":["$arr",-1]}`, want: `3`},
		{expr: `{"$arrayElemAt":["$arr",5]}`, want: `missing`},
		{expr: `{"$concatArrays":["$arr",[4],[[5]]]}`, want: `[1,2,3,4,[5]]`},
		{expr: `{"$concatArrays":["$arr","$n"]}`, want: `null`},
		{expr: `{"$filter":{"input":"$arr","cond":{"$gt":["$$this",1]}}}`, want: `[2,3]`},
		{expr: `{"$filter":{"input":"$arr","as":"x","cond":{"$gt":["$$x",1]},"limit":1}}`, want: `[2]`},
		{expr: `{"$filter":{"input":"$a","cond":true}}`, code: 28651},
		{expr: `{"$map":{"input":"$arr","as":"x","in":{"$multiply":["$$x",10]}}}`, want: `[10,20,30]`},
		{expr: `{"$map":{"input":"$docs","in":"$$this.v"}}`, want: `[1,2,null]`},
		{expr: `{"$map":{"input":"$n","in":1}}`, want: `null`},
		{expr: `{"$reduce":{"input":"$arr","initialValue":0,"in":{"$add":["$$value","$$this"]}}}`, want: `6`},
		{expr: `{"$reduce":{"input":["a","b"],"initialValue":"","in":{"$concat":["$$value","$$this"]}}}`, want: `"ab"`},
		{expr: `{"$first":"$arr"}`, want: `1`},
		{expr: `{"$last":"$arr"}`, want: `3`},
		{expr: `{"$first":[[]]}`, want: `missing`},
		{expr: `{"$isArray":"$arr"}`, want: `true`},
		{expr: `{"$isArray":["$a"]}`, want: `false`},
		{expr: `{"$slice":["$arr",2]}`, want: `[1,2]`},
		{expr: `{"$slice":["$arr",-1]}`, want: `[3]`},
		{expr: `{"$slice":["$arr",1,1]}`, want: `[2]`},
		{expr: `{"$reverseArray":"$arr"}`, want: `[3,2,1]`},
		{expr: `{"$indexOfArray":["$arr",2]}`, want: `1`},
		{expr: `{"$indexOfArray":["$arr",9]}`, want: `-1`},
		{expr: `{"$range":[0,5,2]}`, want: `[0,2,4]`},
		{expr: `{"$let":{"vars":{"x":"$a","y":2},"in":{"$multiply":["$$x","$$y"]}}}`, want: `10`},
		{expr: `{"$let":{"vars":{"X":1},"in":1}}`, code: 16867},
	})
}

func TestExprTypesAndObjects(t *testing.T) {
	runExprCases(t, []exprCase{
		{expr: `{"$type":"$a"}`, want: `"int"`},
		{expr: `{"$type":"$missing"}`, want: `"missing"`},
		{expr: `{"$type":"$d"}`, want: `"object"`},
		{expr: `{"$type":"$n"}`, want: `"null"`},
		{expr: `{"$toString":"$a"}`, want: `"5"`},
		{expr: `{"$toString":2.5}`, want: `"2.5"`},
		{expr: `{"$toString":"$t"}`, want: `"2021-03-04T05:06:07.089Z"`},
		{expr: `{"$toString":"$n"}`, want: `null`},
		{expr: `{"$toInt":"42"}`, want: `42`},
		{expr: `{"$toInt":2.9}`, want: `2`},
		{expr: `{"$toInt":"abc"}`, code: 241},
		{expr: `{"$toLong":"$a"}`, want: `{"$numberLong":"5"}`},
		{expr: `{"$toDouble":"1.5"}`, want: `1.5`},
		{expr: `{"$toDouble":true}`, want: `1.0`},
		{expr: `{"$toBool":0}`, want: `false`},
		{expr: `{"$toBool":"false"}`, want: `true`},
		{expr: `{"$toObjectId":"5ab9cbfa31c2ab715d42129e"}`, want: `{"$oid":"5ab9cbfa31c2ab715d42129e"}`},
		{expr: `{"$toObjectId":"zz"}`, code: 241},
		{expr: `{"$convert":{"input":"abc","to":"int","onError":-1}}`, want: `-1`},
		{expr: `{"$convert":{"input":"$n","to":"int","onNull":0}}`, want: `0`},
		{expr: `{"$convert":{"input":"7","to":16}}`, want: `7`},
		{expr: `{"$convert":{"input":true,"to":"objectId"}}`, code: 241},
		{expr: `{"$objectToArray":"$d"}`, want: `[{"k":"x","v":1},{"k":"y","v":2}]`},
		{expr: `{"$arrayToObject":[[["a",1],["b",2]]]}`, want: `{"a":1,"b":2}`},
		{expr: `{"$arrayToObject":[[{"k":"a","v":1},{"k":"a","v":3}]]}`, want: `{"a":3}`},
		{expr: `{"$mergeObjects":["$d",{"y":9,"z":3},null]}`, want: `{"x":1,"y":9,"z":3}`},
		{expr: `{"$getField":"a"}`, want: `5`},
		{expr: `{"$getField":{"field":"x","input":"$d"}}`, want: `1`},
		{expr: `{"$getField":{"field":"zz","input":"$d"}}`, want: `missing`},
		{expr: `{"$setField":{"field":"x","input":"$d","value":7}}`, want: `{"x":7,"y":2}`},
		{expr: `{"$setField":{"field":"x","input":"$d","value":"$$REMOVE"}}`, want: `{"y":2}`},
		{expr: `{"$unsetField":{"field":"y","input":"$d"}}`, want: `{"x":1}`},
		{expr: `{"$dateToString":{"date":"$t"}}`, want: `"2021-03-04T05:06:07.089Z"`},
		{expr: `{"$dateToString":{"date":"$t","format":"%Y/%m/%d %H:%M","timezone":"+02:00"}}`, want: `"2021/03/04 07:06"`},
		{expr: `{"$dateToString":{"date":"$n","onNull":"none"}}`, want: `"none"`},
		{expr: `{"$dateToString":{"date":"$t","format":"%Q"}}`, code: 18536},
		{expr: `{"$year":"$t"}`, want: `2021`},
		{expr: `{"$month":{"date":"$t"}}`, want: `3`},
		{expr: `{"$dayOfWeek":"$t"}`, want: `5`},
	})
}

func TestExprEvalReturnsNilForMissing(t *testing.T) {
	e, err := NewExpr("$nothing")
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.Eval(bson.D{{Key: "a", Value: int32(1)}}, nil)
	if err != nil || v != nil {
		t.Fatalf("got %v, %v", v, err)
	}
}

func TestExprSetsSearchRegex(t *testing.T) {
	runExprCases(t, []exprCase{
		{expr: `{"$setUnion":[[1,2],[2,3,1.0]]}`, want: `[1,2,3]`},
		{expr: `{"$setIntersection":[[1,2,3],[3,2]]}`, want: `[2,3]`},
		{expr: `{"$setDifference":[[1,2,3],[2]]}`, want: `[1,3]`},
		{expr: `{"$setEquals":[[1,2],[2,1,1]]}`, want: `true`},
		{expr: `{"$setIsSubset":[[1],[1,2]]}`, want: `true`},
		{expr: `{"$setUnion":[[1],1]}`, code: 17044},
		{expr: `{"$allElementsTrue":[[1,true,"x"]]}`, want: `true`},
		{expr: `{"$anyElementTrue":[[0,false,null]]}`, want: `false`},
		{expr: `{"$indexOfCP":["héllo","l"]}`, want: `2`},
		{expr: `{"$indexOfBytes":["héllo","l"]}`, want: `3`},
		{expr: `{"$indexOfCP":["abc","z"]}`, want: `-1`},
		{expr: `{"$replaceAll":{"input":"a-b-c","find":"-","replacement":"+"}}`, want: `"a+b+c"`},
		{expr: `{"$replaceOne":{"input":"a-b-c","find":"-","replacement":"+"}}`, want: `"a+b-c"`},
		{expr: `{"$regexMatch":{"input":"$s","regex":"^h","options":"i"}}`, want: `true`},
		{expr: `{"$regexMatch":{"input":"$n","regex":"x"}}`, want: `false`},
		{expr: `{"$regexFind":{"input":"abc123","regex":"([a-z]+)(\\d+)"}}`, want: `{"match":"abc123","idx":0,"captures":["abc","123"]}`},
		{expr: `{"$regexFindAll":{"input":"a1b2","regex":"\\d"}}`, want: `[{"match":"1","idx":1,"captures":[]},{"match":"2","idx":3,"captures":[]}]`},
		{expr: `{"$sortArray":{"input":[3,1,2],"sortBy":-1}}`, want: `[3,2,1]`},
		{expr: `{"$sortArray":{"input":[{"a":2},{"a":1}],"sortBy":{"a":1}}}`, want: `[{"a":1},{"a":2}]`},
	})
}

func TestExprConversionsAndDates(t *testing.T) {
	runExprCases(t, []exprCase{
		{expr: `{"$toString":true}`, want: `"true"`},
		{expr: `{"$toString":{"$numberLong":"12"}}`, want: `"12"`},
		{expr: `{"$toString":1e20}`, want: `"1e+20"`},
		{expr: `{"$toString":{"$numberDecimal":"1.50"}}`, want: `"1.50"`},
		{expr: `{"$toString":{"$oid":"5ab9cbfa31c2ab715d42129e"}}`, want: `"5ab9cbfa31c2ab715d42129e"`},
		{expr: `{"$toString":[[1]]}`, code: 241},
		{expr: `{"$toInt":{"$numberLong":"3000000000"}}`, code: 241},
		{expr: `{"$toInt":{"$numberDouble":"NaN"}}`, code: 241},
		{expr: `{"$toLong":"$t"}`, want: `{"$numberLong":"1614834367089"}`},
		{expr: `{"$toInt":"$t"}`, code: 241},
		{expr: `{"$toDouble":"$t"}`, want: `1614834367089.0`},
		{expr: `{"$toDouble":"x"}`, code: 241},
		{expr: `{"$toDecimal":2}`, want: `{"$numberDecimal":"2"}`},
		{expr: `{"$toDecimal":"1.25"}`, want: `{"$numberDecimal":"1.25"}`},
		{expr: `{"$toDate":{"$numberLong":"1000"}}`, want: `{"$date":"1970-01-01T00:00:01Z"}`},
		{expr: `{"$toDate":"2021-03-04T05:06:07Z"}`, want: `{"$date":"2021-03-04T05:06:07Z"}`},
		{expr: `{"$toDate":{"$oid":"5ab9cbfa31c2ab715d42129e"}}`, want: `{"$date":"2018-03-27T04:43:38Z"}`},
		{expr: `{"$toDate":"not a date"}`, code: 241},
		{expr: `{"$toBool":"$n"}`, want: `null`},
		{expr: `{"$convert":{"input":1,"to":"bogus"}}`, code: 2},
		{expr: `{"$convert":{"input":1,"to":99}}`, code: 2},
		{expr: `{"$convert":{"input":1.9,"to":{"type":"long"}}}`, want: `{"$numberLong":"1"}`},
		{expr: `{"$hour":"$t"}`, want: `5`},
		{expr: `{"$minute":"$t"}`, want: `6`},
		{expr: `{"$second":"$t"}`, want: `7`},
		{expr: `{"$millisecond":"$t"}`, want: `89`},
		{expr: `{"$dayOfMonth":"$t"}`, want: `4`},
		{expr: `{"$dayOfYear":"$t"}`, want: `63`},
		{expr: `{"$week":"$t"}`, want: `9`},
		{expr: `{"$isoWeek":"$t"}`, want: `9`},
		{expr: `{"$isoWeekYear":"$t"}`, want: `{"$numberLong":"2021"}`},
		{expr: `{"$isoDayOfWeek":"$t"}`, want: `4`},
		{expr: `{"$hour":{"date":"$t","timezone":"-0130"}}`, want: `3`},
		{expr: `{"$hour":{"date":"$t","timezone":"Mars/Olympus"}}`, code: 40485},
		{expr: `{"$year":"$s"}`, code: 16006},
		{expr: `{"$year":"$n"}`, want: `null`},
		{expr: `{"$dateToString":{"date":"$t","format":"%j %w %u %U %V %G %b %B %z %Z %%"}}`, want: `"063 5 4 09 09 2021 Mar March +0000 0 %"`},
		{expr: `{"$divide":[{"$numberDecimal":"1"},4]}`, want: `{"$numberDecimal":"0.25"}`},
		{expr: `{"$divide":[{"$numberDecimal":"1"},0]}`, code: 2},
		{expr: `{"$multiply":[{"$numberDecimal":"1.5"},2]}`, want: `{"$numberDecimal":"3.0"}`},
		{expr: `{"$add":[{"$numberDecimal":"1"},0.1]}`, want: `{"$numberDecimal":"1.100000000000000"}`},
		{expr: `{"$subtract":[{"$numberDecimal":"1.10"},{"$numberDecimal":"0.1"}]}`, want: `{"$numberDecimal":"1.00"}`},
		{expr: `{"$multiply":[{"$numberDecimal":"1.000000000000000000000000000000001"},{"$numberDecimal":"1.000000000000000000000000000000001"}]}`,
			want: `{"$numberDecimal":"1.000000000000000000000000000000002"}`},
		{expr: `{"$toDecimal":2.5}`, want: `{"$numberDecimal":"2.50000000000000"}`},
		{expr: `{"$indexOfArray":["$arr",3,0,2]}`, want: `-1`},
		{expr: `{"$indexOfArray":["$arr",3,1]}`, want: `2`},
		{expr: `{"$toUpper":5}`, want: `"5"`},
		{expr: `{"$toUpper":[[1]]}`, code: 16007},
	})
}
