package embedded_test

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// TestUnsatisfiableWriteConcernAppliesTheWrite: as on mongod, a write
// concern one node can never satisfy (w greater than the members, or a tag
// the set does not define) does not stop the write; the reply carries a
// writeConcernError, 100 UnsatisfiableWriteConcern or 79
// UnknownReplWriteConcern.
func TestUnsatisfiableWriteConcernAppliesTheWrite(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	for i, tc := range []struct {
		wc   *writeconcern.WriteConcern
		code int
		name string
	}{
		{&writeconcern.WriteConcern{W: 30}, 100, "UnsatisfiableWriteConcern"},
		{&writeconcern.WriteConcern{W: "noSuchTag"}, 79, "UnknownReplWriteConcern"},
	} {
		coll := db.Collection("wc", options.Collection().SetWriteConcern(tc.wc))
		_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}})
		var we mongo.WriteException
		if !errors.As(err, &we) || we.WriteConcernError == nil {
			t.Fatalf("w: %v: got %v, want a writeConcernError", tc.wc.W, err)
		}
		if wce := we.WriteConcernError; wce.Code != tc.code || wce.Name != tc.name {
			t.Errorf("w: %v: writeConcernError %d %s, want %d %s", tc.wc.W, wce.Code, wce.Name, tc.code, tc.name)
		}
		if n, err := db.Collection("wc").CountDocuments(ctx, bson.D{{Key: "_id", Value: i}}); err != nil || n != 1 {
			t.Errorf("w: %v: the write was not applied (count %d, %v)", tc.wc.W, n, err)
		}
	}
}
