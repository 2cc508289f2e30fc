package embedded_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestUndefinedVariableIsRefused: mongod refuses an undefined $$variable
// when it parses the command (17276), so the error does not depend on the
// data: an aggregation or a find $expr over an empty collection fails, and
// a change stream whose $match uses one fails to open instead of silently
// matching nothing. Variables that are defined (let, $map's as) still work.
func TestUndefinedVariableIsRefused(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	coll := db.Collection("c")
	undefined := bson.D{{Key: "$eq", Value: bson.A{"$$nope", 1}}}
	_, aggErr := coll.Aggregate(ctx, mongo.Pipeline{{{Key: "$project", Value: bson.D{{Key: "x", Value: "$$nope"}}}}})
	_, findErr := coll.Find(ctx, bson.D{{Key: "$expr", Value: undefined}})
	_, watchErr := coll.Watch(ctx, mongo.Pipeline{{{Key: "$match", Value: bson.D{{Key: "$expr", Value: undefined}}}}})
	for what, err := range map[string]error{"aggregate": aggErr, "find": findErr, "watch": watchErr} {
		t.Run(what, func(t *testing.T) { wantCode(t, err, 17276, "Use of undefined variable: nope") })
	}

	seed(t, coll, bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: bson.A{1, 2}}})
	cur, err := coll.Aggregate(ctx, mongo.Pipeline{{{Key: "$project", Value: bson.D{
		{Key: "m", Value: bson.D{{Key: "$map", Value: bson.D{{Key: "input", Value: "$a"}, {Key: "as", Value: "e"}, {Key: "in", Value: bson.D{{Key: "$add", Value: bson.A{"$$e", "$$k"}}}}}}}},
	}}}}, options.Aggregate().SetLet(bson.D{{Key: "k", Value: 10}}))
	got := all(t)(cur, err)
	wantJSON(t, got, `[{"_id":1,"m":[11,12]}]`)
}
