package mql

// Arithmetic expression operators; numeric widening lives in expr_num.go.

import (
	"math"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// xAdd adds numbers, or one date and numbers (milliseconds).
func xAdd(v []any) (any, error) {
	var sum any = int32(0)
	var date *bson.DateTime
	for _, e := range v {
		if xNullish(e) {
			return nil, nil
		}
		if d, ok := e.(bson.DateTime); ok {
			if date != nil {
				return nil, Errorf(16612, "Location16612", "only one date allowed in an $add expression")
			}
			date = &d
			continue
		}
		if !IsNumber(e) {
			return nil, Errorf(CodeTypeMismatch, "TypeMismatch", "$add only supports numeric or date types, not %s", uTypeName(e))
		}
		r, _ := xArith(xOpAdd, sum, e, false)
		sum = r
	}
	if date != nil {
		f, _ := ToFloat(sum)
		return bson.DateTime(int64(*date) + int64(math.Round(f))), nil
	}
	return sum, nil
}

func xSubtract(v []any) (any, error) {
	a, b := v[0], v[1]
	if xNullish(a) || xNullish(b) {
		return nil, nil
	}
	da, aDate := a.(bson.DateTime)
	db, bDate := b.(bson.DateTime)
	switch {
	case aDate && bDate:
		return int64(da) - int64(db), nil
	case aDate && IsNumber(b):
		f, _ := ToFloat(b)
		return bson.DateTime(int64(da) - int64(math.Round(f))), nil
	case IsNumber(a) && IsNumber(b):
		return xArith(xOpSub, a, b, false)
	}
	return nil, Errorf(16556, "Location16556", "can't $subtract %s from %s", uTypeName(b), uTypeName(a))
}

func xMultiply(v []any) (any, error) {
	var prod any = int32(1)
	for _, e := range v {
		if xNullish(e) {
			return nil, nil
		}
		if !IsNumber(e) {
			return nil, Errorf(16555, "Location16555", "$multiply only supports numeric types, not %s", uTypeName(e))
		}
		prod, _ = xArith(xOpMul, prod, e, false)
	}
	return prod, nil
}

func xDivide(v []any) (any, error) {
	a, b := v[0], v[1]
	if xNullish(a) || xNullish(b) {
		return nil, nil
	}
	if !IsNumber(a) || !IsNumber(b) {
		return nil, Errorf(16609, "Location16609", "$divide only supports numeric types, not %s and %s", uTypeName(a), uTypeName(b))
	}
	ka, _ := xNumKindOf(a)
	kb, _ := xNumKindOf(b)
	if ka == xKindDecimal || kb == xKindDecimal {
		x, y := xToBigFloat(a), xToBigFloat(b)
		if y != nil && y.Sign() == 0 {
			return nil, Errorf(CodeBadValue, "BadValue", "can't $divide by zero")
		}
		if x == nil || y == nil {
			fa, _ := ToFloat(a)
			fb, _ := ToFloat(b)
			return xFloatToDecimal(fa / fb), nil
		}
		return xBigFloatToDecimal(x.Quo(x, y)), nil
	}
	fa, _ := ToFloat(a)
	fb, _ := ToFloat(b)
	if fb == 0 {
		return nil, Errorf(CodeBadValue, "BadValue", "can't $divide by zero")
	}
	return fa / fb, nil
}

func xMod(v []any) (any, error) {
	a, b := v[0], v[1]
	if xNullish(a) || xNullish(b) {
		return nil, nil
	}
	if !IsNumber(a) || !IsNumber(b) {
		return nil, Errorf(16611, "Location16611", "$mod only supports numeric types, not %s and %s", uTypeName(a), uTypeName(b))
	}
	ka, _ := xNumKindOf(a)
	kb, _ := xNumKindOf(b)
	k := max(ka, kb)
	if k <= xKindInt64 {
		x, _ := intValue(xNormalizeNumber(a))
		y, _ := intValue(xNormalizeNumber(b))
		if y == 0 {
			return nil, Errorf(16610, "Location16610", "can't $mod by zero")
		}
		r := x % y
		if k == xKindInt32 {
			return int32(r), nil
		}
		return r, nil
	}
	fa, _ := ToFloat(a)
	fb, _ := ToFloat(b)
	if fb == 0 {
		return nil, Errorf(16610, "Location16610", "can't $mod by zero")
	}
	r := math.Mod(fa, fb)
	if k == xKindDecimal {
		return xFloatToDecimal(r), nil
	}
	return r, nil
}

func xUnaryMath(name string, v any) (any, error) {
	if xNullish(v) {
		return nil, nil
	}
	if !IsNumber(v) {
		return nil, Errorf(28765, "Location28765", "%s only supports numeric types, not %s", name, uTypeName(v))
	}
	v = xNormalizeNumber(v)
	k, _ := xNumKindOf(v)
	if k <= xKindInt64 {
		i, _ := intValue(v)
		switch name {
		case "$abs":
			if i == math.MinInt64 {
				return nil, Errorf(28680, "Location28680", "can't take $abs of long long min")
			}
			if i < 0 {
				i = -i
			}
			if k == xKindInt32 && i <= math.MaxInt32 {
				return int32(i), nil
			}
			return i, nil
		case "$ceil", "$floor":
			return v, nil
		}
	}
	f, _ := ToFloat(v)
	var r float64
	switch name {
	case "$abs":
		r = math.Abs(f)
	case "$ceil":
		r = math.Ceil(f)
	case "$floor":
		r = math.Floor(f)
	case "$sqrt":
		if f < 0 {
			return nil, Errorf(28714, "Location28714", "$sqrt's argument must be greater than or equal to 0")
		}
		r = math.Sqrt(f)
	case "$exp":
		r = math.Exp(f)
	case "$ln":
		if f <= 0 {
			return nil, Errorf(28766, "Location28766", "$ln's argument must be a positive number, but is %v", f)
		}
		r = math.Log(f)
	case "$log10":
		if f <= 0 {
			return nil, Errorf(28761, "Location28761", "$log10's argument must be a positive number, but is %v", f)
		}
		r = math.Log10(f)
	}
	if k == xKindDecimal {
		return xFloatToDecimal(r), nil
	}
	return r, nil
}

func xBinaryMath(name string, a, b any) (any, error) {
	if xNullish(a) || xNullish(b) {
		return nil, nil
	}
	if !IsNumber(a) || !IsNumber(b) {
		return nil, Errorf(28762, "Location28762", "%s only supports numeric types, not %s and %s", name, uTypeName(a), uTypeName(b))
	}
	fa, _ := ToFloat(a)
	fb, _ := ToFloat(b)
	if name == "$log" {
		if fa <= 0 || fb <= 0 || fb == 1 {
			return nil, Errorf(28758, "Location28758", "$log's arguments must be positive numbers and the base must not be 1")
		}
		return math.Log(fa) / math.Log(fb), nil
	}
	ka, _ := xNumKindOf(a)
	kb, _ := xNumKindOf(b)
	if max(ka, kb) <= xKindInt64 {
		x, _ := intValue(xNormalizeNumber(a))
		y, _ := intValue(xNormalizeNumber(b))
		if x == 0 && y < 0 {
			return nil, Errorf(28764, "Location28764", "$pow cannot take a base of 0 and a negative exponent")
		}
		if y >= 0 {
			r := math.Pow(float64(x), float64(y))
			if math.Abs(r) < 1<<53 {
				if max(ka, kb) == xKindInt32 && r >= math.MinInt32 && r <= math.MaxInt32 {
					return int32(r), nil
				}
				return int64(r), nil
			}
			return r, nil
		}
	}
	return math.Pow(fa, fb), nil
}

func xRound(name string, v []any) (any, error) {
	if xNullish(v[0]) {
		return nil, nil
	}
	if !IsNumber(v[0]) {
		return nil, Errorf(51081, "Location51081", "%s only supports numeric types, not %s", name, uTypeName(v[0]))
	}
	place := int64(0)
	if len(v) == 2 {
		if xNullish(v[1]) {
			return nil, nil
		}
		p, ok := ToInt64(v[1])
		if !ok || !IsIntegral(v[1]) || p < -20 || p > 100 {
			return nil, Errorf(51083, "Location51083", "cannot apply %s with precision value %s value must be in [-20, 100]", name, uShort(v[1]))
		}
		place = p
	}
	x := xNormalizeNumber(v[0])
	k, _ := xNumKindOf(x)
	if k <= xKindInt64 && place >= 0 {
		return x, nil
	}
	f, _ := ToFloat(x)
	scale := math.Pow(10, float64(place))
	var r float64
	if name == "$round" {
		r = math.RoundToEven(f*scale) / scale
	} else {
		r = math.Trunc(f*scale) / scale
	}
	switch k {
	case xKindInt32:
		return int32(r), nil
	case xKindInt64:
		return int64(r), nil
	case xKindDecimal:
		return xFloatToDecimal(r), nil
	}
	return r, nil
}
