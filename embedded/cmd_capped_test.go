package embedded_test

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func createCapped(t *testing.T, db *mongo.Database, name string, size, maxDocs int64) *mongo.Collection {
	t.Helper()
	opts := options.CreateCollection().SetCapped(true).SetSizeInBytes(size)
	if maxDocs > 0 {
		opts.SetMaxDocuments(maxDocs)
	}
	if err := db.CreateCollection(testCtx(t), name, opts); err != nil {
		t.Fatal(err)
	}
	return db.Collection(name)
}

func cursorIDs(t *testing.T, cur *mongo.Cursor) []int32 {
	t.Helper()
	var out []int32
	for cur.Next(context.Background()) {
		out = append(out, cur.Current.Lookup("_id").Int32())
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCappedCollectionEvictsOldest checks capped collections as MongoDB
// keeps them: insertion order, the oldest documents evicted past max (or
// size), the options reported by listCollections and collStats.
func TestCappedCollectionEvictsOldest(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	coll := createCapped(t, db, "c", 4000, 3)
	for _, id := range []int32{5, 1, 4, 2, 3} {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
			t.Fatal(err)
		}
	}
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cursorIDs(t, cur); len(got) != 3 || got[0] != 4 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("documents = %v, want [4 2 3] (the three newest, in insertion order)", got)
	}
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: "c"}})
	if err != nil || len(specs) != 1 {
		t.Fatalf("listCollections: %v %v", specs, err)
	}
	opts := specs[0].Options
	if !opts.Lookup("capped").Boolean() || opts.Lookup("size").AsInt64() != 4096 || opts.Lookup("max").AsInt64() != 3 {
		t.Fatalf("options = %v, want capped, size rounded up to 4096, max 3", opts)
	}
	var stats bson.M
	if err := db.RunCommand(ctx, bson.D{{Key: "collStats", Value: "c"}}).Decode(&stats); err != nil {
		t.Fatal(err)
	}
	if stats["capped"] != true || stats["maxSize"] != int64(4096) {
		t.Fatalf("collStats = %v", stats)
	}

	bySize := createCapped(t, db, "s", 256, 0)
	big := make([]byte, 100)
	for i := int32(0); i < 5; i++ {
		if _, err := bySize.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "b", Value: big}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := bySize.CountDocuments(ctx, bson.D{}); n != 2 {
		t.Fatalf("%d documents of ~125 bytes in a 256-byte capped collection, want 2", n)
	}
	_, err = bySize.InsertOne(ctx, bson.D{{Key: "b", Value: make([]byte, 300)}})
	wantCode(t, err, 2, "exceeds cappedMaxSize")

	wantCode(t, db.CreateCollection(ctx, "nosize", options.CreateCollection().SetCapped(true)), 72, "'size' field is required")

	// Storage tuning is kept and reported as given, as mongod does.
	engineOpts := bson.D{{Key: "wiredTiger", Value: bson.D{{Key: "configString", Value: "block_compressor=zlib"}}}}
	tuned := options.CreateCollection().SetStorageEngine(engineOpts).SetDefaultIndexOptions(options.DefaultIndex().SetStorageEngine(engineOpts))
	if err := db.CreateCollection(ctx, "tuned", tuned); err != nil {
		t.Fatal(err)
	}
	specs, err = db.ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: "tuned"}})
	if err != nil || len(specs) != 1 {
		t.Fatalf("listCollections: %v %v", specs, err)
	}
	wantJSON(t, specs[0].Options.Lookup("storageEngine"), `{"wiredTiger":{"configString":"block_compressor=zlib"}}`)
	wantJSON(t, specs[0].Options.Lookup("indexOptionDefaults", "storageEngine"), `{"wiredTiger":{"configString":"block_compressor=zlib"}}`)
}

// TestCappedWritesRefusedInTransaction checks MongoDB's rule that a
// transaction cannot write to a capped collection (reads are allowed).
func TestCappedWritesRefusedInTransaction(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	coll := createCapped(t, db, "c", 4096, 0)
	sess, err := db.Client().StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		return coll.InsertOne(ctx, bson.D{{Key: "x", Value: 1}})
	})
	wantCode(t, err, 263, "capped collection")
}

// TestTailableCursor checks find with tailable: the cursor outlives the
// end of the collection, later getMores return what was inserted since, a
// cursor on an empty collection is dead at once, and one on a collection
// that is not capped is refused.
func TestTailableCursor(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	coll := createCapped(t, db, "c", 1<<16, 0)
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetCursorType(options.Tailable))
	if err != nil {
		t.Fatal(err)
	}
	if cur.ID() != 0 {
		t.Fatalf("tailable cursor on an empty collection has id %d, want 0", cur.ID())
	}
	seed(t, coll, bson.D{{Key: "_id", Value: int32(1)}, {Key: "odd", Value: true}}, bson.D{{Key: "_id", Value: int32(2)}})
	cur, err = coll.Find(ctx, bson.D{{Key: "odd", Value: true}}, options.Find().SetCursorType(options.Tailable))
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	if !cur.TryNext(ctx) || cur.Current.Lookup("_id").Int32() != 1 {
		t.Fatalf("first document: %v %v", cur.Current, cur.Err())
	}
	if cur.TryNext(ctx) || cur.ID() == 0 {
		t.Fatalf("want an empty getMore on a live cursor, got %v (id %d, err %v)", cur.Current, cur.ID(), cur.Err())
	}
	seed(t, coll, bson.D{{Key: "_id", Value: int32(3)}, {Key: "odd", Value: true}}, bson.D{{Key: "_id", Value: int32(4)}})
	if !cur.TryNext(ctx) || cur.Current.Lookup("_id").Int32() != 3 {
		t.Fatalf("after inserts: %v %v", cur.Current, cur.Err())
	}

	plain := db.Collection("plain")
	seed(t, plain, bson.D{{Key: "_id", Value: 1}})
	_, err = plain.Find(ctx, bson.D{}, options.Find().SetCursorType(options.Tailable))
	wantCode(t, err, 2, "tailable cursor requested on non capped collection")
	err = db.RunCommand(ctx, bson.D{{Key: "find", Value: "c"}, {Key: "awaitData", Value: true}}).Err()
	wantCode(t, err, 9, "without also setting 'tailable'")
}

// TestTailableAwaitDataWaitsForInserts checks that a getMore on an
// awaitData cursor waits for a new document and returns it as soon as it
// is inserted, well before maxAwaitTime.
func TestTailableAwaitDataWaitsForInserts(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	coll := createCapped(t, db, "c", 1<<16, 0)
	seed(t, coll, bson.D{{Key: "_id", Value: int32(1)}})
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetCursorType(options.TailableAwait).SetMaxAwaitTime(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	if !cur.Next(ctx) {
		t.Fatal(cur.Err())
	}
	done := make(chan int32, 1)
	go func() {
		if cur.Next(ctx) {
			done <- cur.Current.Lookup("_id").Int32()
		}
		close(done)
	}()
	start := time.Now()
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: int32(2)}}); err != nil {
		t.Fatal(err)
	}
	if id := <-done; id != 2 {
		t.Fatalf("awaited document _id %d (err %v), want 2", id, cur.Err())
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("getMore returned after %v, not when the document was inserted", el)
	}
}

// TestTailableCursorLosesPosition checks code 136 CappedPositionLost when
// the document a tailable cursor stopped at is evicted.
func TestTailableCursorLosesPosition(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	coll := createCapped(t, db, "c", 4096, 2)
	seed(t, coll, bson.D{{Key: "_id", Value: int32(1)}})
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetCursorType(options.Tailable))
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	if !cur.Next(ctx) {
		t.Fatal(cur.Err())
	}
	seed(t, coll, bson.D{{Key: "_id", Value: int32(2)}}, bson.D{{Key: "_id", Value: int32(3)}})
	if cur.TryNext(ctx) {
		t.Fatalf("got %v after the cursor's position was evicted", cur.Current)
	}
	wantCode(t, cur.Err(), 136, "CollectionScan died")
}
