package embedded_test

import (
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestSearchIndexesRefusedAsOutsideAtlas checks that the search-index
// commands and stages fail as on a mongod outside Atlas: code 31082
// SearchNotEnabled, naming Atlas.
func TestSearchIndexesRefusedAsOutsideAtlas(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	coll := db.Collection("c")
	seed(t, coll, bson.D{{Key: "_id", Value: 1}})
	// The driver returns the search-index helpers' errors unwrapped
	// (x/mongo/driver.Error), so they are checked by their text.
	wantSearchNotEnabled := func(err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "(SearchNotEnabled)") || !strings.Contains(err.Error(), "Atlas") {
			t.Fatalf("want SearchNotEnabled naming Atlas, got %v", err)
		}
	}
	_, err := coll.SearchIndexes().CreateOne(ctx, mongo.SearchIndexModel{Definition: bson.D{{Key: "mappings", Value: bson.D{{Key: "dynamic", Value: true}}}}})
	wantSearchNotEnabled(err)
	wantSearchNotEnabled(coll.SearchIndexes().DropOne(ctx, "x"))
	wantSearchNotEnabled(coll.SearchIndexes().UpdateOne(ctx, "x", bson.D{}))
	_, err = coll.SearchIndexes().List(ctx, nil)
	wantCode(t, err, 31082, "Atlas")
	wantCode(t, db.RunCommand(ctx, bson.D{{Key: "createSearchIndexes", Value: "c"}, {Key: "indexes", Value: bson.A{}}}).Err(), 31082, "Atlas")
	_, err = coll.Aggregate(ctx, bson.A{bson.D{{Key: "$search", Value: bson.D{}}}})
	wantCode(t, err, 31082, "Atlas")
}

// TestListLocalSessions checks $listLocalSessions: the sessions this
// server has seen, shaped {_id: {id, uid}, lastUse}, through the rest of
// the pipeline.
func TestListLocalSessions(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	sess, err := db.Client().StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	sctx := mongo.NewSessionContext(ctx, sess)
	if err := db.RunCommand(sctx, bson.D{{Key: "ping", Value: 1}}).Err(); err != nil {
		t.Fatal(err)
	}
	want := sess.ID().Lookup("id")
	cur, err := db.Client().Database("admin").Aggregate(ctx, bson.A{
		bson.D{{Key: "$listLocalSessions", Value: bson.D{}}},
		bson.D{{Key: "$match", Value: bson.D{{Key: "_id.id", Value: want}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []bson.Raw
	if err := cur.All(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("sessions with id %v: %v", want, got)
	}
	if _, _, ok := got[0].Lookup("_id", "uid").BinaryOK(); !ok {
		t.Fatalf("no _id.uid in %v", got[0])
	}
	if _, ok := got[0].Lookup("lastUse").DateTimeOK(); !ok {
		t.Fatalf("no lastUse date in %v", got[0])
	}
}
