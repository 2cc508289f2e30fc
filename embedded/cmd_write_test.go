package embedded_test

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestInsertAndFindBack(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	res, err := coll.InsertOne(ctx, bson.D{{Key: "x", Value: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.InsertedID.(bson.ObjectID); !ok {
		t.Fatalf("generated _id: %T", res.InsertedID)
	}
	many, err := coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 2}, {Key: "x", Value: 2}}, bson.D{{Key: "x", Value: 3}, {Key: "_id", Value: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(many.InsertedIDs) != 2 {
		t.Fatalf("InsertedIDs %v", many.InsertedIDs)
	}
	docs := all(t)(coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{2, 3}}}}}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})))
	// _id is stored first whatever the client's field order.
	wantJSON(t, docs, `[{"_id":2,"x":2},{"_id":3,"x":3}]`)
}

func TestInsertReplyShape(t *testing.T) {
	db := testDB(t)
	out := mustRun(t, db, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 2}}}}})
	if asInt(t, get(out, "n")) != 2 || get(out, "writeErrors") != nil {
		t.Fatalf("reply %v", out)
	}
}

func TestInsertOrderedStopsAtFirstError(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seed(t, coll, bson.D{{Key: "_id", Value: 1}})
	_, err := coll.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: 0}},
		bson.D{{Key: "_id", Value: 1}},
		bson.D{{Key: "_id", Value: 2}},
	})
	var be mongo.BulkWriteException
	if !errors.As(err, &be) || len(be.WriteErrors) != 1 {
		t.Fatalf("want one write error, got %v", err)
	}
	we := be.WriteErrors[0]
	if we.Index != 1 || we.Code != 11000 {
		t.Fatalf("write error %+v", we)
	}
	n, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil || n != 2 {
		t.Fatalf("count %d %v, want 2 (0 and 1; 2 never attempted)", n, err)
	}
}

func TestInsertUnorderedContinues(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	out := writeReply(t, db, bson.D{
		{Key: "insert", Value: "c"},
		{Key: "documents", Value: bson.A{
			bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 1}},
			bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "_id", Value: 2}},
		}},
		{Key: "ordered", Value: false},
	})
	if asInt(t, get(out, "n")) != 2 {
		t.Fatalf("n in %v", out)
	}
	wes, _ := get(out, "writeErrors").(bson.A)
	if len(wes) != 2 {
		t.Fatalf("writeErrors %v", out)
	}
	for i, want := range []int64{1, 3} {
		we := wes[i].(bson.D)
		if asInt(t, get(we, "index")) != want || asInt(t, get(we, "code")) != 11000 {
			t.Fatalf("writeErrors[%d] = %v", i, we)
		}
		wantJSON(t, get(we, "keyPattern"), `{"_id":1}`)
		wantJSON(t, get(we, "keyValue"), `{"_id":`+[]string{"1", "2"}[i]+`}`)
		if msg, _ := get(we, "errmsg").(string); msg == "" {
			t.Fatalf("no errmsg in %v", we)
		}
	}
	n, err := db.Collection("c").CountDocuments(ctx, bson.D{})
	if err != nil || n != 2 {
		t.Fatalf("count %d %v", n, err)
	}
}

func TestInsertRejectsBadCommands(t *testing.T) {
	db := testDB(t)
	doc := bson.A{bson.D{{Key: "a", Value: 1}}}
	_, err := runCommand(t, db, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: doc}, {Key: "bogus", Value: 1}})
	wantCode(t, err, 40415, "BSON field 'insert.bogus' is an unknown field.")
	_, err = runCommand(t, db, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: 1}})
	wantCode(t, err, 14, "insert.documents")
	_, err = runCommand(t, db, bson.D{{Key: "insert", Value: "c"}})
	wantCode(t, err, 40414, "insert.documents")
	_, err = runCommand(t, db, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{}}})
	wantCode(t, err, 16, "")
	_, err = runCommand(t, db, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: doc}, {Key: "ordered", Value: "yes"}})
	wantCode(t, err, 14, "insert.ordered")
	// Harmless generic fields are accepted.
	mustRun(t, db, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: doc}, {Key: "comment", Value: "hi"},
		{Key: "writeConcern", Value: bson.D{{Key: "w", Value: 1}}}, {Key: "maxTimeMS", Value: 1000}})
}

func TestInsertRejectsBadDocuments(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: bson.A{1}}})
	wantCode(t, err, 53, "_id")
	// Since MongoDB 5.0 $-prefixed field names may be inserted.
	if _, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "$price", Value: 50}}); err != nil {
		t.Fatal(err)
	}
}

func TestUpdateOperatorsAndCounts(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seed(t, coll,
		bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 1}},
		bson.D{{Key: "_id", Value: 2}, {Key: "x", Value: 2}},
		bson.D{{Key: "_id", Value: 3}, {Key: "x", Value: 2}})
	res, err := coll.UpdateOne(ctx, bson.D{{Key: "x", Value: 2}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "x", Value: 10}}}})
	if err != nil || res.MatchedCount != 1 || res.ModifiedCount != 1 || res.UpsertedID != nil {
		t.Fatalf("UpdateOne %+v %v", res, err)
	}
	res, err = coll.UpdateMany(ctx, bson.D{}, bson.D{{Key: "$set", Value: bson.D{{Key: "y", Value: "a"}}}})
	if err != nil || res.MatchedCount != 3 || res.ModifiedCount != 3 {
		t.Fatalf("UpdateMany %+v %v", res, err)
	}
	// Setting the same value matches but modifies nothing.
	res, err = coll.UpdateMany(ctx, bson.D{}, bson.D{{Key: "$set", Value: bson.D{{Key: "y", Value: "a"}}}})
	if err != nil || res.MatchedCount != 3 || res.ModifiedCount != 0 {
		t.Fatalf("no-op UpdateMany %+v %v", res, err)
	}
	res, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 9}}, bson.D{{Key: "$set", Value: bson.D{{Key: "z", Value: 1}}}}, options.UpdateOne().SetUpsert(true))
	if err != nil || res.MatchedCount != 0 || res.ModifiedCount != 0 || res.UpsertedCount != 1 {
		t.Fatalf("upsert %+v %v", res, err)
	}
	wantJSON(t, res.UpsertedID, `9`)
	docs := all(t)(coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})))
	wantJSON(t, docs, `[{"_id":1,"x":1,"y":"a"},{"_id":2,"x":12,"y":"a"},{"_id":3,"x":2,"y":"a"},{"_id":9,"z":1}]`)
}

func TestUpdateReplyShape(t *testing.T) {
	db := testDB(t)
	seed(t, db.Collection("c"), bson.D{{Key: "_id", Value: 1}})
	out := mustRun(t, db, bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{
		bson.D{{Key: "q", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}}},
		bson.D{{Key: "q", Value: bson.D{{Key: "_id", Value: 2}}}, {Key: "u", Value: bson.D{{Key: "b", Value: 1}}}, {Key: "upsert", Value: true}},
		bson.D{{Key: "q", Value: bson.D{{Key: "_id", Value: 3}}}, {Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}}},
	}}})
	if asInt(t, get(out, "n")) != 2 || asInt(t, get(out, "nModified")) != 1 {
		t.Fatalf("reply %v", out)
	}
	wantJSON(t, get(out, "upserted"), `[{"index":1,"_id":2}]`)
}

func TestReplaceOneAndUpsertWithoutID(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seed(t, coll, bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 1}, {Key: "keep", Value: false}})
	res, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "x", Value: 2}})
	if err != nil || res.MatchedCount != 1 || res.ModifiedCount != 1 {
		t.Fatalf("ReplaceOne %+v %v", res, err)
	}
	res, err = coll.ReplaceOne(ctx, bson.D{{Key: "x", Value: 5}}, bson.D{{Key: "x", Value: 6}}, options.Replace().SetUpsert(true))
	if err != nil || res.UpsertedCount != 1 {
		t.Fatalf("upsert %+v %v", res, err)
	}
	if _, ok := res.UpsertedID.(bson.ObjectID); !ok {
		t.Fatalf("upserted _id %T %v", res.UpsertedID, res.UpsertedID)
	}
	docs := all(t)(coll.Find(ctx, bson.D{{Key: "_id", Value: 1}}))
	wantJSON(t, docs, `[{"_id":1,"x":2}]`)
}

func TestUpdateArrayFilters(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seed(t, coll, bson.D{{Key: "_id", Value: 1}, {Key: "y", Value: bson.A{bson.D{{Key: "b", Value: 3}}, bson.D{{Key: "b", Value: 1}}}}})
	res, err := coll.UpdateOne(ctx, bson.D{}, bson.D{{Key: "$set", Value: bson.D{{Key: "y.$[i].b", Value: 2}}}},
		options.UpdateOne().SetArrayFilters([]any{bson.D{{Key: "i.b", Value: 3}}}))
	if err != nil || res.ModifiedCount != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	docs := all(t)(coll.Find(ctx, bson.D{}))
	wantJSON(t, docs, `[{"_id":1,"y":[{"b":2},{"b":1}]}]`)
}

func TestUpdateErrors(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seed(t, coll, bson.D{{Key: "_id", Value: 1}})
	upd := func(st bson.D, extra ...bson.E) (bson.D, error) {
		return runCommand(t, db, append(bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{st}}}, extra...))
	}
	q := bson.E{Key: "q", Value: bson.D{}}
	set := bson.E{Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}}
	_, err := upd(bson.D{q, set, {Key: "bogus", Value: 1}})
	wantCode(t, err, 40415, "BSON field 'update.updates.bogus' is an unknown field.")
	_, err = upd(bson.D{q})
	wantCode(t, err, 40414, "u")
	_, err = upd(bson.D{q, set}, bson.E{Key: "bogus", Value: 1})
	wantCode(t, err, 40415, "BSON field 'update.bogus' is an unknown field.")
	// A replacement cannot be applied to many documents.
	_, err = coll.UpdateMany(ctx, bson.D{}, bson.A{}) // empty pipeline is fine
	if err != nil {
		t.Fatalf("empty pipeline update: %v", err)
	}
	out := writeReply(t, db, bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{
		bson.D{q, {Key: "u", Value: bson.D{{Key: "x", Value: 1}}}, {Key: "multi", Value: true}}}}})
	wes, _ := get(out, "writeErrors").(bson.A)
	if len(wes) != 1 || asInt(t, get(wes[0].(bson.D), "code")) != 9 {
		t.Fatalf("replacement with multi: %v", out)
	}
	// Unknown update operators are write errors.
	_, err = coll.UpdateOne(ctx, bson.D{}, bson.D{{Key: "$nope", Value: bson.D{{Key: "a", Value: 1}}}})
	if err == nil {
		t.Fatal("unknown operator accepted")
	}
	// A hint must name an existing index.
	_, err = coll.UpdateOne(ctx, bson.D{}, bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}, options.UpdateOne().SetHint("nope_1"))
	wantCode(t, err, 2, "hint")
	if _, err = coll.UpdateOne(ctx, bson.D{}, bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}, options.UpdateOne().SetHint("_id_")); err != nil {
		t.Fatalf("hint _id_: %v", err)
	}
	if _, err = coll.UpdateOne(ctx, bson.D{}, bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}, options.UpdateOne().SetHint(bson.D{{Key: "_id", Value: 1}})); err != nil {
		t.Fatalf("hint {_id: 1}: %v", err)
	}
}

func TestUpdateOneWithSort(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seed(t, coll, bson.D{{Key: "_id", Value: 1}, {Key: "r", Value: 5}}, bson.D{{Key: "_id", Value: 2}, {Key: "r", Value: 9}}, bson.D{{Key: "_id", Value: 3}, {Key: "r", Value: 7}})
	_, err := coll.UpdateOne(ctx, bson.D{}, bson.D{{Key: "$set", Value: bson.D{{Key: "top", Value: true}}}}, options.UpdateOne().SetSort(bson.D{{Key: "r", Value: -1}}))
	if err != nil {
		t.Fatal(err)
	}
	docs := all(t)(coll.Find(ctx, bson.D{{Key: "top", Value: true}}))
	wantJSON(t, ids(docs), `[2]`)
}

func TestDelete(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seed(t, coll, bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 1}}, bson.D{{Key: "_id", Value: 2}, {Key: "x", Value: 1}}, bson.D{{Key: "_id", Value: 3}, {Key: "x", Value: 2}})
	res, err := coll.DeleteOne(ctx, bson.D{{Key: "x", Value: 1}})
	if err != nil || res.DeletedCount != 1 {
		t.Fatalf("DeleteOne %+v %v", res, err)
	}
	res, err = coll.DeleteMany(ctx, bson.D{{Key: "x", Value: bson.D{{Key: "$gte", Value: 1}}}})
	if err != nil || res.DeletedCount != 2 {
		t.Fatalf("DeleteMany %+v %v", res, err)
	}
	res, err = coll.DeleteMany(ctx, bson.D{})
	if err != nil || res.DeletedCount != 0 {
		t.Fatalf("DeleteMany on empty %+v %v", res, err)
	}
	res, err = db.Collection("missing").DeleteMany(ctx, bson.D{})
	if err != nil || res.DeletedCount != 0 {
		t.Fatalf("DeleteMany on missing collection %+v %v", res, err)
	}
	del := func(st bson.D) error {
		_, err := runCommand(t, db, bson.D{{Key: "delete", Value: "c"}, {Key: "deletes", Value: bson.A{st}}})
		return err
	}
	wantCode(t, del(bson.D{{Key: "q", Value: bson.D{}}, {Key: "limit", Value: 2}}), 9, "limit")
	wantCode(t, del(bson.D{{Key: "q", Value: bson.D{}}}), 40414, "limit")
	wantCode(t, del(bson.D{{Key: "q", Value: bson.D{}}, {Key: "limit", Value: 0}, {Key: "x", Value: 1}}), 40415, "BSON field 'delete.deletes.x' is an unknown field.")
}

func TestUpdateWithPipeline(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seed(t, coll, bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: 2}, {Key: "b", Value: 3}})
	res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, mongo.Pipeline{
		bson.D{{Key: "$set", Value: bson.D{{Key: "sum", Value: bson.D{{Key: "$add", Value: bson.A{"$a", "$b"}}}}}}},
		bson.D{{Key: "$unset", Value: "b"}},
	})
	if err != nil || res.ModifiedCount != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	docs := all(t)(coll.Find(ctx, bson.D{}))
	wantJSON(t, docs, `[{"_id":1,"a":2,"sum":5}]`)
}
