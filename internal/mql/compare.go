package mql

import (
	"bytes"
	"math"
	"math/big"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Compare orders two values the way MongoDB sorts and compares BSON values:
// first by type bracket (MinKey < Undefined < Null < numbers <
// string/symbol < object < array < binary < ObjectId < bool < date <
// timestamp < regex < DBPointer < JavaScript < code with scope < MaxKey),
// then by value within the bracket. Numbers of all types compare by numeric
// value (NaN equals NaN and is below every other number), strings by bytes
// (no collation), documents field by field (bracket, then name, then value;
// a prefix is smaller), arrays element by element, binaries by length, then
// subtype, then bytes. It returns -1, 0 or +1.
func Compare(a, b any) int { return compareColl(a, b, nil) }

// compareColl is Compare with strings compared under coll (nil: binary).
func compareColl(a, b any, coll *Collation) int {
	// Fast paths for the pairs that dominate real filters and sorts.
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			if coll == nil {
				return strings.Compare(x, y)
			}
			return coll.CompareStrings(x, y)
		}
	case int32:
		switch y := b.(type) {
		case int32:
			return cmpOrdered(x, y)
		case int64:
			return cmpOrdered(int64(x), y)
		}
	case int64:
		switch y := b.(type) {
		case int64:
			return cmpOrdered(x, y)
		case int32:
			return cmpOrdered(x, int64(y))
		}
	case float64:
		if y, ok := b.(float64); ok {
			return compareFloats(x, y)
		}
	case bson.ObjectID:
		if y, ok := b.(bson.ObjectID); ok {
			return bytes.Compare(x[:], y[:])
		}
	}

	ba, bb := TypeBracket(a), TypeBracket(b)
	if ba != bb {
		return cmpOrdered(ba, bb)
	}
	switch ba {
	case BracketNumber:
		return compareNumbers(a, b)
	case BracketString:
		return coll.CompareStrings(stringValue(a), stringValue(b))
	case BracketObject:
		da, _ := asDoc(a)
		db, _ := asDoc(b)
		return compareDocs(da, db, coll)
	case BracketArray:
		aa, _ := asArray(a)
		ab, _ := asArray(b)
		return compareArrays(aa, ab, coll)
	case BracketBinary:
		return compareBinary(a, b)
	case BracketObjectID:
		x, y := a.(bson.ObjectID), b.(bson.ObjectID)
		return bytes.Compare(x[:], y[:])
	case BracketBool:
		return cmpBool(a.(bool), b.(bool))
	case BracketDate:
		return cmpOrdered(a.(bson.DateTime), b.(bson.DateTime))
	case BracketTimestamp:
		x, y := a.(bson.Timestamp), b.(bson.Timestamp)
		if c := cmpOrdered(x.T, y.T); c != 0 {
			return c
		}
		return cmpOrdered(x.I, y.I)
	case BracketRegex:
		x, y := a.(bson.Regex), b.(bson.Regex)
		if c := strings.Compare(x.Pattern, y.Pattern); c != 0 {
			return c
		}
		return strings.Compare(x.Options, y.Options)
	case BracketDBPointer:
		x, y := a.(bson.DBPointer), b.(bson.DBPointer)
		if c := cmpOrdered(len(x.DB), len(y.DB)); c != 0 {
			return c
		}
		if c := strings.Compare(x.DB, y.DB); c != 0 {
			return c
		}
		return bytes.Compare(x.Pointer[:], y.Pointer[:])
	case BracketJavaScript:
		return strings.Compare(string(a.(bson.JavaScript)), string(b.(bson.JavaScript)))
	case BracketCodeScope:
		x, y := a.(bson.CodeWithScope), b.(bson.CodeWithScope)
		if c := strings.Compare(string(x.Code), string(y.Code)); c != 0 {
			return c
		}
		return compareColl(x.Scope, y.Scope, coll)
	}
	// MinKey, MaxKey, null, undefined and unknown types: one value each.
	return 0
}

// Equal reports whether a and b are the same value under Compare: numbers
// are equal across types (int32(1), int64(1), 1.0 and decimal 1 are all
// equal), NaN equals NaN, documents must have the same fields in the same
// order.
func Equal(a, b any) bool {
	return Compare(a, b) == 0
}

type ordered interface {
	~int | ~int32 | ~int64 | ~uint32 | ~float64 | ~string
}

func cmpOrdered[T ordered](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}

func stringValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bson.Symbol:
		return string(x)
	}
	return ""
}

func compareDocs(a, b bson.D, coll *Collation) int {
	for i := 0; ; i++ {
		switch {
		case i == len(a) && i == len(b):
			return 0
		case i == len(a):
			return -1
		case i == len(b):
			return 1
		}
		ea, eb := a[i], b[i]
		if c := cmpOrdered(TypeBracket(ea.Value), TypeBracket(eb.Value)); c != 0 {
			return c
		}
		if c := strings.Compare(ea.Key, eb.Key); c != 0 {
			return c
		}
		if c := compareColl(ea.Value, eb.Value, coll); c != 0 {
			return c
		}
	}
}

func compareArrays(a, b bson.A, coll *Collation) int {
	for i := 0; ; i++ {
		switch {
		case i == len(a) && i == len(b):
			return 0
		case i == len(a):
			return -1
		case i == len(b):
			return 1
		}
		if c := compareColl(a[i], b[i], coll); c != 0 {
			return c
		}
	}
}

func binaryParts(v any) (byte, []byte) {
	switch x := v.(type) {
	case bson.Binary:
		return x.Subtype, x.Data
	case []byte:
		return 0, x
	}
	return 0, nil
}

func compareBinary(a, b any) int {
	sa, da := binaryParts(a)
	sb, db := binaryParts(b)
	if c := cmpOrdered(len(da), len(db)); c != 0 {
		return c
	}
	if c := cmpOrdered(int32(sa), int32(sb)); c != 0 {
		return c
	}
	return bytes.Compare(da, db)
}

// compareFloats orders doubles with NaN equal to itself and below every
// other number, and -0 equal to 0.
func compareFloats(x, y float64) int {
	xn, yn := math.IsNaN(x), math.IsNaN(y)
	switch {
	case xn && yn:
		return 0
	case xn:
		return -1
	case yn:
		return 1
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// compareIntFloat compares an integer with a double exactly, without the
// precision loss of converting a large int64 to float64.
func compareIntFloat(i int64, f float64) int {
	switch {
	case math.IsNaN(f):
		return 1
	case f >= 9.223372036854775808e18:
		return -1
	case f < -9.223372036854775808e18:
		return 1
	}
	t := math.Trunc(f)
	if c := cmpOrdered(i, int64(t)); c != 0 {
		return c
	}
	frac := f - t
	switch {
	case frac > 0:
		return -1
	case frac < 0:
		return 1
	}
	return 0
}

func compareNumbers(a, b any) int {
	_, aDec := a.(bson.Decimal128)
	_, bDec := b.(bson.Decimal128)
	if aDec || bDec {
		return compareExact(a, b)
	}
	ia, aInt := intValue(a)
	ib, bInt := intValue(b)
	switch {
	case aInt && bInt:
		return cmpOrdered(ia, ib)
	case aInt:
		fb, _ := ToFloat(b)
		return compareIntFloat(ia, fb)
	case bInt:
		fa, _ := ToFloat(a)
		return -compareIntFloat(ib, fa)
	}
	fa, _ := ToFloat(a)
	fb, _ := ToFloat(b)
	return compareFloats(fa, fb)
}

// exactNum is a number in a form where any two can be compared exactly:
// NaN, ±Inf, or a rational.
type exactNum struct {
	nan bool
	inf int
	r   *big.Rat
}

func toExact(v any) exactNum {
	if d, ok := v.(bson.Decimal128); ok {
		switch {
		case d.IsNaN():
			return exactNum{nan: true}
		case d.IsInf() != 0:
			return exactNum{inf: d.IsInf()}
		}
		return exactNum{r: decimalRat(d)}
	}
	if i, ok := intValue(v); ok {
		return exactNum{r: new(big.Rat).SetInt64(i)}
	}
	f, _ := ToFloat(v)
	switch {
	case math.IsNaN(f):
		return exactNum{nan: true}
	case math.IsInf(f, 0):
		if f > 0 {
			return exactNum{inf: 1}
		}
		return exactNum{inf: -1}
	}
	return exactNum{r: new(big.Rat).SetFloat64(f)}
}

func compareExact(a, b any) int {
	x, y := toExact(a), toExact(b)
	switch {
	case x.nan && y.nan:
		return 0
	case x.nan:
		return -1
	case y.nan:
		return 1
	case x.inf != 0 || y.inf != 0:
		return cmpOrdered(x.inf, y.inf)
	}
	return x.r.Cmp(y.r)
}
