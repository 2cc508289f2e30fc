package embedded_test

import (
	"context"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func collectionNames(t *testing.T, db *mongo.Database) []string {
	t.Helper()
	names, err := db.ListCollectionNames(testCtx(t), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func indexNames(t *testing.T, coll *mongo.Collection) []string {
	t.Helper()
	specs, err := coll.Indexes().ListSpecifications(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range specs {
		out = append(out, s.Name)
	}
	return out
}

// TestCatalogCommandsInTransaction checks MongoDB 4.4's rules: create and
// createIndexes run inside a transaction, their effects appear at commit
// (and never after an abort), and indexes may only be created on a
// collection the transaction creates.
func TestCatalogCommandsInTransaction(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	sess, err := db.Client().StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		if err := db.CreateCollection(ctx, "made"); err != nil {
			return nil, err
		}
		if _, err := db.Collection("made").Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "x", Value: 1}}}); err != nil {
			return nil, err
		}
		if _, err := db.Collection("implicit").Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "y", Value: 1}}}); err != nil {
			return nil, err
		}
		if names := collectionNames(t, db); len(names) != 0 {
			t.Errorf("collections visible outside the transaction before commit: %v", names)
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if names := collectionNames(t, db); !slices.Contains(names, "made") || !slices.Contains(names, "implicit") {
		t.Fatalf("after commit: collections %v", names)
	}
	if ix := indexNames(t, db.Collection("made")); !slices.Contains(ix, "x_1") {
		t.Fatalf("indexes of made: %v", ix)
	}
	if ix := indexNames(t, db.Collection("implicit")); !slices.Contains(ix, "y_1") {
		t.Fatalf("indexes of implicit: %v", ix)
	}

	if err := sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	sctx := mongo.NewSessionContext(ctx, sess)
	_, err = db.Collection("made").Indexes().CreateOne(sctx, mongo.IndexModel{Keys: bson.D{{Key: "z", Value: 1}}})
	wantCode(t, err, 263, "existing collection")
	_ = sess.AbortTransaction(ctx)

	if err := sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateCollection(sctx, "aborted"); err != nil {
		t.Fatal(err)
	}
	if err := sess.AbortTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if names := collectionNames(t, db); slices.Contains(names, "aborted") {
		t.Fatalf("a collection created by an aborted transaction exists: %v", names)
	}
}
