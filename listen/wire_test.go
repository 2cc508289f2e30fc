package listen

import (
	"reflect"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// parseWire must read exactly what a reflective Unmarshal into wireEvent
// reads, and reject what it rejects.
func TestParseWireMatchesUnmarshal(t *testing.T) {
	tok := bson.D{{Key: "_data", Value: "8263"}}
	events := []bson.D{
		{{Key: "_id", Value: tok}, {Key: "operationType", Value: "insert"},
			{Key: "clusterTime", Value: bson.Timestamp{T: 7, I: 3}},
			{Key: "wallTime", Value: bson.NewDateTimeFromTime(time.UnixMilli(1700000000123))},
			{Key: "fullDocument", Value: bson.D{{Key: "_id", Value: 1}, {Key: "title", Value: "x"}}},
			{Key: "ns", Value: bson.D{{Key: "db", Value: "d"}, {Key: "coll", Value: "c"}}},
			{Key: "documentKey", Value: bson.D{{Key: "_id", Value: 1}}}},
		{{Key: "_id", Value: tok}, {Key: "operationType", Value: "update"},
			{Key: "ns", Value: bson.D{{Key: "db", Value: "d"}, {Key: "coll", Value: "c"}}},
			{Key: "documentKey", Value: bson.D{{Key: "_id", Value: "k"}}},
			{Key: "fullDocument", Value: nil},
			{Key: "fullDocumentBeforeChange", Value: bson.D{{Key: "n", Value: 2}}},
			{Key: "updateDescription", Value: bson.D{
				{Key: "updatedFields", Value: bson.D{{Key: "n", Value: 3}}},
				{Key: "removedFields", Value: bson.A{"a"}},
				{Key: "truncatedArrays", Value: bson.A{bson.D{{Key: "field", Value: "arr"}, {Key: "newSize", Value: int32(1)}}}}}}},
		{{Key: "_id", Value: tok}, {Key: "operationType", Value: "rename"},
			{Key: "ns", Value: bson.D{{Key: "db", Value: "d"}, {Key: "coll", Value: "c"}}},
			{Key: "to", Value: bson.D{{Key: "db", Value: "d"}, {Key: "coll", Value: "e"}}}},
		{{Key: "_id", Value: nil}, {Key: "operationType", Value: nil}, {Key: "wallTime", Value: nil}},
	}
	for i, d := range events {
		raw, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var want wireEvent
		if err := bson.Unmarshal(raw, &want); err != nil {
			t.Fatalf("event %d: Unmarshal: %v", i, err)
		}
		got, err := parseWire(raw)
		if err != nil {
			t.Fatalf("event %d: parseWire: %v", i, err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("event %d:\n got %#v %#v\nwant %#v %#v", i, *got, got.UpdateDescription, want, want.UpdateDescription)
		}
	}
	for _, bad := range []bson.D{
		{{Key: "operationType", Value: int32(1)}},
		{{Key: "_id", Value: "notadoc"}},
		{{Key: "clusterTime", Value: int64(5)}},
		{{Key: "ns", Value: bson.D{{Key: "db", Value: int32(1)}}}},
	} {
		raw, _ := bson.Marshal(bad)
		var w wireEvent
		if bson.Unmarshal(raw, &w) == nil {
			t.Fatalf("%v: Unmarshal accepts it; the case is not a bad one", bad)
		}
		if _, err := parseWire(raw); err == nil {
			t.Errorf("%v: parseWire accepted a field of the wrong type", bad)
		}
	}
}
