package mql

import (
	"math"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func dec(t testing.TB, s string) bson.Decimal128 {
	t.Helper()
	d, err := bson.ParseDecimal128(s)
	if err != nil {
		t.Fatalf("ParseDecimal128(%q): %v", s, err)
	}
	return d
}

func TestCompareBracketOrder(t *testing.T) {
	oid := bson.ObjectID{1}
	// One value per bracket, in ascending BSON order.
	ordered := []any{
		bson.MinKey{},
		bson.Undefined{},
		nil,
		math.NaN(),
		int32(-5),
		"",
		bson.D{},
		bson.A{},
		bson.Binary{Data: []byte{}},
		oid,
		false,
		bson.DateTime(0),
		bson.Timestamp{},
		bson.Regex{Pattern: "a"},
		bson.DBPointer{DB: "x", Pointer: oid},
		bson.JavaScript("f"),
		bson.CodeWithScope{Code: "f", Scope: bson.D{}},
		bson.MaxKey{},
	}
	for i := range ordered {
		for j := range ordered {
			want := cmpOrdered(i, j)
			if got := Compare(ordered[i], ordered[j]); got != want {
				t.Errorf("Compare(%#v, %#v) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

func TestCompareValues(t *testing.T) {
	big1 := int64(1<<53 + 1)
	tests := []struct {
		name string
		a, b any
		want int
	}{
		{"int32 vs int64 equal", int32(1), int64(1), 0},
		{"int32 vs double equal", int32(1), 1.0, 0},
		{"int64 vs double equal", int64(1), 1.0, 0},
		{"int vs double less", int32(1), 1.5, -1},
		{"double vs int greater", 2.5, int64(2), 1},
		{"negative fraction", int64(-2), -1.5, -1},
		{"negative fraction other side", -2.5, int32(-2), -1},
		{"large int64 exact vs double", big1, float64(1 << 53), 1},
		{"int64 max vs 2^63 double", int64(math.MaxInt64), 9.223372036854775808e18, -1},
		{"int64 min vs -2^63 double", int64(math.MinInt64), -9.223372036854775808e18, 0},
		{"int vs +inf", int64(math.MaxInt64), math.Inf(1), -1},
		{"int vs -inf", int64(math.MinInt64), math.Inf(-1), 1},
		{"nan equals nan", math.NaN(), math.NaN(), 0},
		{"nan below -inf", math.NaN(), math.Inf(-1), -1},
		{"int above nan", int32(0), math.NaN(), 1},
		{"negative zero equals zero", math.Copysign(0, -1), 0.0, 0},
		{"decimal equals int", dec(t, "1.0"), int32(1), 0},
		{"decimal equals double", dec(t, "0.5"), 0.5, 0},
		{"decimal 0.1 vs double 0.1", dec(t, "0.1"), 0.1, -1}, // double 0.1 is slightly above 1/10
		{"decimal less than int64", dec(t, "-3"), int64(2), -1},
		{"decimal nan vs double nan", dec(t, "NaN"), math.NaN(), 0},
		{"decimal nan smallest", dec(t, "NaN"), dec(t, "-Infinity"), -1},
		{"decimal inf vs double", dec(t, "Infinity"), 1e308, 1},
		{"decimal inf vs double inf", dec(t, "Infinity"), math.Inf(1), 0},
		{"decimal large exponent", dec(t, "1E+30"), int64(math.MaxInt64), 1},
		{"go int vs int32", 7, int32(7), 0},
		{"float32 vs double", float32(0.5), 0.5, 0},
		{"strings by bytes", "a", "b", -1},
		{"uppercase before lowercase", "Z", "a", -1},
		{"prefix string smaller", "ab", "abc", -1},
		{"symbol equals string", bson.Symbol("x"), "x", 0},
		{"null equals null", nil, bson.Null{}, 0},
		{"undefined below null", bson.Undefined{}, nil, -1},
		{"bool", false, true, -1},
		{"date", bson.DateTime(-1), bson.DateTime(1), -1},
		{"timestamp by T", bson.Timestamp{T: 1, I: 9}, bson.Timestamp{T: 2, I: 0}, -1},
		{"timestamp by I", bson.Timestamp{T: 2, I: 1}, bson.Timestamp{T: 2, I: 0}, 1},
		{"objectid bytes", bson.ObjectID{0, 1}, bson.ObjectID{0, 2}, -1},
		{"binary length first", bson.Binary{Subtype: 9, Data: []byte{1}}, bson.Binary{Subtype: 0, Data: []byte{0, 0}}, -1},
		{"binary subtype second", bson.Binary{Subtype: 1, Data: []byte{9}}, bson.Binary{Subtype: 2, Data: []byte{0}}, -1},
		{"binary bytes last", bson.Binary{Data: []byte{1, 2}}, bson.Binary{Data: []byte{1, 3}}, -1},
		{"regex pattern", bson.Regex{Pattern: "a", Options: "z"}, bson.Regex{Pattern: "b"}, -1},
		{"regex options", bson.Regex{Pattern: "a", Options: "i"}, bson.Regex{Pattern: "a", Options: "m"}, -1},
		{"doc equal across number types", bson.D{{Key: "a", Value: int32(1)}}, bson.D{{Key: "a", Value: 1.0}}, 0},
		{"doc prefix smaller", bson.D{{Key: "a", Value: 1}}, bson.D{{Key: "a", Value: 1}, {Key: "b", Value: 1}}, -1},
		{"doc type before name", bson.D{{Key: "z", Value: 1}}, bson.D{{Key: "a", Value: "x"}}, -1},
		{"doc name before value", bson.D{{Key: "a", Value: 9}}, bson.D{{Key: "b", Value: 1}}, -1},
		{"doc value", bson.D{{Key: "a", Value: 1}}, bson.D{{Key: "a", Value: 2}}, -1},
		{"doc field order matters", bson.D{{Key: "a", Value: 1}, {Key: "b", Value: 1}}, bson.D{{Key: "b", Value: 1}, {Key: "a", Value: 1}}, -1},
		{"empty doc smallest", bson.D{}, bson.D{{Key: "a", Value: nil}}, -1},
		{"bson.M as document", bson.M{"b": 1, "a": 2}, bson.D{{Key: "a", Value: 2}, {Key: "b", Value: 1}}, 0},
		{"array element-wise", bson.A{1, 2}, bson.A{1, 3}, -1},
		{"array prefix", bson.A{1}, bson.A{1, 0}, -1},
		{"array element type", bson.A{"a"}, bson.A{1}, 1},
		{"nested arrays", bson.A{bson.A{1}}, bson.A{bson.A{1.0}}, 0},
		{"code with scope", bson.CodeWithScope{Code: "f", Scope: bson.D{{Key: "a", Value: 1}}}, bson.CodeWithScope{Code: "f", Scope: bson.D{{Key: "a", Value: 2}}}, -1},
		{"dbpointer ns length first", bson.DBPointer{DB: "zz"}, bson.DBPointer{DB: "aaa"}, -1},
		{"minkey equals minkey", bson.MinKey{}, bson.MinKey{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compare(tt.a, tt.b); got != tt.want {
				t.Errorf("Compare(%#v, %#v) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := Compare(tt.b, tt.a); got != -tt.want {
				t.Errorf("Compare(%#v, %#v) = %d, want %d (antisymmetry)", tt.b, tt.a, got, -tt.want)
			}
			if got := Equal(tt.a, tt.b); got != (tt.want == 0) {
				t.Errorf("Equal(%#v, %#v) = %v, want %v", tt.a, tt.b, got, tt.want == 0)
			}
		})
	}
}

func TestValueHelpers(t *testing.T) {
	for _, tt := range []struct {
		v      any
		number bool
		truthy bool
		typ    int
		name   string
	}{
		{int32(0), true, false, TypeInt32, "int"},
		{int64(3), true, true, TypeInt64, "long"},
		{0.0, true, false, TypeDouble, "double"},
		{math.NaN(), true, true, TypeDouble, "double"},
		{dec(t, "0.00"), true, false, TypeDecimal, "decimal"},
		{dec(t, "1"), true, true, TypeDecimal, "decimal"},
		{"", false, true, TypeString, "string"},
		{nil, false, false, TypeNull, "null"},
		{bson.Undefined{}, false, false, TypeUndefined, "undefined"},
		{false, false, false, TypeBool, "bool"},
		{bson.A{}, false, true, TypeArray, "array"},
		{bson.D{}, false, true, TypeObject, "object"},
		{bson.NewDateTimeFromTime(time.Unix(0, 0)), false, true, TypeDate, "date"},
		{bson.MinKey{}, false, true, TypeMinKey, "minKey"},
		{bson.MaxKey{}, false, true, TypeMaxKey, "maxKey"},
		{bson.Symbol("s"), false, true, TypeSymbol, "symbol"},
	} {
		if got := IsNumber(tt.v); got != tt.number {
			t.Errorf("IsNumber(%#v) = %v", tt.v, got)
		}
		if got := Truthy(tt.v); got != tt.truthy {
			t.Errorf("Truthy(%#v) = %v", tt.v, got)
		}
		if got := TypeNumber(tt.v); got != tt.typ {
			t.Errorf("TypeNumber(%#v) = %d, want %d", tt.v, got, tt.typ)
		}
		if got := TypeName(tt.v); got != tt.name {
			t.Errorf("TypeName(%#v) = %q, want %q", tt.v, got, tt.name)
		}
	}
	if f, ok := ToFloat(dec(t, "2.5")); !ok || f != 2.5 {
		t.Errorf("ToFloat(decimal 2.5) = %v, %v", f, ok)
	}
	if _, ok := ToFloat("1"); ok {
		t.Error("ToFloat(string) ok")
	}
	for _, tt := range []struct {
		v  any
		n  int64
		ok bool
	}{
		{int32(-4), -4, true}, {3.9, 3, true}, {-3.9, -3, true}, {math.NaN(), 0, false},
		{math.Inf(1), 0, false}, {1e19, 0, false}, {dec(t, "42"), 42, true}, {"x", 0, false},
	} {
		n, ok := ToInt64(tt.v)
		if n != tt.n || ok != tt.ok {
			t.Errorf("ToInt64(%#v) = %d, %v; want %d, %v", tt.v, n, ok, tt.n, tt.ok)
		}
	}
	if !IsIntegral(2.0) || IsIntegral(2.5) || !IsIntegral(int64(9)) || IsIntegral("2") {
		t.Error("IsIntegral wrong")
	}
	if n, ok := TypeAlias("long"); !ok || n != TypeInt64 {
		t.Errorf("TypeAlias(long) = %d, %v", n, ok)
	}
	if _, ok := TypeAlias("number"); ok {
		t.Error("TypeAlias(number) must not resolve to a single type")
	}
}

// TestCompareTotalOrder checks that Compare is a total preorder (reflexive,
// antisymmetric, transitive) over values chosen to stress the numeric
// bracket (exactness near 2^53 and 2^63, decimals, NaN, signed zeros) and
// nested documents and arrays.
func TestCompareTotalOrder(t *testing.T) {
	vals := []any{
		nil, bson.Undefined{}, bson.MinKey{}, bson.MaxKey{},
		math.NaN(), dec(t, "NaN"), math.Inf(-1), math.Inf(1), dec(t, "-Infinity"), dec(t, "Infinity"),
		0.0, math.Copysign(0, -1), int32(0), int64(0), dec(t, "0"), dec(t, "-0"),
		float64(1 << 53), int64(1<<53 + 1), int64(1 << 53), float64(1<<53 + 2), dec(t, "9007199254740993"),
		int64(math.MaxInt64), int64(math.MinInt64), 9.223372036854775808e18, -9.223372036854775808e18,
		dec(t, "9223372036854775807.5"), 0.1, dec(t, "0.1"), dec(t, "0.10000000000000000555"), int32(-7), -7.5,
		"", "a", "ab", "b", bson.Symbol("a"),
		bson.D{}, bson.D{{Key: "a", Value: int32(1)}}, bson.D{{Key: "a", Value: 1.0}, {Key: "b", Value: nil}},
		bson.D{{Key: "a", Value: "x"}}, bson.D{{Key: "b", Value: int32(0)}},
		bson.A{}, bson.A{int32(1)}, bson.A{1.0, "x"}, bson.A{bson.A{}}, bson.A{nil},
		bson.Binary{Data: []byte{1}}, bson.Binary{Subtype: 2, Data: []byte{0}}, bson.Binary{Data: []byte{0, 0}},
		bson.ObjectID{1}, bson.ObjectID{2}, false, true, bson.DateTime(-5), bson.DateTime(5),
		bson.Timestamp{T: 1}, bson.Timestamp{T: 1, I: 1}, bson.Regex{Pattern: "a"}, bson.Regex{Pattern: "a", Options: "i"},
	}
	for _, a := range vals {
		if Compare(a, a) != 0 {
			t.Errorf("Compare(%v, itself) != 0", a)
		}
		for _, b := range vals {
			ab := Compare(a, b)
			if ab != -Compare(b, a) {
				t.Errorf("antisymmetry: Compare(%v, %v) = %d", a, b, ab)
			}
			for _, c := range vals {
				bc, ac := Compare(b, c), Compare(a, c)
				if ab <= 0 && bc <= 0 && ac > 0 {
					t.Errorf("transitivity: %v <= %v <= %v but Compare(a, c) = %d", a, b, c, ac)
				}
				if ab == 0 && bc == 0 && ac != 0 {
					t.Errorf("transitivity of equality: %v == %v == %v but Compare(a, c) = %d", a, b, c, ac)
				}
			}
		}
	}
}
