package mql

// Array expression operators, including $map, $filter and $reduce.

import (
	"math"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func xCompileMapFilter(name string, arg any) (xNode, error) {
	var m map[string]any
	var err error
	if name == "$map" {
		m, err = xObjectArgs(name, arg, []string{"input", "in"}, "as")
	} else {
		m, err = xObjectArgs(name, arg, []string{"input", "cond"}, "as", "limit")
	}
	if err != nil {
		return nil, err
	}
	as := "this"
	if v, ok := m["as"]; ok {
		s, isStr := v.(string)
		if !isStr {
			return nil, Errorf(CodeFailedToParse, "FailedToParse", "%s 'as' must be a string", name)
		}
		if err := xCheckVarName(s); err != nil {
			return nil, err
		}
		as = s
	}
	input, err := xCompile(m["input"])
	if err != nil {
		return nil, err
	}
	body := m["in"]
	if name == "$filter" {
		body = m["cond"]
	}
	bodyN, err := xCompile(body)
	if err != nil {
		return nil, err
	}
	limitN, err := xCompileNamed(m, "limit")
	if err != nil {
		return nil, err
	}
	return xLazy(func(c *xCtx) (any, error) {
		in, err := input.eval(c)
		if err != nil {
			return nil, err
		}
		if xNullish(in) {
			return nil, nil
		}
		arr, ok := asArray(in)
		if !ok {
			if name == "$map" {
				return nil, Errorf(16883, "Location16883", "input to $map must be an array not %s", uTypeName(in))
			}
			return nil, Errorf(28651, "Location28651", "input to $filter must be an array not %s", uTypeName(in))
		}
		limit := int64(-1)
		if limitN != nil {
			lv, err := limitN.eval(c)
			if err != nil {
				return nil, err
			}
			if !xNullish(lv) {
				n, ok := ToInt64(lv)
				if !ok || !IsIntegral(lv) || n < 1 {
					return nil, Errorf(327391, "Location327391", "$filter: limit must be a positive integer")
				}
				limit = n
			}
		}
		out := make(bson.A, 0, len(arr))
		for _, e := range arr {
			v, err := bodyN.eval(c.with(as, e))
			if err != nil {
				return nil, err
			}
			if name == "$map" {
				if xIsMissing(v) {
					v = nil
				}
				out = append(out, v)
				continue
			}
			if xTruthy(v) {
				out = append(out, e)
				if limit > 0 && int64(len(out)) >= limit {
					break
				}
			}
		}
		return out, nil
	}), nil
}

func xCompileReduce(arg any) (xNode, error) {
	m, err := xObjectArgs("$reduce", arg, []string{"input", "initialValue", "in"})
	if err != nil {
		return nil, err
	}
	input, err := xCompile(m["input"])
	if err != nil {
		return nil, err
	}
	init, err := xCompile(m["initialValue"])
	if err != nil {
		return nil, err
	}
	in, err := xCompile(m["in"])
	if err != nil {
		return nil, err
	}
	return xLazy(func(c *xCtx) (any, error) {
		iv, err := input.eval(c)
		if err != nil {
			return nil, err
		}
		if xNullish(iv) {
			return nil, nil
		}
		arr, ok := asArray(iv)
		if !ok {
			return nil, Errorf(40080, "Location40080", "$reduce requires that 'input' be an array, found: %s", uTypeName(iv))
		}
		acc, err := init.eval(c)
		if err != nil {
			return nil, err
		}
		for _, e := range arr {
			acc, err = in.eval(c.with("value", acc).with("this", e))
			if err != nil {
				return nil, err
			}
		}
		return acc, nil
	}), nil
}

func xArrayElemAt(v []any) (any, error) {
	if xNullish(v[0]) || xNullish(v[1]) {
		return nil, nil
	}
	arr, ok := asArray(v[0])
	if !ok {
		return nil, Errorf(28689, "Location28689", "$arrayElemAt's first argument must be an array, but is %s", uTypeName(v[0]))
	}
	if !IsNumber(v[1]) || !IsIntegral(v[1]) {
		return nil, Errorf(28691, "Location28691", "$arrayElemAt's second argument must be a numeric value, but is %s", uTypeName(v[1]))
	}
	i, _ := ToInt64(v[1])
	if i < 0 {
		i += int64(len(arr))
	}
	if i < 0 || i >= int64(len(arr)) {
		return xMissing{}, nil
	}
	return arr[i], nil
}

func xConcatArrays(v []any) (any, error) {
	out := bson.A{}
	for _, e := range v {
		if xNullish(e) {
			return nil, nil
		}
		arr, ok := asArray(e)
		if !ok {
			return nil, Errorf(28664, "Location28664", "$concatArrays only supports arrays, not %s", uTypeName(e))
		}
		out = append(out, arr...)
	}
	return out, nil
}

func xSlice(v []any) (any, error) {
	if xNullish(v[0]) {
		return nil, nil
	}
	arr, ok := asArray(v[0])
	if !ok {
		return nil, Errorf(28724, "Location28724", "First argument to $slice must be an array, but is of type: %s", uTypeName(v[0]))
	}
	for _, x := range v[1:] {
		if xNullish(x) {
			return nil, nil
		}
		if !IsIntegral(x) {
			return nil, Errorf(28725, "Location28725", "Second argument to $slice must be a numeric value, but is of type: %s", uTypeName(x))
		}
	}
	n := int64(len(arr))
	a, _ := ToInt64(v[1])
	if len(v) == 2 {
		if a >= 0 {
			return bson.A(arr[:min(a, n)]), nil
		}
		return bson.A(arr[max(n+a, 0):]), nil
	}
	cnt, _ := ToInt64(v[2])
	if cnt <= 0 {
		return nil, Errorf(28729, "Location28729", "Third argument to $slice must be positive: %d", cnt)
	}
	start := a
	if start < 0 {
		start = max(n+start, 0)
	}
	start = min(start, n)
	end := n
	if cnt < n-start {
		end = start + cnt
	}
	return bson.A(arr[start:end]), nil
}

func xIndexOfArray(c *xCtx, v []any) (any, error) {
	if xNullish(v[0]) {
		return nil, nil
	}
	arr, ok := asArray(v[0])
	if !ok {
		return nil, Errorf(40090, "Location40090", "$indexOfArray requires an array as a first argument, found: %s", uTypeName(v[0]))
	}
	start, end := int64(0), int64(len(arr))
	if len(v) > 2 {
		s, ok := ToInt64(v[2])
		if !ok || s < 0 {
			return nil, Errorf(40097, "Location40097", "$indexOfArray requires a nonnegative integral starting index")
		}
		start = s
	}
	if len(v) > 3 {
		e, ok := ToInt64(v[3])
		if !ok || e < 0 {
			return nil, Errorf(40097, "Location40097", "$indexOfArray requires a nonnegative integral ending index")
		}
		end = min(e, end)
	}
	for i := start; i < end; i++ {
		if xCmp(arr[i], v[1], c.coll) == 0 {
			return int32(i), nil
		}
	}
	return int32(-1), nil
}

func xRange(v []any) (any, error) {
	for _, x := range v {
		if !IsIntegral(x) {
			return nil, Errorf(34443, "Location34443", "$range requires integral numeric arguments, found %s", uTypeName(x))
		}
	}
	a, _ := ToInt64(v[0])
	b, _ := ToInt64(v[1])
	step := int64(1)
	if len(v) == 3 {
		step, _ = ToInt64(v[2])
		if step == 0 {
			return nil, Errorf(34449, "Location34449", "$range requires a non-zero step value")
		}
	}
	if a < math.MinInt32 || a > math.MaxInt32 || b < math.MinInt32 || b > math.MaxInt32 {
		return nil, Errorf(34444, "Location34444", "$range requires a starting and ending value that can be represented as a 32-bit integer")
	}
	// MongoDB's check: 16 bytes an element against internalQueryMaxRangeBytes.
	if n := (b - a) / step; n >= 0 {
		if need := 24 + (n+1)*16; need >= rangeMaxBytes {
			return nil, Errorf(CodeExceededMemoryLimit, "ExceededMemoryLimit",
				"$range would use too much memory (%d bytes) and cannot spill to disk. Memory limit: %d bytes", need, rangeMaxBytes)
		}
	}
	out := bson.A{}
	for i := a; (step > 0 && i < b) || (step < 0 && i > b); i += step {
		out = append(out, int32(i))
	}
	return out, nil
}
