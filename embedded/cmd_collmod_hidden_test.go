package embedded_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestCollModIndexHiddenThroughDriver: collMod {index: {name|keyPattern,
// hidden}} hides and unhides an index, answers hidden_old/hidden_new like
// mongod, and listIndexes reports the flag.
func TestCollModIndexHiddenThroughDriver(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	coll := db.Collection("c")
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "a", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	hidden := func() bool {
		cur, err := coll.Indexes().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ixs []struct {
			Name   string
			Hidden bool
		}
		if err := cur.All(ctx, &ixs); err != nil {
			t.Fatal(err)
		}
		return len(ixs) == 2 && ixs[1].Hidden
	}
	for _, tc := range []struct {
		index bson.D
		old   bool
		want  bool
	}{
		{bson.D{{Key: "name", Value: "a_1"}, {Key: "hidden", Value: true}}, false, true},
		{bson.D{{Key: "keyPattern", Value: bson.D{{Key: "a", Value: 1}}}, {Key: "hidden", Value: false}}, true, false},
	} {
		var reply struct {
			HiddenOld bool `bson:"hidden_old"`
			HiddenNew bool `bson:"hidden_new"`
		}
		err := db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "c"}, {Key: "index", Value: tc.index}}).Decode(&reply)
		if err != nil {
			t.Fatal(err)
		}
		if reply.HiddenOld != tc.old || reply.HiddenNew != tc.want {
			t.Fatalf("collMod %v replied %+v, want hidden_old %v hidden_new %v", tc.index, reply, tc.old, tc.want)
		}
		if got := hidden(); got != tc.want {
			t.Fatalf("after collMod %v listIndexes says hidden %v", tc.index, got)
		}
	}
	err := db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "c"}, {Key: "index", Value: bson.D{{Key: "name", Value: "nope"}, {Key: "hidden", Value: true}}}}).Err()
	if code, _ := serverError(t, err); code != 27 {
		t.Fatalf("hiding a missing index: code %d, want 27 IndexNotFound", code)
	}
}
