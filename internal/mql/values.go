package mql

import (
	"math"
	"math/big"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Type brackets, in BSON comparison order. Values of different brackets
// compare by bracket alone; values in the same bracket compare by value.
// The numbers follow the server's canonicalizeBSONType so that gaps are
// where the server has them.
const (
	BracketMinKey     = -1
	BracketUndefined  = 0
	BracketNull       = 5
	BracketNumber     = 10
	BracketString     = 15 // string and symbol
	BracketObject     = 20
	BracketArray      = 25
	BracketBinary     = 30
	BracketObjectID   = 35
	BracketBool       = 40
	BracketDate       = 45
	BracketTimestamp  = 47
	BracketRegex      = 50
	BracketDBPointer  = 55
	BracketJavaScript = 60
	BracketCodeScope  = 65
	BracketMaxKey     = 127
)

// TypeBracket returns the canonical comparison bracket of v (one of the
// Bracket constants). Go native integer and float kinds count as numbers and
// bson.M as an object so that filters built in Go code behave; any other
// unknown Go type sorts just below MaxKey.
func TypeBracket(v any) int {
	switch v.(type) {
	case nil, bson.Null:
		return BracketNull
	case int32, int64, float64, bson.Decimal128, int, int8, int16, uint8, uint16, uint32, float32:
		return BracketNumber
	case string, bson.Symbol:
		return BracketString
	case bson.D, bson.M, map[string]any:
		return BracketObject
	case bson.A, []any:
		return BracketArray
	case bson.Binary, []byte:
		return BracketBinary
	case bson.ObjectID:
		return BracketObjectID
	case bool:
		return BracketBool
	case bson.DateTime:
		return BracketDate
	case bson.Timestamp:
		return BracketTimestamp
	case bson.Regex:
		return BracketRegex
	case bson.MinKey:
		return BracketMinKey
	case bson.MaxKey:
		return BracketMaxKey
	case bson.Undefined:
		return BracketUndefined
	case bson.DBPointer:
		return BracketDBPointer
	case bson.JavaScript:
		return BracketJavaScript
	case bson.CodeWithScope:
		return BracketCodeScope
	}
	return BracketMaxKey - 1
}

// BSON type numbers, as $type and the aggregation $type operator use them.
const (
	TypeDouble     = 1
	TypeString     = 2
	TypeObject     = 3
	TypeArray      = 4
	TypeBinary     = 5
	TypeUndefined  = 6
	TypeObjectID   = 7
	TypeBool       = 8
	TypeDate       = 9
	TypeNull       = 10
	TypeRegex      = 11
	TypeDBPointer  = 12
	TypeJavaScript = 13
	TypeSymbol     = 14
	TypeCodeScope  = 15
	TypeInt32      = 16
	TypeTimestamp  = 17
	TypeInt64      = 18
	TypeDecimal    = 19
	TypeMinKey     = -1
	TypeMaxKey     = 127
)

// typeNames maps the $type alias names to BSON type numbers ("number" is
// handled separately because it stands for four types).
var typeNames = map[string]int{
	"double": TypeDouble, "string": TypeString, "object": TypeObject,
	"array": TypeArray, "binData": TypeBinary, "undefined": TypeUndefined,
	"objectId": TypeObjectID, "bool": TypeBool, "date": TypeDate,
	"null": TypeNull, "regex": TypeRegex, "dbPointer": TypeDBPointer,
	"javascript": TypeJavaScript, "symbol": TypeSymbol,
	"javascriptWithScope": TypeCodeScope, "int": TypeInt32,
	"timestamp": TypeTimestamp, "long": TypeInt64, "decimal": TypeDecimal,
	"minKey": TypeMinKey, "maxKey": TypeMaxKey,
}

// TypeNumber returns the BSON type number of v (one of the Type constants).
// Go int is reported as int64 (or int32 when it fits, as the driver encodes
// it), float32 as double.
func TypeNumber(v any) int {
	switch x := v.(type) {
	case float64, float32:
		return TypeDouble
	case string:
		return TypeString
	case bson.D, bson.M, map[string]any:
		return TypeObject
	case bson.A, []any:
		return TypeArray
	case bson.Binary, []byte:
		return TypeBinary
	case bson.Undefined:
		return TypeUndefined
	case bson.ObjectID:
		return TypeObjectID
	case bool:
		return TypeBool
	case bson.DateTime:
		return TypeDate
	case nil, bson.Null:
		return TypeNull
	case bson.Regex:
		return TypeRegex
	case bson.DBPointer:
		return TypeDBPointer
	case bson.JavaScript:
		return TypeJavaScript
	case bson.Symbol:
		return TypeSymbol
	case bson.CodeWithScope:
		return TypeCodeScope
	case int32, int8, int16, uint8, uint16:
		return TypeInt32
	case int:
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			return TypeInt32
		}
		return TypeInt64
	case bson.Timestamp:
		return TypeTimestamp
	case int64, uint32:
		return TypeInt64
	case bson.Decimal128:
		return TypeDecimal
	case bson.MinKey:
		return TypeMinKey
	case bson.MaxKey:
		return TypeMaxKey
	}
	return 0
}

// TypeName returns the alias name of v's BSON type as the aggregation $type
// operator reports it ("double", "string", "missing" is the caller's job).
func TypeName(v any) string {
	if name, ok := typeNumberNames[TypeNumber(v)]; ok {
		return name
	}
	return "unknown"
}

// typeNumberNames is typeNames inverted.
var typeNumberNames = func() map[int]string {
	m := make(map[int]string, len(typeNames))
	for name, n := range typeNames {
		m[n] = name
	}
	return m
}()

// TypeAlias resolves a $type alias name to its BSON type number. ok is false
// for unknown names; "number" is not an alias of a single type and is
// reported as not ok.
func TypeAlias(name string) (num int, ok bool) {
	num, ok = typeNames[name]
	return num, ok
}

// IsNumber reports whether v is a BSON number (int32, int64, double,
// decimal128) or a Go native integer/float kind.
func IsNumber(v any) bool {
	switch v.(type) {
	case int32, int64, float64, bson.Decimal128, int, int8, int16, uint8, uint16, uint32, float32:
		return true
	}
	return false
}

// IsNaN reports whether v is a double or decimal NaN.
func IsNaN(v any) bool {
	switch x := v.(type) {
	case float64:
		return math.IsNaN(x)
	case float32:
		return math.IsNaN(float64(x))
	case bson.Decimal128:
		return x.IsNaN()
	}
	return false
}

// ToFloat converts a number to float64 (decimals may lose precision).
// ok is false when v is not a number.
func ToFloat(v any) (f float64, ok bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case bson.Decimal128:
		return decimalToFloat(x), true
	case float32:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	}
	return 0, false
}

// ToInt64 converts a number to int64. Doubles and decimals are truncated
// toward zero; ok is false when v is not a number, is NaN or infinite, or is
// out of int64 range.
func ToInt64(v any) (n int64, ok bool) {
	if i, isInt := intValue(v); isInt {
		return i, true
	}
	f, isNum := ToFloat(v)
	if !isNum || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	f = math.Trunc(f)
	if f < -9.223372036854775808e18 || f >= 9.223372036854775808e18 {
		return 0, false
	}
	return int64(f), true
}

// IsIntegral reports whether v is a number with no fractional part
// (int32 and int64 always; doubles and decimals when whole and finite).
func IsIntegral(v any) bool {
	if _, ok := intValue(v); ok {
		return true
	}
	f, ok := ToFloat(v)
	return ok && !math.IsInf(f, 0) && f == math.Trunc(f)
}

// intValue returns v as int64 when v is an integer kind.
func intValue(v any) (int64, bool) {
	switch x := v.(type) {
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	}
	return 0, false
}

func decimalToFloat(d bson.Decimal128) float64 {
	if d.IsNaN() {
		return math.NaN()
	}
	if inf := d.IsInf(); inf != 0 {
		return math.Inf(inf)
	}
	f, err := strconv.ParseFloat(d.String(), 64)
	if err != nil {
		// ParseFloat reports range errors with ±Inf or 0 already set.
		return f
	}
	return f
}

// decimalRat returns the exact value of a finite decimal.
func decimalRat(d bson.Decimal128) *big.Rat {
	bi, exp, err := d.BigInt()
	if err != nil {
		return new(big.Rat)
	}
	r := new(big.Rat).SetInt(bi)
	if exp != 0 {
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(absInt(exp))), nil)
		if exp > 0 {
			r.Mul(r, new(big.Rat).SetInt(p))
		} else {
			r.Quo(r, new(big.Rat).SetInt(p))
		}
	}
	return r
}

func absInt(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// Truthy reports the aggregation truthiness of v: false, null, undefined,
// missing and numeric zero are false; everything else (including empty
// strings, arrays and documents) is true.
func Truthy(v any) bool {
	switch x := v.(type) {
	case nil, bson.Null, bson.Undefined:
		return false
	case bool:
		return x
	case bson.Decimal128:
		return !isDecimalZero(x)
	}
	if f, ok := ToFloat(v); ok {
		// NaN != 0, so NaN is true, as on the server.
		return f != 0
	}
	return true
}

func isDecimalZero(d bson.Decimal128) bool {
	if d.IsNaN() || d.IsInf() != 0 {
		return false
	}
	bi, _, err := d.BigInt()
	return err == nil && bi.Sign() == 0
}

// IsNullish reports whether v is null or undefined (missing is the caller's
// job: it has no value to pass).
func IsNullish(v any) bool {
	switch v.(type) {
	case nil, bson.Null, bson.Undefined:
		return true
	}
	return false
}

// asDoc returns v as a bson.D when it is a document, converting bson.M (with
// sorted keys, since a map has no order) so that filters written in Go work.
func asDoc(v any) (bson.D, bool) {
	switch x := v.(type) {
	case bson.D:
		return x, true
	case bson.M:
		return mapToD(x), true
	case map[string]any:
		return mapToD(x), true
	}
	return nil, false
}

// asArray returns v as a bson.A when it is an array.
func asArray(v any) (bson.A, bool) {
	switch x := v.(type) {
	case bson.A:
		return x, true
	case []any:
		return bson.A(x), true
	}
	return nil, false
}

func mapToD(m map[string]any) bson.D {
	d := make(bson.D, 0, len(m))
	for k, v := range m {
		d = append(d, bson.E{Key: k, Value: v})
	}
	sortD(d)
	return d
}

func sortD(d bson.D) {
	// insertion sort: maps in filters are tiny and this avoids importing sort
	// in the hot file.
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j-1].Key > d[j].Key; j-- {
			d[j-1], d[j] = d[j], d[j-1]
		}
	}
}
