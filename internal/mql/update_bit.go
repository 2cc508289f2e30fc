package mql

// $bit: {field: {and|or|xor: <int32|int64>, ...}} applies the bitwise
// operations in order to an integer field (a missing field starts as
// int32 0, as in MongoDB's BitNode). The result is an int64 when either
// operand is one.

// uBitOp is one bitwise operation of $bit.
type uBitOp struct {
	op  string // and, or, xor
	arg any    // int32 or int64
}

const bitFormat = "{$bit: {field: {and/or/xor: #}}"

func parseBit(arg any) ([]uBitOp, error) {
	d, ok := asDoc(arg)
	if !ok {
		return nil, uBadValue("The $bit modifier is not compatible with a %s. You must pass in an embedded document: %s", uTypeName(arg), bitFormat)
	}
	if len(d) == 0 {
		return nil, uBadValue("You must pass in at least one bitwise operation. The format is: %s", bitFormat)
	}
	ops := make([]uBitOp, 0, len(d))
	for _, e := range d {
		switch e.Key {
		case "and", "or", "xor":
		default:
			return nil, uBadValue("The $bit modifier only supports 'and', 'or', and 'xor', not '%s' which is an unknown operator: {%s: %s}", e.Key, e.Key, uShort(e.Value))
		}
		switch e.Value.(type) {
		case int32, int64:
		default:
			return nil, uBadValue("The $bit modifier field must be an Integer(32/64 bit); a '%s' is not supported here: {%s: %s}", uTypeName(e.Value), e.Key, uShort(e.Value))
		}
		ops = append(ops, uBitOp{op: e.Key, arg: e.Value})
	}
	return ops, nil
}

func (a *uApplier) bit(m *uMod, cur any, exists bool, path []string) (uLeaf, error) {
	v := cur
	if !exists {
		v = int32(0)
	}
	switch v.(type) {
	case int32, int64:
	default:
		return uLeaf{}, uBadValue("Cannot apply $bit to a value of non-integral type.%s has the field %s of non-integer type %s",
			a.idString(), path[len(path)-1], uTypeName(cur))
	}
	for _, b := range m.bits {
		v = bitApply(b.op, v, b.arg)
	}
	return uSetTo(cur, exists, v), nil
}

// bitApply applies one operation; both operands are int32 or int64.
func bitApply(op string, x, y any) any {
	x32, xIs32 := x.(int32)
	y32, yIs32 := y.(int32)
	if xIs32 && yIs32 {
		switch op {
		case "and":
			return x32 & y32
		case "or":
			return x32 | y32
		}
		return x32 ^ y32
	}
	a, b := bitInt64(x), bitInt64(y)
	switch op {
	case "and":
		return a & b
	case "or":
		return a | b
	}
	return a ^ b
}

func bitInt64(v any) int64 {
	if i, ok := v.(int32); ok {
		return int64(i)
	}
	return v.(int64)
}
