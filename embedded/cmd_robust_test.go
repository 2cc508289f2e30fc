package embedded_test

import (
	"errors"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestCommandsRejectWrongTypesCleanly sends every command with each of its
// fields replaced by values of other BSON types. Whatever the server makes
// of them, it must answer with a proper error (never InternalError, which
// is what a handler panic becomes) or succeed, and keep serving.
func TestCommandsRejectWrongTypesCleanly(t *testing.T) {
	db := testDB(t)
	admin := db.Client().Database("admin")
	seedNumbers(t, db.Collection("c"), 3)
	full := db.Name() + ".c"
	templates := []struct {
		db  *mongo.Database
		cmd bson.D
	}{
		{db, bson.D{{Key: "insert", Value: "w"}, {Key: "documents", Value: bson.A{bson.D{{Key: "a", Value: 1}}}}, {Key: "ordered", Value: true}}},
		{db, bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{}}, {Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "z", Value: 1}}}}}, {Key: "multi", Value: true}, {Key: "upsert", Value: false}, {Key: "arrayFilters", Value: bson.A{}}, {Key: "hint", Value: "_id_"}, {Key: "sort", Value: nil}}}}}},
		{db, bson.D{{Key: "delete", Value: "w"}, {Key: "deletes", Value: bson.A{bson.D{{Key: "q", Value: bson.D{{Key: "a", Value: 9}}}, {Key: "limit", Value: 0}}}}}},
		{db, bson.D{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{}}, {Key: "sort", Value: bson.D{{Key: "x", Value: 1}}}, {Key: "projection", Value: bson.D{{Key: "x", Value: 1}}}, {Key: "skip", Value: 0}, {Key: "limit", Value: 2}, {Key: "batchSize", Value: 1}, {Key: "singleBatch", Value: false}, {Key: "hint", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "let", Value: bson.D{}}}},
		{db, bson.D{{Key: "findAndModify", Value: "c"}, {Key: "query", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "sort", Value: bson.D{}}, {Key: "update", Value: bson.D{{Key: "$inc", Value: bson.D{{Key: "x", Value: 1}}}}}, {Key: "new", Value: true}, {Key: "fields", Value: bson.D{}}, {Key: "upsert", Value: false}}},
		{db, bson.D{{Key: "count", Value: "c"}, {Key: "query", Value: bson.D{}}, {Key: "skip", Value: 0}, {Key: "limit", Value: 0}}},
		{db, bson.D{{Key: "distinct", Value: "c"}, {Key: "key", Value: "x"}, {Key: "query", Value: bson.D{}}}},
		{db, bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$match", Value: bson.D{}}}}}, {Key: "cursor", Value: bson.D{{Key: "batchSize", Value: 1}}}, {Key: "let", Value: bson.D{}}}},
		{db, bson.D{{Key: "aggregate", Value: 1}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$changeStream", Value: bson.D{}}}}}, {Key: "cursor", Value: bson.D{}}}},
		{db, bson.D{{Key: "create", Value: "n"}, {Key: "changeStreamPreAndPostImages", Value: bson.D{{Key: "enabled", Value: true}}}, {Key: "validator", Value: bson.D{}}}},
		{db, bson.D{{Key: "create", Value: "v"}, {Key: "viewOn", Value: "c"}, {Key: "pipeline", Value: bson.A{}}}},
		{db, bson.D{{Key: "collMod", Value: "c"}, {Key: "changeStreamPreAndPostImages", Value: bson.D{{Key: "enabled", Value: false}}}}},
		{db, bson.D{{Key: "createIndexes", Value: "c"}, {Key: "indexes", Value: bson.A{bson.D{{Key: "key", Value: bson.D{{Key: "x", Value: 1}}}, {Key: "name", Value: "x_1"}, {Key: "unique", Value: false}, {Key: "partialFilterExpression", Value: bson.D{}}, {Key: "expireAfterSeconds", Value: 10}}}}}},
		{db, bson.D{{Key: "listIndexes", Value: "c"}, {Key: "cursor", Value: bson.D{}}}},
		{db, bson.D{{Key: "dropIndexes", Value: "c"}, {Key: "index", Value: "nope"}}},
		{db, bson.D{{Key: "listCollections", Value: 1}, {Key: "filter", Value: bson.D{}}, {Key: "nameOnly", Value: false}, {Key: "cursor", Value: bson.D{}}}},
		{admin, bson.D{{Key: "listDatabases", Value: 1}, {Key: "filter", Value: bson.D{}}, {Key: "nameOnly", Value: false}}},
		{db, bson.D{{Key: "drop", Value: "gone"}}},
		{admin, bson.D{{Key: "renameCollection", Value: full + "x"}, {Key: "to", Value: full + "y"}, {Key: "dropTarget", Value: false}}},
		{db, bson.D{{Key: "dbStats", Value: 1}, {Key: "scale", Value: 1}}},
		{db, bson.D{{Key: "collStats", Value: "c"}, {Key: "scale", Value: 1}}},
		{admin, bson.D{{Key: "bulkWrite", Value: 1}, {Key: "ops", Value: bson.A{bson.D{{Key: "insert", Value: 0}, {Key: "document", Value: bson.D{}}}}}, {Key: "nsInfo", Value: bson.A{bson.D{{Key: "ns", Value: db.Name() + ".w"}}}}}},
	}
	values := []any{nil, int32(-1), int64(1 << 40), 2.5, "", "x.$y", true, bson.D{}, bson.D{{Key: "$bad", Value: bson.A{}}},
		bson.A{}, bson.A{int32(1), "a"}, bson.A{bson.D{{Key: "q", Value: 1}}}, bson.Binary{Data: []byte{1}}, bson.MinKey{}}
	ctx := testCtx(t)
	for _, tmpl := range templates {
		for i := range tmpl.cmd {
			for _, v := range values {
				cmd := append(bson.D{}, tmpl.cmd...)
				cmd[i] = bson.E{Key: cmd[i].Key, Value: v}
				// A cursor the command opens is killed with its client.
				err := tmpl.db.RunCommand(ctx, cmd).Err()
				var ce mongo.CommandError
				var we mongo.WriteException
				switch {
				case err == nil, errors.As(err, &we):
				case errors.As(err, &ce):
					if ce.Code == 1 || ce.Code == 0 {
						t.Errorf("%s: %v", fmt.Sprint(cmd), err)
					}
				default:
					t.Fatalf("%v: not a server error (connection lost?): %v", cmd, err)
				}
			}
		}
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err(); err != nil {
		t.Fatal(err)
	}
}
