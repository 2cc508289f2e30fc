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
