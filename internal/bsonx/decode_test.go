package bsonx

import (
	"encoding/binary"
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// allTypesDoc holds every BSON type, nested in documents and arrays.
func allTypesDoc() bson.D {
	oid := bson.NewObjectID()
	return bson.D{
		{Key: "_id", Value: oid},
		{Key: "d", Value: 1.5}, {Key: "s", Value: "str"}, {Key: "empty", Value: ""},
		{Key: "doc", Value: bson.D{{Key: "a", Value: int32(1)}, {Key: "b", Value: bson.D{}}}},
		{Key: "arr", Value: bson.A{int64(1), "x", bson.A{}, bson.D{{Key: "z", Value: nil}},
			bson.Binary{Subtype: 0, Data: []byte("in array")}}},
		{Key: "bin", Value: bson.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}},
		{Key: "bin0", Value: bson.Binary{Subtype: 0, Data: []byte{}}},
		{Key: "oldBinary", Value: bson.Binary{Subtype: 2, Data: []byte("old")}},
		{Key: "undef", Value: bson.Undefined{}}, {Key: "oid", Value: oid}, {Key: "t", Value: true}, {Key: "f", Value: false},
		{Key: "dt", Value: bson.DateTime(1700000000000)}, {Key: "null", Value: nil},
		{Key: "re", Value: bson.Regex{Pattern: "^a.*", Options: "im"}},
		{Key: "dbp", Value: bson.DBPointer{DB: "db.c", Pointer: oid}},
		{Key: "js", Value: bson.JavaScript("function(){}")}, {Key: "sym", Value: bson.Symbol("sym")},
		{Key: "cws", Value: bson.CodeWithScope{Code: "x", Scope: bson.D{{Key: "y", Value: int32(2)},
			{Key: "b", Value: bson.Binary{Subtype: 0, Data: []byte("scope")}}}}},
		{Key: "i32", Value: int32(-7)}, {Key: "ts", Value: bson.Timestamp{T: 5, I: 6}}, {Key: "i64", Value: int64(1 << 40)},
		{Key: "dec", Value: bson.NewDecimal128(12, 34)}, {Key: "min", Value: bson.MinKey{}}, {Key: "max", Value: bson.MaxKey{}},
	}
}

func mustMarshal(t testing.TB, d bson.D) []byte {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertSameDecode checks that Decode, DecodeAliased and bson.Unmarshal
// agree on raw: same value, or all failing.
func assertSameDecode(t *testing.T, raw []byte) {
	t.Helper()
	var want bson.D
	wantErr := bson.Unmarshal(raw, &want)
	for name, decode := range map[string]func([]byte) (bson.D, error){"Decode": Decode, "DecodeAliased": DecodeAliased} {
		got, gotErr := decode(raw)
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("%s error %v, bson.Unmarshal error %v", name, gotErr, wantErr)
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%s differs from bson.Unmarshal:\n got %#v\nwant %#v", name, got, want)
		}
	}
}

func TestDecodeMatchesUnmarshal(t *testing.T) {
	assertSameDecode(t, mustMarshal(t, allTypesDoc()))
	assertSameDecode(t, mustMarshal(t, bson.D{}))
}

func TestDecodeRejectsMalformed(t *testing.T) {
	b := mustMarshal(t, allTypesDoc())
	badTerminator := append([]byte(nil), b...)
	badTerminator[len(badTerminator)-1] = 1
	for _, bad := range [][]byte{nil, {1, 0, 0, 0}, {4, 0, 0, 0, 0}, b[:len(b)-3], badTerminator,
		{10, 0, 0, 0, 0x10, 'a', 0, 1, 0, 0}, // int32 cut short
		{8, 0, 0, 0, 0x10, 'a', 'b', 0},      // key without its terminator
		{8, 0, 0, 0, 0x42, 'a', 0, 0},        // unknown type
	} {
		if _, err := Decode(bad); err == nil {
			t.Fatalf("Decode(%x) accepted malformed BSON", bad)
		}
		if _, err := DecodeAliased(bad); err == nil {
			t.Fatalf("DecodeAliased(%x) accepted malformed BSON", bad)
		}
	}
}

// Decode must not keep references into its input (callers reuse buffers);
// DecodeAliased must (that is the allocation it saves).
func TestDecodeCopiesBinaryDecodeAliasedDoesNot(t *testing.T) {
	raw := mustMarshal(t, bson.D{{Key: "b", Value: bson.Binary{Subtype: 0, Data: []byte("abc")}}})
	copied, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	aliased, err := DecodeAliased(raw)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		raw[i] = 'z'
	}
	if got := copied[0].Value.(bson.Binary).Data; string(got) != "abc" {
		t.Fatalf("Decode result changed with its input: %q", got)
	}
	if got := aliased[0].Value.(bson.Binary).Data; string(got) != "zzz" {
		t.Fatalf("DecodeAliased copied its binary data: %q", got)
	}
}

func TestDecodeValue(t *testing.T) {
	doc := allTypesDoc()
	raw := bsoncore.Document(mustMarshal(t, doc))
	elems, err := raw.Elements()
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range elems {
		v := e.Value()
		got, rest, err := DecodeValue(v.Type, v.Data)
		if err != nil {
			t.Fatalf("%s: %v", e.Key(), err)
		}
		if len(rest) != 0 {
			t.Fatalf("%s: %d bytes left over", e.Key(), len(rest))
		}
		var want bson.D
		if err := bson.Unmarshal(mustMarshal(t, bson.D{doc[i]}), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want[0].Value) {
			t.Fatalf("%s: got %#v, want %#v", e.Key(), got, want[0].Value)
		}
	}
}

// FuzzDecode: on any single well-formed document, Decode, DecodeAliased
// and bson.Unmarshal agree. Bytes after the document are out of scope: the
// decoders read the document at the start of their input (the wire package
// has already checked lengths), where bson.Unmarshal rejects them.
func FuzzDecode(f *testing.F) {
	f.Add(mustMarshal(f, allTypesDoc()))
	f.Fuzz(func(t *testing.T, b []byte) {
		if bsoncore.Document(b).Validate() != nil || int(binary.LittleEndian.Uint32(b)) != len(b) {
			return
		}
		assertSameDecode(t, b)
	})
}

func BenchmarkDecodeCommand(b *testing.B) {
	raw := mustMarshal(b, bson.D{{Key: "insert", Value: "c"}, {Key: "ordered", Value: true},
		{Key: "lsid", Value: bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}}},
		{Key: "txnNumber", Value: int64(1)}, {Key: "$db", Value: "test"},
		{Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "v", Value: "x"}, {Key: "n", Value: int32(3)}}}}})
	b.Run("Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var d bson.D
			if err := bson.Unmarshal(raw, &d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DecodeAliased", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeAliased(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
