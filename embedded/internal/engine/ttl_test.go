package engine

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestExpireTTL(t *testing.T) {
	e := newTestEngine(t, Options{})
	ten := int32(10)
	if _, err := e.CreateIndexes(testNS, []IndexSpec{{
		Name: "at_1", Key: bson.D{{Key: "at", Value: int32(1)}}, ExpireAfterSeconds: &ten,
		PartialFilterExpression: bson.D{{Key: "keep", Value: bson.D{{Key: "$exists", Value: false}}}},
	}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old := bson.NewDateTimeFromTime(now.Add(-time.Minute))
	fresh := bson.NewDateTimeFromTime(now)
	for _, d := range []bson.D{
		{{Key: "_id", Value: "old"}, {Key: "at", Value: old}},
		{{Key: "_id", Value: "array"}, {Key: "at", Value: bson.A{fresh, old}}},
		{{Key: "_id", Value: "fresh"}, {Key: "at", Value: fresh}},
		{{Key: "_id", Value: "string"}, {Key: "at", Value: "2000-01-01"}},
		{{Key: "_id", Value: "missing"}},
		{{Key: "_id", Value: "partial"}, {Key: "at", Value: old}, {Key: "keep", Value: true}},
	} {
		mustInsert(t, e, testNS, d)
	}
	before := e.OplogLast()
	n, err := e.ExpireTTL(now)
	if err != nil || n != 2 {
		t.Fatalf("expired %d, %v; want 2", n, err)
	}
	var left []any
	for _, d := range findAll(t, e, testNS, bson.D{}) {
		left = append(left, field(d, "_id"))
	}
	if len(left) != 4 {
		t.Fatalf("left %v", left)
	}
	es := mustOplog(t, e, before)
	if len(es) != 2 || es[0].Op != OpDelete || es[1].Op != OpDelete {
		t.Fatalf("oplog after expiry: %+v", es)
	}
}
