package mql

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestCheckPipelineVariablesScopes(t *testing.T) {
	d := func(k string, v any) bson.D { return bson.D{{Key: k, Value: v}} }
	ok := []bson.D{
		d("$project", d("x", d("$let", bson.D{{Key: "vars", Value: d("v", 1)}, {Key: "in", Value: "$$v"}}))),
		d("$project", d("x", d("$filter", bson.D{{Key: "input", Value: "$a"}, {Key: "cond", Value: "$$this"}}))),
		d("$project", d("x", d("$reduce", bson.D{{Key: "input", Value: "$a"}, {Key: "initialValue", Value: 0}, {Key: "in", Value: d("$add", bson.A{"$$this", "$$value"})}}))),
		d("$project", d("x", d("$literal", "$$notAVariable"))),
		d("$match", d("a", "$$aPlainString")),
		d("$lookup", bson.D{{Key: "from", Value: "o"}, {Key: "let", Value: d("l", "$a")}, {Key: "as", Value: "j"},
			{Key: "pipeline", Value: bson.A{d("$match", d("$expr", d("$eq", bson.A{"$$l", "$$k"})))}}}),
		d("$redact", d("$cond", bson.A{true, "$$KEEP", "$$PRUNE"})),
	}
	if err := CheckPipelineVariables(ok, []string{"k"}); err != nil {
		t.Fatalf("defined variables refused: %v", err)
	}
	for _, bad := range []bson.D{
		d("$project", d("x", d("$let", bson.D{{Key: "vars", Value: d("v", "$$v")}, {Key: "in", Value: 1}}))),
		d("$project", d("x", bson.A{d("$map", bson.D{{Key: "input", Value: "$a"}, {Key: "as", Value: "e"}, {Key: "in", Value: 1}}), "$$e"})),
		d("$match", d("$or", bson.A{d("$expr", "$$nope")})),
		d("$lookup", bson.D{{Key: "from", Value: "o"}, {Key: "as", Value: "j"}, {Key: "pipeline", Value: bson.A{d("$match", d("$expr", "$$l"))}}}),
		d("$facet", d("f", bson.A{d("$addFields", d("y", "$$nope.x"))})),
	} {
		err := CheckPipelineVariables([]bson.D{bad}, []string{"k"})
		if e, isErr := err.(*Error); !isErr || e.Code != 17276 {
			t.Errorf("%v: %v, want 17276", bad, err)
		}
	}
}
