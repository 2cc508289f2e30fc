package embedded_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestFindOneAndUpdate(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seedNumbers(t, coll, 3)
	inc := bson.D{{Key: "$inc", Value: bson.D{{Key: "x", Value: 1}}}}
	var before, after bson.D
	if err := coll.FindOneAndUpdate(ctx, bson.D{{Key: "x", Value: bson.D{{Key: "$gt", Value: 11}}}}, inc,
		options.FindOneAndUpdate().SetSort(bson.D{{Key: "x", Value: -1}})).Decode(&before); err != nil {
		t.Fatal(err)
	}
	wantJSON(t, before, `{"_id":3,"x":33,"even":false}`)
	if err := coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: 3}}, inc,
		options.FindOneAndUpdate().SetReturnDocument(options.After).SetProjection(bson.D{{Key: "x", Value: 1}, {Key: "_id", Value: 0}})).Decode(&after); err != nil {
		t.Fatal(err)
	}
	wantJSON(t, after, `{"x":35}`)
	err := coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: 99}}, inc).Err()
	if err != mongo.ErrNoDocuments {
		t.Fatalf("want ErrNoDocuments, got %v", err)
	}
	if err := coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: 99}}, inc,
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&after); err != nil {
		t.Fatal(err)
	}
	wantJSON(t, after, `{"_id":99,"x":1}`)
}

func TestFindAndModifyReplyShape(t *testing.T) {
	db := testDB(t)
	seedNumbers(t, db.Collection("c"), 2)
	out := mustRun(t, db, bson.D{{Key: "findAndModify", Value: "c"}, {Key: "query", Value: bson.D{{Key: "_id", Value: 1}}},
		{Key: "update", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "y", Value: 1}}}}}})
	wantJSON(t, get(out, "lastErrorObject"), `{"n":1,"updatedExisting":true}`)
	wantJSON(t, get(out, "value"), `{"_id":1,"x":11,"even":false}`)
	out = mustRun(t, db, bson.D{{Key: "findAndModify", Value: "c"}, {Key: "query", Value: bson.D{{Key: "_id", Value: 7}}},
		{Key: "update", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "y", Value: 1}}}}}, {Key: "upsert", Value: true}})
	wantJSON(t, get(out, "lastErrorObject"), `{"n":1,"updatedExisting":false,"upserted":7}`)
	wantJSON(t, get(out, "value"), `null`)
	out = mustRun(t, db, bson.D{{Key: "findAndModify", Value: "c"}, {Key: "query", Value: bson.D{{Key: "_id", Value: 2}}}, {Key: "remove", Value: true}})
	wantJSON(t, get(out, "lastErrorObject"), `{"n":1}`)
	wantJSON(t, get(out, "value"), `{"_id":2,"x":22,"even":true}`)
	out = mustRun(t, db, bson.D{{Key: "findAndModify", Value: "c"}, {Key: "query", Value: bson.D{{Key: "_id", Value: 2}}}, {Key: "remove", Value: true}})
	wantJSON(t, get(out, "lastErrorObject"), `{"n":0}`)
	wantJSON(t, get(out, "value"), `null`)
}

func TestFindOneAndReplaceAndDelete(t *testing.T) {
	db := testDB(t)
	coll := db.Collection("c")
	ctx := testCtx(t)
	seedNumbers(t, coll, 3)
	var d bson.D
	if err := coll.FindOneAndReplace(ctx, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "r", Value: true}},
		options.FindOneAndReplace().SetReturnDocument(options.After)).Decode(&d); err != nil {
		t.Fatal(err)
	}
	wantJSON(t, d, `{"_id":2,"r":true}`)
	if err := coll.FindOneAndDelete(ctx, bson.D{}, options.FindOneAndDelete().SetSort(bson.D{{Key: "_id", Value: -1}})).Decode(&d); err != nil {
		t.Fatal(err)
	}
	wantJSON(t, d, `{"_id":3,"x":33,"even":false}`)
	n, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil || n != 2 {
		t.Fatalf("count %d %v", n, err)
	}
}

func TestFindAndModifyErrors(t *testing.T) {
	db := testDB(t)
	seedNumbers(t, db.Collection("c"), 2)
	fam := func(extra ...bson.E) error {
		_, err := runCommand(t, db, append(bson.D{{Key: "findAndModify", Value: "c"}}, extra...))
		return err
	}
	upd := bson.E{Key: "update", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}}
	rm := bson.E{Key: "remove", Value: true}
	wantCode(t, fam(), 9, "Either an update or remove=true must be specified")
	wantCode(t, fam(upd, rm), 9, "Cannot specify both an update and remove=true")
	wantCode(t, fam(rm, bson.E{Key: "new", Value: true}), 9, "remove")
	wantCode(t, fam(rm, bson.E{Key: "upsert", Value: true}), 9, "upsert")
	wantCode(t, fam(upd, bson.E{Key: "bogus", Value: 1}), 40415, "BSON field 'findAndModify.bogus' is an unknown field.")
	// A duplicate key is a command error with the key pattern and value.
	wantCode(t, fam(bson.E{Key: "query", Value: bson.D{{Key: "_id", Value: 1}}},
		bson.E{Key: "update", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "_id", Value: 2}}}}}), 66, "_id")
	ctx := testCtx(t)
	if _, err := db.Collection("c").Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "x", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
	var ce mongo.CommandError
	err := fam(bson.E{Key: "query", Value: bson.D{{Key: "_id", Value: 1}}}, bson.E{Key: "update", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 22}}}}})
	wantCode(t, err, 11000, "duplicate key")
	_ = ce
}
