package mql

import (
	"math"
	"math/big"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Numeric arithmetic shared by update operators ($inc, $mul) and aggregation
// expressions ($add, $multiply, ...). The result type follows the server's
// widening rule: int32 < int64 < double < decimal128, the widest operand
// wins; integer overflow widens int32 to int64, and int64 overflow either
// widens to double (aggregation) or is reported (update operators, which use
// the server's SafeNum and refuse to lose precision silently).

type xNumKind int

const (
	xKindInt32 xNumKind = iota
	xKindInt64
	xKindDouble
	xKindDecimal
)

// xNumKindOf classifies a number; ok is false for non-numbers.
func xNumKindOf(v any) (xNumKind, bool) {
	switch v.(type) {
	case int32, int8, int16, uint8, uint16:
		return xKindInt32, true
	case int64, int, uint32:
		return xKindInt64, true
	case float64, float32:
		return xKindDouble, true
	case bson.Decimal128:
		return xKindDecimal, true
	}
	return 0, false
}

// xNormalizeNumber turns Go native integer/float kinds into the BSON kinds
// the rest of the package produces.
func xNormalizeNumber(v any) any {
	switch x := v.(type) {
	case int:
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			return int32(x)
		}
		return int64(x)
	case int8:
		return int32(x)
	case int16:
		return int32(x)
	case uint8:
		return int32(x)
	case uint16:
		return int32(x)
	case uint32:
		return int64(x)
	case float32:
		return float64(x)
	}
	return v
}

type xArithOp int

const (
	xOpAdd xArithOp = iota
	xOpSub
	xOpMul
)

// xErrIntOverflow is returned by xArith when strict int64 overflow checking
// is on and the result does not fit.
var xErrIntOverflow = &Error{Code: CodeBadValue, CodeName: "BadValue", Message: "integer overflow"}

// xArith computes a op b for two numbers. With strict set, int64 overflow
// returns xErrIntOverflow instead of widening to double.
func xArith(op xArithOp, a, b any, strict bool) (any, error) {
	a, b = xNormalizeNumber(a), xNormalizeNumber(b)
	ka, _ := xNumKindOf(a)
	kb, _ := xNumKindOf(b)
	k := max(ka, kb)
	switch k {
	case xKindInt32, xKindInt64:
		x, _ := intValue(a)
		y, _ := intValue(b)
		var r int64
		var overflow bool
		switch op {
		case xOpAdd:
			r = x + y
			overflow = (x > 0 && y > 0 && r < 0) || (x < 0 && y < 0 && r >= 0)
		case xOpSub:
			r = x - y
			overflow = (x >= 0 && y < 0 && r < 0) || (x < 0 && y > 0 && r >= 0)
		case xOpMul:
			if x != 0 && y != 0 {
				r = x * y
				overflow = r/y != x || (x == -1 && y == math.MinInt64) || (y == -1 && x == math.MinInt64)
			}
		}
		if overflow {
			if strict {
				return nil, xErrIntOverflow
			}
			fx, fy := float64(x), float64(y)
			switch op {
			case xOpAdd:
				return fx + fy, nil
			case xOpSub:
				return fx - fy, nil
			default:
				return fx * fy, nil
			}
		}
		if k == xKindInt32 && r >= math.MinInt32 && r <= math.MaxInt32 {
			return int32(r), nil
		}
		return r, nil
	case xKindDouble:
		x, _ := ToFloat(a)
		y, _ := ToFloat(b)
		switch op {
		case xOpAdd:
			return x + y, nil
		case xOpSub:
			return x - y, nil
		default:
			return x * y, nil
		}
	default:
		xc, xe, okx := xDecParts(a)
		yc, ye, oky := xDecParts(b)
		if !okx || !oky {
			// NaN or infinity in decimal arithmetic: IEEE rules via doubles.
			fx, _ := ToFloat(a)
			fy, _ := ToFloat(b)
			var r float64
			switch op {
			case xOpAdd:
				r = fx + fy
			case xOpSub:
				r = fx - fy
			default:
				r = fx * fy
			}
			return xFloatToDecimal(r), nil
		}
		// Exact decimal arithmetic on coefficient and exponent, as the
		// server's Decimal128 does (1.5 * 2 is 3.0, not 3).
		if op == xOpMul {
			return xDecFrom(new(big.Int).Mul(xc, yc), xe+ye), nil
		}
		e := min(xe, ye)
		xs := new(big.Int).Mul(xc, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(xe-e)), nil))
		ys := new(big.Int).Mul(yc, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(ye-e)), nil))
		if op == xOpSub {
			ys.Neg(ys)
		}
		return xDecFrom(xs.Add(xs, ys), e), nil
	}
}

// xDecParts returns the coefficient and exponent of a number converted to
// decimal128; ok is false for NaN and infinities.
func xDecParts(v any) (*big.Int, int, bool) {
	d := xToDecimal(v)
	if d.IsNaN() || d.IsInf() != 0 {
		return nil, 0, false
	}
	bi, exp, err := d.BigInt()
	if err != nil {
		return nil, 0, false
	}
	return bi, exp, true
}

// xDecFrom builds a decimal128 from a coefficient and exponent, rounding
// the coefficient half-to-even to the 34 digits decimal128 holds.
func xDecFrom(c *big.Int, exp int) bson.Decimal128 {
	if k := len(new(big.Int).Abs(c).String()) - 34; k > 0 {
		div := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(k)), nil)
		q, r := new(big.Int).QuoRem(c, div, new(big.Int))
		half := new(big.Int).Rsh(div, 1)
		cmp := new(big.Int).Abs(r).Cmp(half)
		if cmp > 0 || (cmp == 0 && q.Bit(0) == 1) {
			if c.Sign() < 0 {
				q.Sub(q, big.NewInt(1))
			} else {
				q.Add(q, big.NewInt(1))
			}
		}
		c, exp = q, exp+k
	}
	if d, ok := bson.ParseDecimal128FromBigInt(c, exp); ok {
		return d
	}
	f := new(big.Float).SetPrec(256).SetInt(c)
	f.Mul(f, new(big.Float).SetPrec(256).SetFloat64(math.Pow(10, float64(exp))))
	return xBigFloatToDecimal(f)
}

// xToBigFloat returns a finite number as a big.Float, nil for NaN/Inf.
func xToBigFloat(v any) *big.Float {
	switch x := v.(type) {
	case bson.Decimal128:
		if x.IsNaN() || x.IsInf() != 0 {
			return nil
		}
		f, _, err := big.ParseFloat(x.String(), 10, 256, big.ToNearestEven)
		if err != nil {
			return nil
		}
		return f
	default:
		if i, ok := intValue(v); ok {
			return new(big.Float).SetPrec(256).SetInt64(i)
		}
		f, ok := ToFloat(v)
		if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		return new(big.Float).SetPrec(256).SetFloat64(f)
	}
}

func xBigFloatToDecimal(f *big.Float) bson.Decimal128 {
	d, err := bson.ParseDecimal128(f.Text('g', 34))
	if err != nil {
		return xFloatToDecimal(0)
	}
	return d
}

// xFloatToDecimal converts a double to decimal128 the way the server does
// in arithmetic: rounded to 15 significant digits (0.1 -> 0.100000000000000).
func xFloatToDecimal(f float64) bson.Decimal128 {
	var s string
	switch {
	case math.IsNaN(f):
		s = "NaN"
	case math.IsInf(f, 1):
		s = "Infinity"
	case math.IsInf(f, -1):
		s = "-Infinity"
	case f == 0:
		s = "0"
	default:
		s = strconv.FormatFloat(f, 'e', 14, 64)
	}
	d, _ := bson.ParseDecimal128(s)
	return d
}

// xToDecimal converts any number to a decimal128.
func xToDecimal(v any) bson.Decimal128 {
	if d, ok := v.(bson.Decimal128); ok {
		return d
	}
	if i, ok := intValue(v); ok {
		d, _ := bson.ParseDecimal128FromBigInt(big.NewInt(i), 0)
		return d
	}
	f, _ := ToFloat(v)
	return xFloatToDecimal(f)
}

// uClone deep-copies documents and arrays; other values are immutable.
func uClone(v any) any {
	switch x := v.(type) {
	case bson.D:
		return uCloneD(x)
	case bson.A:
		out := make(bson.A, len(x))
		for i, e := range x {
			out[i] = uClone(e)
		}
		return out
	case []any:
		out := make(bson.A, len(x))
		for i, e := range x {
			out[i] = uClone(e)
		}
		return out
	case bson.M:
		return uCloneD(mapToD(x))
	case map[string]any:
		return uCloneD(mapToD(x))
	}
	return xNormalizeNumber(v)
}

func uCloneD(d bson.D) bson.D {
	if d == nil {
		return nil
	}
	out := make(bson.D, len(d))
	for i, e := range d {
		out[i] = bson.E{Key: e.Key, Value: uClone(e.Value)}
	}
	return out
}

// uIdentical reports whether a and b are the same BSON value including type
// (1 and 1.0 differ, as do field orders): the server's binary equality, used
// to recognize no-op updates.
func uIdentical(a, b any) bool {
	a, b = xNormalizeNumber(a), xNormalizeNumber(b)
	switch x := a.(type) {
	case bson.D:
		y, ok := b.(bson.D)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i].Key != y[i].Key || !uIdentical(x[i].Value, y[i].Value) {
				return false
			}
		}
		return true
	case bson.A:
		y, ok := b.(bson.A)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !uIdentical(x[i], y[i]) {
				return false
			}
		}
		return true
	case float64:
		y, ok := b.(float64)
		return ok && (math.Float64bits(x) == math.Float64bits(y) || (math.IsNaN(x) && math.IsNaN(y)))
	case bson.Binary:
		y, ok := b.(bson.Binary)
		return ok && x.Equal(y)
	case nil:
		return b == nil
	case bson.Null:
		return b == nil || b == bson.Null{}
	case bson.CodeWithScope:
		y, ok := b.(bson.CodeWithScope)
		return ok && x.Code == y.Code && uIdentical(x.Scope, y.Scope)
	case int32, int64, string, bool, bson.ObjectID, bson.DateTime, bson.Timestamp,
		bson.Decimal128, bson.Regex, bson.MinKey, bson.MaxKey, bson.Undefined,
		bson.JavaScript, bson.Symbol, bson.DBPointer:
		return a == b
	}
	if _, ok := b.(bson.D); ok {
		return false
	}
	if _, ok := b.(bson.A); ok {
		return false
	}
	return TypeNumber(a) == TypeNumber(b) && Compare(a, b) == 0
}
