package embedded

import (
	"reflect"
	"testing"

	"github.com/mongotide/mongotide/embedded/internal/wire"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// every BSON type, nested, as a command body might carry it.
func allTypesDoc() bson.D {
	oid := bson.NewObjectID()
	return bson.D{
		{Key: "insert", Value: "c"},
		{Key: "d", Value: 1.5}, {Key: "s", Value: "str"}, {Key: "empty", Value: ""},
		{Key: "doc", Value: bson.D{{Key: "a", Value: int32(1)}, {Key: "b", Value: bson.D{}}}},
		{Key: "arr", Value: bson.A{int64(1), "x", bson.A{}, bson.D{{Key: "z", Value: nil}}}},
		{Key: "bin", Value: bson.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}},
		{Key: "bin0", Value: bson.Binary{Subtype: 0, Data: []byte{}}},
		{Key: "undef", Value: bson.Undefined{}}, {Key: "oid", Value: oid}, {Key: "t", Value: true}, {Key: "f", Value: false},
		{Key: "dt", Value: bson.DateTime(1700000000000)}, {Key: "null", Value: nil},
		{Key: "re", Value: bson.Regex{Pattern: "^a.*", Options: "im"}},
		{Key: "dbp", Value: bson.DBPointer{DB: "db.c", Pointer: oid}},
		{Key: "js", Value: bson.JavaScript("function(){}")}, {Key: "sym", Value: bson.Symbol("sym")},
		{Key: "cws", Value: bson.CodeWithScope{Code: "x", Scope: bson.D{{Key: "y", Value: int32(2)}}}},
		{Key: "i32", Value: int32(-7)}, {Key: "ts", Value: bson.Timestamp{T: 5, I: 6}}, {Key: "i64", Value: int64(1 << 40)},
		{Key: "dec", Value: bson.NewDecimal128(12, 34)}, {Key: "min", Value: bson.MinKey{}}, {Key: "max", Value: bson.MaxKey{}},
	}
}

func TestDecodeDocMatchesUnmarshal(t *testing.T) {
	raw, err := bson.Marshal(allTypesDoc())
	if err != nil {
		t.Fatal(err)
	}
	assertSameDecode(t, raw)
}

func assertSameDecode(t *testing.T, raw []byte) {
	t.Helper()
	var want bson.D
	wantErr := bson.Unmarshal(raw, &want)
	got, gotErr := decodeDoc(raw)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("decodeDoc error %v, bson.Unmarshal error %v", gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeDoc differs from bson.Unmarshal:\n got %#v\nwant %#v", got, want)
	}
}

// FuzzDecodeDoc: on any document the wire decoder accepts, decodeDoc and
// bson.Unmarshal agree.
func FuzzDecodeDoc(f *testing.F) {
	raw, _ := bson.Marshal(allTypesDoc())
	f.Add(raw)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := wire.Decode(wire.AppendMsg(nil, 1, 0, 0, b))
		if err != nil {
			return
		}
		assertSameDecode(t, m.(*wire.Msg).Body)
	})
}

func BenchmarkDecodeCommand(b *testing.B) {
	raw, _ := bson.Marshal(bson.D{{Key: "insert", Value: "c"}, {Key: "ordered", Value: true},
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
	b.Run("decodeDoc", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeDoc(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
