package engine

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestCreateCollection(t *testing.T) {
	e := newTestEngine(t, Options{})
	if err := e.CreateCollection(testNS, CollectionOptions{ChangeStreamPreAndPostImages: true}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.CreateCollection(testNS, CollectionOptions{}), CodeNamespaceExists)
	cs := e.ListCollections("db")
	if len(cs) != 1 || cs[0].Name != "c" || !cs[0].Options.ChangeStreamPreAndPostImages || len(cs[0].UUID.Data) != 16 || cs[0].UUID.Subtype != 4 {
		t.Fatalf("ListCollections = %+v", cs)
	}
	doc := cs[0].Doc()
	if field(doc, "type") != "collection" || field(doc, "idIndex") == nil {
		t.Fatalf("Doc = %v", doc)
	}
	es := mustOplog(t, e, Position{})
	if len(es) != 1 || es[0].Op != OpCreate || es[0].NS != testNS {
		t.Fatalf("oplog %+v", es)
	}
}

func TestImplicitCreateAppendsOpCreate(t *testing.T) {
	e := newTestEngine(t, Options{})
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(1)}})
	es := mustOplog(t, e, Position{})
	if len(es) != 2 || es[0].Op != OpCreate || es[1].Op != OpInsert {
		t.Fatalf("oplog %+v", es)
	}
	if !es[0].Pos.TS.After(bson.Timestamp{}) || es[1].Pos.Compare(es[0].Pos) <= 0 {
		t.Fatalf("positions not increasing: %+v %+v", es[0].Pos, es[1].Pos)
	}
}

func TestDropCollectionAndDatabase(t *testing.T) {
	e := newTestEngine(t, Options{})
	mustInsert(t, e, testNS, bson.D{})
	mustInsert(t, e, Namespace{DB: "db", Coll: "d"}, bson.D{})
	mustInsert(t, e, Namespace{DB: "other", Coll: "x"}, bson.D{})
	existed, err := e.DropCollection(testNS)
	if err != nil || !existed {
		t.Fatalf("drop: %v %v", existed, err)
	}
	existed, err = e.DropCollection(testNS)
	if err != nil || existed {
		t.Fatalf("second drop: %v %v", existed, err)
	}
	if got := e.ListDatabases(); len(got) != 2 || got[0].Name != "db" || got[0].Collections != 1 || got[0].Objects != 1 {
		t.Fatalf("ListDatabases = %+v", got)
	}
	last := e.OplogLast()
	if err := e.DropDatabase("db"); err != nil {
		t.Fatal(err)
	}
	es := mustOplog(t, e, last)
	if len(es) != 2 || es[0].Op != OpDrop || es[0].NS.Coll != "d" || es[1].Op != OpDropDatabase || es[1].NS != (Namespace{DB: "db"}) {
		t.Fatalf("oplog after dropDatabase %+v", es)
	}
	if got := e.ListDatabases(); len(got) != 1 || got[0].Name != "other" {
		t.Fatalf("ListDatabases = %+v", got)
	}
	last = e.OplogLast()
	if err := e.DropDatabase("nothing"); err != nil {
		t.Fatal(err)
	}
	if e.OplogLast() != last {
		t.Fatal("dropping a missing database appended entries")
	}
}

func TestRenameCollection(t *testing.T) {
	e := newTestEngine(t, Options{})
	a, b := Namespace{DB: "db", Coll: "a"}, Namespace{DB: "db", Coll: "b"}
	wantCode(t, e.RenameCollection(a, b, false), CodeNamespaceNotFound)
	mustInsert(t, e, a, bson.D{{Key: "_id", Value: int32(1)}})
	mustInsert(t, e, b, bson.D{{Key: "_id", Value: int32(2)}})
	info, _ := e.Collection(a)
	wantCode(t, e.RenameCollection(a, b, false), CodeNamespaceExists)
	wantCode(t, e.RenameCollection(a, a, false), CodeIllegalOperation)
	last := e.OplogLast()
	if err := e.RenameCollection(a, b, true); err != nil {
		t.Fatal(err)
	}
	es := mustOplog(t, e, last)
	if len(es) != 1 || es[0].Op != OpRename || es[0].NS != a || es[0].To != b || es[0].Object == nil {
		t.Fatalf("oplog %+v", es)
	}
	got, ok := e.Collection(b)
	if !ok || string(got.UUID.Data) != string(info.UUID.Data) || got.Count != 1 {
		t.Fatalf("renamed collection %+v", got)
	}
	if _, ok := e.FindByID(b, int32(1)); !ok {
		t.Fatal("document did not move")
	}
	if _, ok := e.Collection(a); ok {
		t.Fatal("source still exists")
	}
	// writes after the rename go to the new name
	mustInsert(t, e, b, bson.D{{Key: "_id", Value: int32(3)}})
	es = mustOplog(t, e, e.OplogFirst())
	if es[len(es)-1].NS != b {
		t.Fatalf("insert after rename logged under %v", es[len(es)-1].NS)
	}
}

func TestCollMod(t *testing.T) {
	e := newTestEngine(t, Options{})
	on := true
	wantCode(t, e.CollMod(testNS, CollModArgs{ChangeStreamPreAndPostImages: &on}), CodeNamespaceNotFound)
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(1)}, {Key: "a", Value: int32(1)}})
	if _, err := e.Update(testNS, UpdateArgs{Filter: bson.D{}, Update: bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: int32(2)}}}}}); err != nil {
		t.Fatal(err)
	}
	last := e.OplogLast()
	if es := mustOplog(t, e, Before(last.TS)); es[0].PreImage != nil || es[0].ImagesEnabled {
		t.Fatalf("pre-image recorded without the option: %+v", es[0])
	}
	if err := e.CollMod(testNS, CollModArgs{ChangeStreamPreAndPostImages: &on}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Update(testNS, UpdateArgs{Filter: bson.D{}, Update: bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: int32(3)}}}}}); err != nil {
		t.Fatal(err)
	}
	es := mustOplog(t, e, last)
	if len(es) != 2 || es[0].Op != OpCollMod {
		t.Fatalf("oplog %+v", es)
	}
	up := es[1]
	if !up.ImagesEnabled || field(decode(t, up.PreImage), "a") != int32(2) || field(decode(t, up.Document), "a") != int32(3) {
		t.Fatalf("update entry %+v", up)
	}
	if up.UpdateDescription == nil || len(up.UpdateDescription.UpdatedFields) != 1 || up.UpdateDescription.UpdatedFields[0].Path != "a" {
		t.Fatalf("update description %+v", up.UpdateDescription)
	}
	if n, err := e.Delete(testNS, nil, 0); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	del := mustOplog(t, e, up.Pos)[0]
	if del.Op != OpDelete || del.Document != nil || field(decode(t, del.PreImage), "a") != int32(3) || field(decode(t, del.DocumentKey), "_id") != int32(1) {
		t.Fatalf("delete entry %+v", del)
	}
}

func TestValidator(t *testing.T) {
	e := newTestEngine(t, Options{})
	if err := e.CreateCollection(testNS, CollectionOptions{Validator: bson.D{{Key: "a", Value: bson.D{{Key: "$exists", Value: true}}}}}); err != nil {
		t.Fatal(err)
	}
	_, err := e.Insert(testNS, bson.D{{Key: "b", Value: 1}})
	wantCode(t, err, CodeDocumentValidationFailure)
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: 1}})
	_, err = e.Update(testNS, UpdateArgs{Update: bson.D{{Key: "$unset", Value: bson.D{{Key: "a", Value: ""}}}}})
	wantCode(t, err, CodeDocumentValidationFailure)
}

func TestIndexes(t *testing.T) {
	e := newTestEngine(t, Options{})
	res, err := e.CreateIndexes(testNS, []IndexSpec{{Key: bson.D{{Key: "a", Value: int32(1)}}, Unique: true}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.CreatedCollectionAutomatically || res.NumIndexesBefore != 1 || res.NumIndexesAfter != 2 {
		t.Fatalf("%+v", res)
	}
	res, err = e.CreateIndexes(testNS, []IndexSpec{{Key: bson.D{{Key: "a", Value: int32(1)}}, Unique: true}})
	if err != nil || res.Note != "all indexes already exist" || res.NumIndexesAfter != 2 || res.CreatedCollectionAutomatically {
		t.Fatalf("repeat: %+v %v", res, err)
	}
	_, err = e.CreateIndexes(testNS, []IndexSpec{{Name: "a_1", Key: bson.D{{Key: "b", Value: int32(1)}}}})
	wantCode(t, err, CodeIndexKeySpecsConflict)
	_, err = e.CreateIndexes(testNS, []IndexSpec{{Name: "a_1", Key: bson.D{{Key: "a", Value: int32(1)}}}})
	wantCode(t, err, CodeIndexOptionsConflict)
	_, err = e.CreateIndexes(testNS, []IndexSpec{{Name: "other", Key: bson.D{{Key: "a", Value: int32(1)}}, Unique: true}})
	wantCode(t, err, CodeIndexOptionsConflict)

	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(1)}, {Key: "a", Value: "x"}})
	_, err = e.Insert(testNS, bson.D{{Key: "_id", Value: int32(2)}, {Key: "a", Value: "x"}})
	de := wantCode(t, err, 11000)
	if want := `E11000 duplicate key error collection: db.c index: a_1 dup key: { a: "x" }`; de.Message != want {
		t.Errorf("errmsg %q want %q", de.Message, want)
	}
	// missing field indexes as null: only one document may lack it
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(3)}})
	_, err = e.Insert(testNS, bson.D{{Key: "_id", Value: int32(4)}})
	wantCode(t, err, 11000)
	// multikey
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(5)}, {Key: "a", Value: bson.A{"p", "q", "p"}}})
	_, err = e.Insert(testNS, bson.D{{Key: "_id", Value: int32(6)}, {Key: "a", Value: "q"}})
	wantCode(t, err, 11000)
	// update into a duplicate fails and changes nothing
	_, err = e.Update(testNS, UpdateArgs{Filter: bson.D{{Key: "_id", Value: int32(1)}}, Update: bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: "p"}}}}})
	wantCode(t, err, 11000)
	if raw, _ := e.FindByID(testNS, int32(1)); field(decode(t, raw), "a") != "x" {
		t.Fatal("failed update changed the document")
	}
	// update moving a key frees the old value
	if _, err := e.Update(testNS, UpdateArgs{Filter: bson.D{{Key: "_id", Value: int32(1)}}, Update: bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: "y"}}}}}); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(7)}, {Key: "a", Value: "x"}})
	// delete frees keys
	if _, err := e.Delete(testNS, bson.D{{Key: "_id", Value: int32(7)}}, 1); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(8)}, {Key: "a", Value: "x"}})

	// building a unique index over duplicates fails
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(9)}, {Key: "b", Value: int32(1)}, {Key: "a", Value: "m"}})
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(10)}, {Key: "b", Value: int32(1)}, {Key: "a", Value: "z"}})
	_, err = e.CreateIndexes(testNS, []IndexSpec{{Key: bson.D{{Key: "b", Value: int32(1)}}, Unique: true}})
	wantCode(t, err, 11000)
	// sparse skips missing fields; non-unique indexes accept duplicates
	if _, err := e.CreateIndexes(testNS, []IndexSpec{{Key: bson.D{{Key: "c", Value: int32(1)}}, Unique: true, Sparse: true}, {Key: bson.D{{Key: "b", Value: int32(-1)}}}}); err != nil {
		t.Fatal(err)
	}
	specs, err := e.ListIndexes(testNS)
	if err != nil || len(specs) != 4 || specs[0].Name != "_id_" || specs[1].Name != "a_1" || specs[2].Name != "c_1" || specs[3].Name != "b_-1" {
		t.Fatalf("ListIndexes = %+v %v", specs, err)
	}
	if d := specs[1].Doc(); field(d, "unique") != true || field(d, "v") != int32(2) {
		t.Fatalf("spec doc %v", d)
	}
	_, err = e.DropIndexes(testNS, []string{"nope"})
	wantCode(t, err, CodeIndexNotFound)
	_, err = e.DropIndexes(testNS, []string{"_id_"})
	wantCode(t, err, CodeInvalidOptions)
	was, err := e.DropIndexByKey(testNS, bson.D{{Key: "b", Value: int32(-1)}})
	if err != nil || was != 4 {
		t.Fatalf("DropIndexByKey %d %v", was, err)
	}
	was, err = e.DropIndexes(testNS, []string{"*"})
	if err != nil || was != 3 {
		t.Fatalf("drop * %d %v", was, err)
	}
	mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: int32(11)}, {Key: "a", Value: "x"}}) // no longer unique
	_, err = e.ListIndexes(Namespace{DB: "db", Coll: "none"})
	wantCode(t, err, CodeNamespaceNotFound)
}

func TestParseIndexSpec(t *testing.T) {
	s, err := ParseIndexSpec(bson.D{{Key: "key", Value: bson.D{{Key: "a", Value: int32(1)}, {Key: "b", Value: int32(-1)}}}, {Key: "unique", Value: true}})
	if err != nil || s.Name != "a_1_b_-1" || !s.Unique {
		t.Fatalf("%+v %v", s, err)
	}
	// A text index as listIndexes reports it (and the journal stores it).
	text := bson.D{{Key: "key", Value: bson.D{{Key: "_fts", Value: "text"}, {Key: "_ftsx", Value: int32(1)}}}, {Key: "name", Value: "t_text"},
		{Key: "weights", Value: bson.D{{Key: "t", Value: int32(1)}}}, {Key: "default_language", Value: "english"}}
	if s, err := ParseIndexSpec(text); err != nil || len(s.Extra) != 2 {
		t.Fatalf("text index: %+v %v", s, err)
	}
	for _, bad := range []bson.D{
		{{Key: "name", Value: "x"}},
		{{Key: "key", Value: bson.D{{Key: "a", Value: "2dsphere"}}}},
	} {
		if _, err := ParseIndexSpec(bad); err == nil {
			t.Errorf("ParseIndexSpec(%v) accepted", bad)
		}
	}
	// Collation and prepareUnique round-trip through Doc (the journal).
	withColl := IndexSpec{Name: "a_1", Key: bson.D{{Key: "a", Value: int32(1)}}, PrepareUnique: true,
		Collation: bson.D{{Key: "locale", Value: "fr"}}}
	back, err := ParseIndexSpec(withColl.Doc())
	if err != nil || !back.PrepareUnique || len(back.Collation) != 1 {
		t.Errorf("round trip of %+v: %+v %v", withColl, back, err)
	}
}
