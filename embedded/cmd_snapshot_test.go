package embedded_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestSnapshotSessionReads(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seedNumbers(t, coll, 2)
	sess, err := db.Client().StartSession(options.Session().SetSnapshot(true))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	sctx := mongo.NewSessionContext(ctx, sess)

	// find, aggregate and distinct read at the session's snapshot.
	if docs := all(t)(coll.Find(sctx, bson.D{})); len(docs) != 2 {
		t.Fatalf("find: %v", docs)
	}
	if sess.SnapshotTime().IsZero() {
		t.Fatal("the reply carried no atClusterTime: the session has no snapshot time")
	}
	if docs := all(t)(coll.Aggregate(sctx, bson.A{bson.D{{Key: "$count", Value: "n"}}})); len(docs) != 1 {
		t.Fatalf("aggregate: %v", docs)
	}
	var xs []int32
	if err := coll.Distinct(sctx, "x", bson.D{}).Decode(&xs); err != nil || len(xs) != 2 {
		t.Fatalf("distinct %v %v", xs, err)
	}

	// Writes and catalog reads are refused with a snapshot read concern.
	_, err = coll.InsertOne(sctx, bson.D{{Key: "_id", Value: 100}})
	if err == nil {
		t.Fatal("insert in a snapshot session succeeded")
	}
	if _, err := db.ListCollectionNames(sctx, bson.D{}); err == nil {
		t.Fatal("listCollections in a snapshot session succeeded")
	}

	// After a write elsewhere the session still reads its snapshot, as
	// MongoDB does within minSnapshotHistoryWindowInSeconds.
	seed(t, coll, bson.D{{Key: "_id", Value: 3}})
	if got := all(t)(coll.Find(sctx, bson.D{})); len(got) != 2 {
		t.Fatalf("snapshot read saw a later write: %v", got)
	}
}
