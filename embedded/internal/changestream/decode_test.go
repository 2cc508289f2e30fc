package changestream

import (
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestDecodeDocMatchesUnmarshal(t *testing.T) {
	oid := bson.NewObjectID()
	dec, _ := bson.ParseDecimal128("1.5")
	doc := bson.D{
		{Key: "double", Value: 1.5}, {Key: "string", Value: "s"},
		{Key: "doc", Value: bson.D{{Key: "a", Value: int32(1)}, {Key: "nested", Value: bson.D{}}}},
		{Key: "array", Value: bson.A{int32(1), "two", bson.A{}, bson.D{{Key: "x", Value: nil}}}},
		{Key: "binary", Value: bson.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}},
		{Key: "oldBinary", Value: bson.Binary{Subtype: 2, Data: []byte("old")}},
		{Key: "undefined", Value: bson.Undefined{}}, {Key: "oid", Value: oid},
		{Key: "bool", Value: true}, {Key: "date", Value: bson.DateTime(1_700_000_000_000)},
		{Key: "null", Value: nil}, {Key: "regex", Value: bson.Regex{Pattern: "^a", Options: "i"}},
		{Key: "dbptr", Value: bson.DBPointer{DB: "db.c", Pointer: oid}},
		{Key: "js", Value: bson.JavaScript("f()")}, {Key: "symbol", Value: bson.Symbol("sym")},
		{Key: "cws", Value: bson.CodeWithScope{Code: "g()", Scope: bson.D{{Key: "v", Value: int32(2)}}}},
		{Key: "int32", Value: int32(-3)}, {Key: "ts", Value: bson.Timestamp{T: 5, I: 6}},
		{Key: "int64", Value: int64(1) << 40}, {Key: "decimal", Value: dec},
		{Key: "min", Value: bson.MinKey{}}, {Key: "max", Value: bson.MaxKey{}},
	}
	b := raw(t, doc)
	var want bson.D
	if err := bson.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	got, err := decodeDoc(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeDoc differs from bson.Unmarshal:\n got %#v\nwant %#v", got, want)
	}
	for _, bad := range [][]byte{nil, {1, 0, 0, 0}, b[:len(b)-3], {10, 0, 0, 0, 0x10, 'a', 0, 1, 0, 0}} {
		if _, err := decodeDoc(bad); err == nil {
			t.Fatalf("decodeDoc(%x) accepted malformed BSON", bad)
		}
	}
}
