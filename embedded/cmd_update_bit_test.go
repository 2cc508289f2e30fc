package embedded_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// $bit through the driver: and/or/xor in order, a missing field starts as
// 0, the change event describes the result, non-integers are refused with
// BadValue (it used to be refused as an unknown modifier: found by
// TestPropWriteEvents).
func TestUpdateBitOperator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	coll := testenv.Client(t).Database("d").Collection("bit")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: int32(13)}, {Key: "f", Value: 1.5}}); err != nil {
		t.Fatal(err)
	}
	cs, err := coll.Watch(ctx, mongo.Pipeline{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(context.Background())
	upd := bson.D{{Key: "$bit", Value: bson.D{
		{Key: "a", Value: bson.D{{Key: "and", Value: int32(10)}, {Key: "or", Value: int64(1)}}},
		{Key: "n", Value: bson.D{{Key: "xor", Value: int32(6)}}},
	}}}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, upd); err != nil {
		t.Fatal(err)
	}
	var got bson.D
	if err := coll.FindOne(ctx, bson.D{}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := bson.D{{Key: "_id", Value: int32(1)}, {Key: "a", Value: int64(9)}, {Key: "f", Value: 1.5}, {Key: "n", Value: int32(6)}}
	if extJSON(got) != extJSON(want) {
		t.Errorf("document %s, want %s", extJSON(got), extJSON(want))
	}
	if !cs.Next(ctx) {
		t.Fatal(cs.Err())
	}
	fields := extJSON(cs.Current.Lookup("updateDescription", "updatedFields").Document())
	if fields != `{"a":9,"n":6}` {
		t.Errorf("updatedFields %s, want {\"a\":9,\"n\":6}", fields)
	}
	_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$bit", Value: bson.D{{Key: "f", Value: bson.D{{Key: "or", Value: int32(1)}}}}}})
	var we mongo.WriteException
	if !errors.As(err, &we) || len(we.WriteErrors) != 1 || we.WriteErrors[0].Code != 2 {
		t.Fatalf("$bit of a double: %v, want BadValue (2)", err)
	}
}
