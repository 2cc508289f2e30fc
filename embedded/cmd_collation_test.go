package embedded_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// caseInsensitive is strength 2: case is ignored, accents are not.
var caseInsensitive = &options.Collation{Locale: "en_US", Strength: 2}

func seedNames(t *testing.T, coll *mongo.Collection) {
	t.Helper()
	_, err := coll.InsertMany(testCtx(t), []any{
		bson.D{{Key: "_id", Value: 1}, {Key: "name", Value: "alice"}},
		bson.D{{Key: "_id", Value: 2}, {Key: "name", Value: "Alice"}},
		bson.D{{Key: "_id", Value: 3}, {Key: "name", Value: "ALICE"}},
		bson.D{{Key: "_id", Value: 4}, {Key: "name", Value: "bob"}},
		bson.D{{Key: "_id", Value: 5}, {Key: "name", Value: "Álice"}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCollationReadsThroughDriver(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	coll := db.Collection("people")
	seedNames(t, coll)
	filter := bson.D{{Key: "name", Value: "alice"}}

	n, err := coll.CountDocuments(ctx, filter, options.Count().SetCollation(caseInsensitive))
	if err != nil || n != 3 {
		t.Fatalf("count with strength 2 = %d, %v; want 3", n, err)
	}
	if n, err = coll.CountDocuments(ctx, filter); err != nil || n != 1 {
		t.Fatalf("count without collation = %d, %v; want 1", n, err)
	}
	// {_id: ...} and other index shortcuts compare bytes; a collated query
	// must still see every equal string.
	n, err = coll.CountDocuments(ctx, bson.D{{Key: "name", Value: bson.D{{Key: "$in", Value: bson.A{"ALICE", "BOB"}}}}},
		options.Count().SetCollation(caseInsensitive))
	if err != nil || n != 4 {
		t.Fatalf("$in with strength 2 = %d, %v; want 4", n, err)
	}

	cur, err := coll.Find(ctx, bson.D{}, options.Find().
		SetSort(bson.D{{Key: "name", Value: 1}, {Key: "_id", Value: 1}}).
		SetCollation(&options.Collation{Locale: "en"}))
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		ID int `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	var order []int
	for _, d := range docs {
		order = append(order, d.ID)
	}
	// ICU order: lower before upper, accents after the base letter, all
	// "alice"s before "bob" (binary order would put "ALICE" first and
	// "Álice" last).
	if want := []int{1, 2, 3, 5, 4}; !equalInts(order, want) {
		t.Fatalf("collated sort = %v, want %v", order, want)
	}

	vals, err := coll.Distinct(ctx, "name", bson.D{}, options.Distinct().SetCollation(&options.Collation{Locale: "en", Strength: 1})).Raw()
	if err != nil {
		t.Fatal(err)
	}
	arr, _ := vals.Values()
	if len(arr) != 2 {
		t.Fatalf("distinct at strength 1 = %v, want 2 values (alice, bob)", vals)
	}

	agg, err := coll.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$name"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
	}, options.Aggregate().SetCollation(caseInsensitive))
	if err != nil {
		t.Fatal(err)
	}
	var groups []bson.M
	if err := agg.All(ctx, &groups); err != nil {
		t.Fatal(err)
	}
	if len(groups) != 3 { // alice (x3), Álice, bob
		t.Fatalf("$group with strength 2 made %d groups, want 3: %v", len(groups), groups)
	}
}

func TestCollationWritesThroughDriver(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	coll := db.Collection("people")
	seedNames(t, coll)

	res, err := coll.UpdateMany(ctx, bson.D{{Key: "name", Value: "ALICE"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "seen", Value: true}}}},
		options.UpdateMany().SetCollation(caseInsensitive))
	if err != nil || res.ModifiedCount != 3 {
		t.Fatalf("updateMany with strength 2 = %+v, %v; want 3 modified", res, err)
	}
	var got bson.M
	err = coll.FindOneAndUpdate(ctx, bson.D{{Key: "name", Value: "BOB"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "seen", Value: true}}}},
		options.FindOneAndUpdate().SetCollation(caseInsensitive)).Decode(&got)
	if err != nil || got["_id"] != int32(4) {
		t.Fatalf("findOneAndUpdate with strength 2 = %v, %v; want _id 4", got, err)
	}
	del, err := coll.DeleteMany(ctx, bson.D{{Key: "name", Value: "alice"}}, options.DeleteMany().SetCollation(&options.Collation{Locale: "en", Strength: 1}))
	if err != nil || del.DeletedCount != 4 {
		t.Fatalf("deleteMany at strength 1 = %+v, %v; want 4 (accents ignored too)", del, err)
	}

	// bulkWrite statements carry their own collations.
	seedNames(t, db.Collection("bulk"))
	br, err := db.Collection("bulk").BulkWrite(ctx, []mongo.WriteModel{
		mongo.NewDeleteManyModel().SetFilter(bson.D{{Key: "name", Value: "BOB"}}).SetCollation(caseInsensitive),
		mongo.NewUpdateManyModel().SetFilter(bson.D{{Key: "name", Value: "alice"}}).SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}}),
	})
	if err != nil || br.DeletedCount != 1 || br.ModifiedCount != 1 {
		t.Fatalf("bulkWrite = %+v, %v; want 1 deleted (collated), 1 modified (binary)", br, err)
	}
}

func TestCollectionAndViewDefaultCollation(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	if err := db.CreateCollection(ctx, "ci", options.CreateCollection().SetCollation(caseInsensitive)); err != nil {
		t.Fatal(err)
	}
	coll := db.Collection("ci")
	seedNames(t, coll)
	// No collation on the operation: the collection's default applies.
	if n, err := coll.CountDocuments(ctx, bson.D{{Key: "name", Value: "alice"}}); err != nil || n != 3 {
		t.Fatalf("count on a strength 2 collection = %d, %v; want 3", n, err)
	}
	// An explicit simple collation overrides it.
	if n, err := coll.CountDocuments(ctx, bson.D{{Key: "name", Value: "alice"}}, options.Count().SetCollation(&options.Collation{Locale: "simple"})); err != nil || n != 1 {
		t.Fatalf("count with the simple collation = %d, %v; want 1", n, err)
	}

	specs, err := db.ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: "ci"}})
	if err != nil || len(specs) != 1 {
		t.Fatalf("listCollections = %v, %v", specs, err)
	}
	c := specs[0].Options.Lookup("collation")
	if loc, _ := c.Document().Lookup("locale").StringValueOK(); loc != "en_US" {
		t.Fatalf("reported collation = %v, want locale en_US", c)
	}
	if s, _ := c.Document().Lookup("strength").Int32OK(); s != 2 {
		t.Fatalf("reported collation = %v, want strength 2", c)
	}

	// Indexes inherit it; listIndexes reports it.
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "name", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	ixCur, err := coll.Indexes().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ixs []struct {
		Name      string
		Collation *struct{ Locale string }
	}
	if err := ixCur.All(ctx, &ixs); err != nil {
		t.Fatal(err)
	}
	if len(ixs) != 2 || ixs[1].Collation == nil || ixs[1].Collation.Locale != "en_US" {
		t.Fatalf("indexes = %+v, want the name index with locale en_US", ixs)
	}

	// A view has its own collation, which its reads use and may not change.
	if err := db.CreateView(ctx, "v", "ci", mongo.Pipeline{}, options.CreateView().SetCollation(&options.Collation{Locale: "fr"})); err != nil {
		t.Fatal(err)
	}
	if n, err := db.Collection("v").CountDocuments(ctx, bson.D{{Key: "name", Value: "alice"}}); err != nil || n != 1 {
		t.Fatalf("count on a view with locale fr (strength 3) = %d, %v; want 1", n, err)
	}
	_, err = db.Collection("v").CountDocuments(ctx, bson.D{}, options.Count().SetCollation(caseInsensitive))
	if code, _ := serverError(t, err); code != 167 {
		t.Fatalf("overriding a view's collation: code %d, want 167 OptionNotSupportedOnView", code)
	}
}

func TestCollationErrorsThroughDriver(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	coll := db.Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "a", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		collation bson.D
		code      int32
	}{
		{bson.D{{Key: "strength", Value: 2}}, 40414},
		{bson.D{{Key: "locale", Value: "en"}, {Key: "nope", Value: 1}}, 40415},
		{bson.D{{Key: "locale", Value: "en"}, {Key: "strength", Value: 9}}, 9},
		{bson.D{{Key: "locale", Value: "qq_QQ"}}, 2},
	}
	for _, tc := range cases {
		err := db.RunCommand(ctx, bson.D{{Key: "find", Value: "c"}, {Key: "collation", Value: tc.collation}}).Err()
		if code, _ := serverError(t, err); code != tc.code {
			t.Errorf("find with collation %v: code %d, want %d", tc.collation, code, tc.code)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
