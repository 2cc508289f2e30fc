package engine

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// allTypes holds every BSON type as bson.Unmarshal into bson.D produces it.
func allTypes(t *testing.T) bson.D {
	dec, err := bson.ParseDecimal128("1.5")
	if err != nil {
		t.Fatal(err)
	}
	return bson.D{
		{Key: "_id", Value: bson.NewObjectID()},
		{Key: "double", Value: 1.5},
		{Key: "string", Value: "héllo"},
		{Key: "doc", Value: bson.D{{Key: "a", Value: int32(1)}, {Key: "b", Value: bson.D{}}}},
		{Key: "arr", Value: bson.A{int32(1), "x", bson.A{}, bson.D{{Key: "z", Value: nil}}}},
		{Key: "bin", Value: bson.Binary{Subtype: 4, Data: []byte{1, 2, 3}}},
		{Key: "undef", Value: bson.Undefined{}},
		{Key: "bool", Value: true},
		{Key: "date", Value: bson.NewDateTimeFromTime(time.UnixMilli(1234567))},
		{Key: "null", Value: nil},
		{Key: "regex", Value: bson.Regex{Pattern: "^a", Options: "i"}},
		{Key: "dbptr", Value: bson.DBPointer{DB: "db.c", Pointer: bson.NewObjectID()}},
		{Key: "js", Value: bson.JavaScript("function(){}")},
		{Key: "sym", Value: bson.Symbol("s")},
		{Key: "cws", Value: bson.CodeWithScope{Code: "x", Scope: bson.D{{Key: "x", Value: int32(1)}}}},
		{Key: "int32", Value: int32(-5)},
		{Key: "ts", Value: bson.Timestamp{T: 5, I: 6}},
		{Key: "int64", Value: int64(1) << 40},
		{Key: "dec", Value: dec},
		{Key: "min", Value: bson.MinKey{}},
		{Key: "max", Value: bson.MaxKey{}},
	}
}

func TestCodecMatchesDriver(t *testing.T) {
	doc := allTypes(t)
	want, err := bson.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := encodeDoc(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encodeDoc differs from bson.Marshal:\n%x\n%x", got, want)
	}
	var viaDriver bson.D
	if err := bson.Unmarshal(want, &viaDriver); err != nil {
		t.Fatal(err)
	}
	mine, err := decodeDoc(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(mine, viaDriver) {
		t.Fatalf("decodeDoc differs from bson.Unmarshal:\n%#v\n%#v", mine, viaDriver)
	}
	if _, err := decodeDoc(want[:len(want)-3]); err == nil {
		t.Fatal("truncated document decoded")
	}
	if _, err := encodeDoc(bson.D{{Key: "a\x00b", Value: 1}}); err == nil {
		t.Fatal("key with a null byte encoded")
	}
}

func TestIDKey(t *testing.T) {
	if idKey(int32(1)) != idKey(1.0) || idKey(int64(1)) != idKey(int32(1)) {
		t.Fatal("numerically equal ids have different keys")
	}
	if idKey("1") == idKey(int32(1)) || idKey(1.5) == idKey(int32(1)) {
		t.Fatal("different ids share a key")
	}
	raw, _ := bson.Marshal(bson.D{{Key: "_id", Value: "x"}, {Key: "a", Value: int32(1)}})
	want, _ := bson.Marshal(bson.D{{Key: "_id", Value: "x"}})
	if !bytes.Equal(idKeyRaw(raw), want) {
		t.Fatalf("idKeyRaw = %v", bson.Raw(idKeyRaw(raw)))
	}
}
