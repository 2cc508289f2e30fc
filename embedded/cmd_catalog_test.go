package embedded_test

import (
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestCreateListDropCollections(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	if err := db.CreateCollection(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// Since MongoDB 7.0 creating it again with the same options succeeds.
	if err := db.CreateCollection(ctx, "a"); err != nil {
		t.Fatalf("second create: %v", err)
	}
	err := db.CreateCollection(ctx, "a", options.CreateCollection().SetChangeStreamPreAndPostImages(bson.D{{Key: "enabled", Value: true}}))
	wantCode(t, err, 48, "")
	seed(t, db.Collection("b"), bson.D{{Key: "_id", Value: 1}}) // implicit creation
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	wantJSON(t, names, `["a","b"]`)
	names, err = db.ListCollectionNames(ctx, bson.D{{Key: "name", Value: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	wantJSON(t, names, `["b"]`)
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{{Key: "type", Value: "collection"}, {Key: "name", Value: "a"}})
	if err != nil || len(specs) != 1 {
		t.Fatalf("specs %v %v", specs, err)
	}
	if specs[0].Type != "collection" || specs[0].UUID == nil || specs[0].IDIndex.Name != "_id_" || specs[0].ReadOnly {
		t.Fatalf("spec %+v", specs[0])
	}
	if err := db.Collection("a").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	// Dropping a missing collection succeeds (MongoDB 7.0+).
	if err := db.Collection("a").Drop(ctx); err != nil {
		t.Fatalf("second drop: %v", err)
	}
	out := mustRun(t, db, bson.D{{Key: "drop", Value: "b"}})
	if asInt(t, get(out, "nIndexesWas")) != 1 || get(out, "ns") != db.Name()+".b" {
		t.Fatalf("drop reply %v", out)
	}
	names, err = db.ListCollectionNames(ctx, bson.D{})
	if err != nil || len(names) != 0 {
		t.Fatalf("after drops: %v %v", names, err)
	}
}

func TestListCollectionsNameOnlyAndBatches(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	for _, n := range []string{"c1", "c2", "c3"} {
		if err := db.CreateCollection(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	out := mustRun(t, db, bson.D{{Key: "listCollections", Value: 1}, {Key: "nameOnly", Value: true}, {Key: "cursor", Value: bson.D{{Key: "batchSize", Value: 2}}}})
	cur := get(out, "cursor").(bson.D)
	batch := get(cur, "firstBatch").(bson.A)
	if len(batch) != 2 || asInt(t, get(cur, "id")) == 0 || get(cur, "ns") != db.Name()+".$cmd.listCollections" {
		t.Fatalf("cursor %v", cur)
	}
	first := batch[0].(bson.D)
	if name := get(first, "name"); len(first) != 2 || (name != "c1" && name != "c2" && name != "c3") || get(first, "type") != "collection" {
		t.Fatalf("nameOnly entry %v", first)
	}
	_, err := runCommand(t, db, bson.D{{Key: "listCollections", Value: 1}, {Key: "bogus", Value: 1}})
	wantCode(t, err, 40415, "BSON field 'listCollections.bogus' is an unknown field.")
}

func TestCreateOptions(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	if err := db.CreateCollection(ctx, "img", options.CreateCollection().SetChangeStreamPreAndPostImages(bson.D{{Key: "enabled", Value: true}})); err != nil {
		t.Fatal(err)
	}
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: "img"}})
	if err != nil || len(specs) != 1 {
		t.Fatalf("%v %v", specs, err)
	}
	wantJSON(t, specs[0].Options, `{"changeStreamPreAndPostImages":{"enabled":true}}`)
	// The filter sees options.
	names, err := db.ListCollectionNames(ctx, bson.D{{Key: "options.changeStreamPreAndPostImages.enabled", Value: true}})
	if err != nil {
		t.Fatal(err)
	}
	wantJSON(t, names, `["img"]`)
	mustRun(t, db, bson.D{{Key: "collMod", Value: "img"}, {Key: "changeStreamPreAndPostImages", Value: bson.D{{Key: "enabled", Value: false}}}})
	specs, err = db.ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: "img"}})
	if err != nil || len(specs) != 1 {
		t.Fatalf("%v %v", specs, err)
	}
	// MongoDB keeps {enabled: false}; the embedded server drops the option.
	if opts := specs[0].Options; opts.String() != `{}` && opts.String() != `{"changeStreamPreAndPostImages": {"enabled": false}}` {
		t.Fatalf("options after disabling images: %v", opts)
	}
	_, err = runCommand(t, db, bson.D{{Key: "collMod", Value: "missing"}, {Key: "changeStreamPreAndPostImages", Value: bson.D{{Key: "enabled", Value: true}}}})
	wantCode(t, err, 26, "")

	// Validators are enforced.
	if err := db.CreateCollection(ctx, "v", options.CreateCollection().SetValidator(bson.D{{Key: "age", Value: bson.D{{Key: "$gte", Value: 0}}}})); err != nil {
		t.Fatal(err)
	}
	_, err = db.Collection("v").InsertOne(ctx, bson.D{{Key: "age", Value: -1}})
	wantCode(t, err, 121, "")
	if _, err := db.Collection("v").InsertOne(ctx, bson.D{{Key: "age", Value: 3}}); err != nil {
		t.Fatal(err)
	}

	_, err = runCommand(t, db, bson.D{{Key: "create", Value: "x"}, {Key: "bogus", Value: 1}})
	wantCode(t, err, 40415, "BSON field 'create.bogus' is an unknown field.")
	_, err = runCommand(t, db, bson.D{{Key: "create", Value: "x"}, {Key: "changeStreamPreAndPostImages", Value: bson.D{{Key: "on", Value: true}}}})
	wantCode(t, err, 40415, "on")
}

func TestRenameCollection(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	admin := db.Client().Database("admin")
	seed(t, db.Collection("a"), bson.D{{Key: "_id", Value: 1}})
	seed(t, db.Collection("b"), bson.D{{Key: "_id", Value: 2}})
	full := func(c string) string { return db.Name() + "." + c }
	mustRun(t, admin, bson.D{{Key: "renameCollection", Value: full("a")}, {Key: "to", Value: full("x")}})
	docs := all(t)(db.Collection("x").Find(ctx, bson.D{}))
	wantJSON(t, docs, `[{"_id":1}]`)
	_, err := runCommand(t, admin, bson.D{{Key: "renameCollection", Value: full("x")}, {Key: "to", Value: full("b")}})
	wantCode(t, err, 48, "")
	mustRun(t, admin, bson.D{{Key: "renameCollection", Value: full("x")}, {Key: "to", Value: full("b")}, {Key: "dropTarget", Value: true}})
	docs = all(t)(db.Collection("b").Find(ctx, bson.D{}))
	wantJSON(t, docs, `[{"_id":1}]`)
	_, err = runCommand(t, admin, bson.D{{Key: "renameCollection", Value: full("nope")}, {Key: "to", Value: full("z")}})
	wantCode(t, err, 26, "")
	_, err = runCommand(t, db, bson.D{{Key: "renameCollection", Value: full("b")}, {Key: "to", Value: full("z")}})
	wantCode(t, err, 13, "admin")
	_, err = runCommand(t, admin, bson.D{{Key: "renameCollection", Value: full("b")}})
	wantCode(t, err, 40414, "to")
}

func TestListAndDropDatabases(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	client := db.Client()
	seed(t, db.Collection("c"), bson.D{{Key: "_id", Value: 1}})
	names, err := client.ListDatabaseNames(ctx, bson.D{{Key: "name", Value: db.Name()}})
	if err != nil {
		t.Fatal(err)
	}
	wantJSON(t, names, `["`+db.Name()+`"]`)
	res, err := client.ListDatabases(ctx, bson.D{{Key: "name", Value: db.Name()}})
	if err != nil || len(res.Databases) != 1 || res.Databases[0].Empty || res.Databases[0].SizeOnDisk <= 0 {
		t.Fatalf("%+v %v", res, err)
	}
	_, err = runCommand(t, db, bson.D{{Key: "listDatabases", Value: 1}})
	wantCode(t, err, 13, "admin")
	if err := db.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	names, err = client.ListDatabaseNames(ctx, bson.D{{Key: "name", Value: db.Name()}})
	if err != nil || len(names) != 0 {
		t.Fatalf("after dropDatabase: %v %v", names, err)
	}
}

func TestStats(t *testing.T) {
	db := testDB(t)
	seedNumbers(t, db.Collection("c"), 4)
	out := mustRun(t, db, bson.D{{Key: "dbStats", Value: 1}})
	if asInt(t, get(out, "collections")) != 1 || asInt(t, get(out, "objects")) != 4 || get(out, "db") != db.Name() {
		t.Fatalf("dbStats %v", out)
	}
	out = mustRun(t, db, bson.D{{Key: "collStats", Value: "c"}})
	if asInt(t, get(out, "count")) != 4 || asInt(t, get(out, "nindexes")) != 1 || asInt(t, get(out, "size")) <= 0 {
		t.Fatalf("collStats %v", out)
	}
}

func TestCatalogReplyShapes(t *testing.T) {
	db := testDB(t)
	admin := db.Client().Database("admin")
	seed(t, db.Collection("c"), bson.D{{Key: "_id", Value: 1}})
	out := mustRun(t, admin, bson.D{{Key: "listDatabases", Value: 1}, {Key: "nameOnly", Value: true}, {Key: "filter", Value: bson.D{{Key: "name", Value: db.Name()}}}})
	wantJSON(t, out[:1], `{"databases":[{"name":"`+db.Name()+`"}]}`)
	out = mustRun(t, admin, bson.D{{Key: "listDatabases", Value: 1}, {Key: "filter", Value: bson.D{{Key: "name", Value: db.Name()}}}})
	if get(out, "totalSize") == nil {
		t.Fatalf("listDatabases without nameOnly has no totalSize: %v", out)
	}
	_, err := runCommand(t, db, bson.D{{Key: "collStats", Value: "missing"}})
	wantCode(t, err, 26, "")
	out = mustRun(t, db, bson.D{{Key: "dropDatabase", Value: 1}})
	if get(out, "dropped") != db.Name() {
		t.Fatalf("dropDatabase reply %v", out)
	}
	_, err = runCommand(t, db, bson.D{{Key: "drop", Value: "c"}, {Key: "bogus", Value: 1}})
	wantCode(t, err, 40415, "BSON field 'drop.bogus' is an unknown field.")
}
