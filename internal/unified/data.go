package unified

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// loadInitialData drops, creates and fills each collection of initialData
// through the internal client with a majority write concern.
func (r *Runner) loadInitialData(ctx context.Context, data []bson.D) error {
	for _, cd := range data {
		dbName, collName := str(cd, "databaseName"), str(cd, "collectionName")
		for _, e := range cd {
			switch e.Key {
			case "databaseName", "collectionName", "documents", "createOptions":
			default:
				return skipf("unsupported initialData field %q", e.Key)
			}
		}
		db := r.internal.Database(dbName, options.Database().SetWriteConcern(writeconcern.Majority()))
		coll := db.Collection(collName)
		if err := coll.Drop(ctx); err != nil {
			return fmt.Errorf("drop %s.%s: %w", dbName, collName, err)
		}
		// RunCommand does not apply the database's write concern, so it is
		// spelled out in the create command.
		create := bson.D{{Key: "create", Value: collName}}
		create = append(create, subdoc(cd, "createOptions")...)
		create = append(create, bson.E{Key: "writeConcern", Value: bson.D{{Key: "w", Value: "majority"}}})
		if err := db.RunCommand(ctx, create).Err(); err != nil {
			return fmt.Errorf("create %s.%s: %w", dbName, collName, err)
		}
		docs := asArray(valueOr(cd, "documents", bson.A{}))
		if len(docs) > 0 {
			if _, err := coll.InsertMany(ctx, []any(docs)); err != nil {
				return fmt.Errorf("insert into %s.%s: %w", dbName, collName, err)
			}
		}
	}
	return nil
}

// checkOutcome compares a collection's final contents, sorted by _id, with
// the expected documents exactly (types included, key order ignored).
func (r *Runner) checkOutcome(ctx context.Context, cd bson.D) error {
	dbName, collName := str(cd, "databaseName"), str(cd, "collectionName")
	coll := r.internal.Database(dbName).Collection(collName,
		options.Collection().SetReadPreference(readpref.Primary()).SetReadConcern(readconcern.Local()))
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return fmt.Errorf("outcome %s.%s: find: %w", dbName, collName, err)
	}
	var got []bson.D
	if err := cur.All(ctx, &got); err != nil {
		return fmt.Errorf("outcome %s.%s: iterate: %w", dbName, collName, err)
	}
	want := asArray(valueOr(cd, "documents", bson.A{}))
	gotA := make(bson.A, len(got))
	for i, d := range got {
		gotA[i] = d
	}
	if len(want) != len(got) {
		return fmt.Errorf("outcome %s.%s: want %d documents %s, got %d: %s", dbName, collName,
			len(want), jsonString(want), len(got), jsonString(gotA))
	}
	for i := range want {
		if !exactEqual(want[i], gotA[i]) {
			return fmt.Errorf("outcome %s.%s[%d]: want %s, got %s", dbName, collName, i, jsonString(want[i]), jsonString(gotA[i]))
		}
	}
	return nil
}
