package embedded_test

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func TestWritesInsideTransaction(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seed(t, coll, bson.D{{Key: "_id", Value: 1}, {Key: "n", Value: 1}})
	sess, err := db.Client().StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}}); err != nil {
			return nil, err
		}
		if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}); err != nil {
			return nil, err
		}
		// The transaction reads its own writes.
		n, err := coll.CountDocuments(ctx, bson.D{})
		if err != nil {
			return nil, err
		}
		if n != 2 {
			t.Errorf("inside the transaction: %d documents, want 2", n)
		}
		var d bson.D
		if err := coll.FindOneAndDelete(ctx, bson.D{{Key: "_id", Value: 2}}).Decode(&d); err != nil {
			return nil, err
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	docs := all(t)(coll.Find(ctx, bson.D{}))
	wantJSON(t, docs, `[{"_id":1,"n":2}]`)

	// Catalog commands and count are refused inside a transaction.
	for _, cmd := range []bson.D{{{Key: "drop", Value: "c"}}, {{Key: "count", Value: "c"}}} {
		wantCode(t, runInTxn(ctx, t, db, cmd), 263, "")
	}
}

// runInTxn runs cmd inside a transaction that is then aborted.
func runInTxn(ctx context.Context, t *testing.T, db *mongo.Database, cmd bson.D) error {
	t.Helper()
	sess, err := db.Client().StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	if err := sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sess.AbortTransaction(ctx) }()
	return db.RunCommand(mongo.NewSessionContext(ctx, sess), cmd).Err()
}

// A commit's operationTime is the commit's own time (its change events'
// clusterTime), not the cluster time when the reply is made, and a retried
// commit answers the same time after other writes moved the cluster time
// on. (The reply used to carry the cluster time at reply time: a write
// committed just before it was then taken for the transaction's own by a
// client matching change events against its commits, and sync dropped that
// write as an echo of its own.)
func TestCommitOperationTimeIsTheCommits(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seed(t, coll, bson.D{{Key: "_id", Value: 0}})
	cs, err := coll.Watch(ctx, mongo.Pipeline{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(ctx)
	sess, err := db.Client().StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	if err := sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	sctx := mongo.NewSessionContext(ctx, sess)
	if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := sess.CommitTransaction(sctx); err != nil {
		t.Fatal(err)
	}
	committed := *sess.OperationTime()
	if !cs.Next(ctx) {
		t.Fatalf("no change event: %v", cs.Err())
	}
	var ev struct {
		ClusterTime bson.Timestamp `bson:"clusterTime"`
	}
	if err := cs.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	if ev.ClusterTime != committed {
		t.Fatalf("commit operationTime %v, its change event's clusterTime %v", committed, ev.ClusterTime)
	}
	// Writes after the commit move the cluster time; a retried commit
	// still answers the commit's time.
	for i := 2; i < 5; i++ {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	// The driver sends the same commitTransaction again; the session's
	// operationTime only moves forward, so a later time would show.
	if err := sess.CommitTransaction(sctx); err != nil {
		t.Fatal(err)
	}
	if got := *sess.OperationTime(); got != committed {
		t.Fatalf("retried commit: operationTime %v, want the commit's %v", got, committed)
	}
}
