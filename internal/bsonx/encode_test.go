package bsonx

import (
	"bytes"
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Encode is the inverse of Decode over every BSON type (null, a bare Go nil
// after decoding, included) and writes the bytes the driver writes.
func TestEncodeInvertsDecode(t *testing.T) {
	raw := mustMarshal(t, allTypesDoc())
	d, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, raw) {
		t.Fatalf("Encode(Decode(raw)) differs from raw:\n got %v\nwant %v", bson.Raw(got), bson.Raw(raw))
	}
	// Each value alone, as MarshalValue: the same bytes as inside the document.
	for _, e := range d {
		typ, data, err := MarshalValue(e.Value)
		if err != nil {
			t.Fatalf("%s: %v", e.Key, err)
		}
		want := bson.Raw(raw).Lookup(e.Key)
		if typ != bsoncore.Type(want.Type) || !bytes.Equal(data, want.Value) {
			t.Errorf("MarshalValue(%s) = %v %x, want %v %x", e.Key, typ, data, want.Type, want.Value)
		}
	}
}

func TestMarshalValueNil(t *testing.T) {
	typ, data, err := MarshalValue(nil)
	if err != nil || typ != bsoncore.TypeNull || len(data) != 0 {
		t.Fatalf("MarshalValue(nil) = %v %x %v, want null", typ, data, err)
	}
	b, err := AppendValueElement(nil, "k", nil)
	if err != nil || !reflect.DeepEqual(b, []byte{0x0A, 'k', 0}) {
		t.Fatalf("AppendValueElement(nil) = %x %v", b, err)
	}
}

func TestEncodeRejectsNullByteInName(t *testing.T) {
	if _, err := Encode(bson.D{{Key: "a\x00b", Value: 1}}); err == nil {
		t.Fatal("a field name with a null byte encoded")
	}
}
