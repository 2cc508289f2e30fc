package mql

import (
	"math"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// xFn is an operator whose arguments are all evaluated before it runs.
type xFn struct {
	args []xNode
	f    func(v []any) (any, error)
}

func (n *xFn) eval(c *xCtx) (any, error) {
	vals := make([]any, len(n.args))
	for i, a := range n.args {
		v, err := a.eval(c)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	return n.f(vals)
}

// xLazy is an operator that evaluates its arguments itself.
type xLazy func(c *xCtx) (any, error)

func (f xLazy) eval(c *xCtx) (any, error) { return f(c) }

func xArgList(arg any) ([]xNode, error) {
	arr, ok := arg.(bson.A)
	if !ok {
		if a, isSlice := arg.([]any); isSlice {
			arr, ok = bson.A(a), true
		}
	}
	if !ok {
		n, err := xCompile(arg)
		if err != nil {
			return nil, err
		}
		return []xNode{n}, nil
	}
	out := make([]xNode, len(arr))
	for i, e := range arr {
		n, err := xCompile(e)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

func xArity(name string, args []xNode, lo, hi int) error {
	if len(args) >= lo && len(args) <= hi {
		return nil
	}
	switch {
	case lo == hi:
		return Errorf(16020, "Location16020", "Expression %s takes exactly %d arguments. %d were passed in.", name, lo, len(args))
	case len(args) < lo:
		return Errorf(16020, "Location16020", "Expression %s takes at least %d arguments, and at most %d. %d were passed in.", name, lo, hi, len(args))
	}
	return Errorf(16020, "Location16020", "Expression %s takes at most %d arguments. %d were passed in.", name, hi, len(args))
}

// xObjectArgs parses the named arguments of operators such as $filter.
func xObjectArgs(name string, arg any, required []string, optional ...string) (map[string]any, error) {
	d, ok := asDoc(arg)
	if !ok {
		return nil, Errorf(CodeFailedToParse, "FailedToParse", "%s expects an object as its argument, found %s", name, uTypeName(arg))
	}
	out := map[string]any{}
	for _, e := range d {
		known := false
		for _, k := range append(append([]string{}, required...), optional...) {
			if k == e.Key {
				known = true
			}
		}
		if !known {
			return nil, Errorf(CodeFailedToParse, "FailedToParse", "%s found an unknown argument: %s", name, e.Key)
		}
		out[e.Key] = e.Value
	}
	for _, k := range required {
		if _, ok := out[k]; !ok {
			return nil, Errorf(CodeFailedToParse, "FailedToParse", "Missing '%s' parameter to %s", k, name)
		}
	}
	return out, nil
}

func xCompileOp(name string, arg any) (xNode, error) {
	if n, ok, err := xCompileSpecial(name, arg); ok {
		return n, err
	}
	if n, ok, err := xCompileMore(name, arg); ok {
		return n, err
	}
	args, err := xArgList(arg)
	if err != nil {
		return nil, err
	}
	fixed := func(lo, hi int, f func(v []any) (any, error)) (xNode, error) {
		if err := xArity(name, args, lo, hi); err != nil {
			return nil, err
		}
		return &xFn{args: args, f: f}, nil
	}
	switch name {
	case "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$cmp":
		return fixed(2, 2, func(v []any) (any, error) {
			c := xCmp(v[0], v[1])
			switch name {
			case "$eq":
				return c == 0, nil
			case "$ne":
				return c != 0, nil
			case "$gt":
				return c > 0, nil
			case "$gte":
				return c >= 0, nil
			case "$lt":
				return c < 0, nil
			case "$lte":
				return c <= 0, nil
			}
			return int32(c), nil
		})
	case "$not":
		return fixed(1, 1, func(v []any) (any, error) { return !xTruthy(v[0]), nil })
	case "$add":
		return &xFn{args: args, f: xAdd}, nil
	case "$subtract":
		return fixed(2, 2, xSubtract)
	case "$multiply":
		return &xFn{args: args, f: func(v []any) (any, error) { return xMultiply(v) }}, nil
	case "$divide":
		return fixed(2, 2, xDivide)
	case "$mod":
		return fixed(2, 2, xMod)
	case "$abs", "$ceil", "$floor", "$sqrt", "$exp", "$ln", "$log10":
		return fixed(1, 1, func(v []any) (any, error) { return xUnaryMath(name, v[0]) })
	case "$pow", "$log":
		return fixed(2, 2, func(v []any) (any, error) { return xBinaryMath(name, v[0], v[1]) })
	case "$round", "$trunc":
		return fixed(1, 2, func(v []any) (any, error) { return xRound(name, v) })
	case "$concat":
		return &xFn{args: args, f: xConcat}, nil
	case "$toLower", "$toUpper":
		return fixed(1, 1, func(v []any) (any, error) {
			s, err := xStringish(name, v[0])
			if err != nil {
				return nil, err
			}
			if name == "$toLower" {
				return strings.ToLower(s), nil
			}
			return strings.ToUpper(s), nil
		})
	case "$substr", "$substrBytes", "$substrCP":
		return fixed(3, 3, func(v []any) (any, error) { return xSubstr(name, v) })
	case "$strLenCP", "$strLenBytes":
		return fixed(1, 1, func(v []any) (any, error) {
			s, ok := v[0].(string)
			if !ok {
				return nil, Errorf(34471, "Location34471", "%s requires a string argument, found: %s", name, uTypeName(v[0]))
			}
			if name == "$strLenCP" {
				return int32(utf8.RuneCountInString(s)), nil
			}
			return int32(len(s)), nil
		})
	case "$split":
		return fixed(2, 2, xSplit)
	case "$strcasecmp":
		return fixed(2, 2, func(v []any) (any, error) {
			a, err := xStringish(name, v[0])
			if err != nil {
				return nil, err
			}
			b, err := xStringish(name, v[1])
			if err != nil {
				return nil, err
			}
			return int32(strings.Compare(strings.ToUpper(a), strings.ToUpper(b))), nil
		})
	case "$size":
		return fixed(1, 1, func(v []any) (any, error) {
			arr, ok := asArray(v[0])
			if !ok {
				return nil, Errorf(17124, "Location17124", "The argument to $size must be an array. Type of argument passed: %s", uTypeName(v[0]))
			}
			return int32(len(arr)), nil
		})
	case "$arrayElemAt":
		return fixed(2, 2, xArrayElemAt)
	case "$concatArrays":
		return &xFn{args: args, f: xConcatArrays}, nil
	case "$in":
		return fixed(2, 2, func(v []any) (any, error) {
			arr, ok := asArray(v[1])
			if !ok {
				return nil, Errorf(40081, "Location40081", "$in requires an array as a second argument, found: %s", uTypeName(v[1]))
			}
			for _, e := range arr {
				if xCmp(v[0], e) == 0 {
					return true, nil
				}
			}
			return false, nil
		})
	case "$first", "$last":
		return fixed(1, 1, func(v []any) (any, error) {
			if xNullish(v[0]) {
				return nil, nil
			}
			arr, ok := asArray(v[0])
			if !ok {
				return nil, Errorf(28689, "Location28689", "%s's argument must be an array, but is %s", name, uTypeName(v[0]))
			}
			if len(arr) == 0 {
				return xMissing{}, nil
			}
			if name == "$first" {
				return arr[0], nil
			}
			return arr[len(arr)-1], nil
		})
	case "$isArray":
		return fixed(1, 1, func(v []any) (any, error) { _, ok := asArray(v[0]); return ok, nil })
	case "$isNumber":
		return fixed(1, 1, func(v []any) (any, error) { return IsNumber(v[0]), nil })
	case "$reverseArray":
		return fixed(1, 1, func(v []any) (any, error) {
			if xNullish(v[0]) {
				return nil, nil
			}
			arr, ok := asArray(v[0])
			if !ok {
				return nil, Errorf(34435, "Location34435", "The argument to $reverseArray must be an array, but was of type: %s", uTypeName(v[0]))
			}
			out := make(bson.A, len(arr))
			for i, e := range arr {
				out[len(arr)-1-i] = e
			}
			return out, nil
		})
	case "$slice":
		return fixed(2, 3, xSlice)
	case "$indexOfArray":
		return fixed(2, 4, xIndexOfArray)
	case "$range":
		return fixed(2, 3, xRange)
	case "$type":
		return fixed(1, 1, func(v []any) (any, error) { return uTypeName(v[0]), nil })
	case "$toString", "$toInt", "$toLong", "$toDouble", "$toDecimal", "$toBool", "$toObjectId", "$toDate":
		target := map[string]string{"$toString": "string", "$toInt": "int", "$toLong": "long", "$toDouble": "double",
			"$toDecimal": "decimal", "$toBool": "bool", "$toObjectId": "objectId", "$toDate": "date"}[name]
		return fixed(1, 1, func(v []any) (any, error) {
			if xNullish(v[0]) {
				return nil, nil
			}
			return xConvert(v[0], target)
		})
	case "$objectToArray":
		return fixed(1, 1, xObjectToArray)
	case "$arrayToObject":
		return fixed(1, 1, xArrayToObject)
	case "$mergeObjects":
		return &xFn{args: args, f: xMergeObjects}, nil
	case "$max", "$min", "$sum", "$avg":
		return &xFn{args: args, f: func(v []any) (any, error) {
			if len(v) == 1 {
				if arr, ok := asArray(v[0]); ok {
					v = arr
				}
			}
			acc := newAccumulatorState(name)
			for _, e := range v {
				acc.add(e)
			}
			return acc.result(), nil
		}}, nil
	case "$year", "$month", "$dayOfMonth", "$hour", "$minute", "$second", "$millisecond",
		"$dayOfWeek", "$dayOfYear", "$week", "$isoWeek", "$isoWeekYear", "$isoDayOfWeek":
		return xCompileDatePart(name, arg)
	}
	return nil, Errorf(168, "InvalidPipelineOperator", "Unrecognized expression '%s'", name)
}

// xTruthy is aggregation truthiness; missing is false.
func xTruthy(v any) bool {
	if xIsMissing(v) {
		return false
	}
	return Truthy(v)
}

// xCompileSpecial compiles operators that control evaluation or take named
// arguments. ok is false for other operators.
func xCompileSpecial(name string, arg any) (xNode, bool, error) {
	switch name {
	case "$literal":
		return xConst{uClone(arg)}, true, nil
	case "$and", "$or":
		args, err := xArgList(arg)
		if err != nil {
			return nil, true, err
		}
		isAnd := name == "$and"
		return xLazy(func(c *xCtx) (any, error) {
			for _, a := range args {
				v, err := a.eval(c)
				if err != nil {
					return nil, err
				}
				if xTruthy(v) != isAnd {
					return !isAnd, nil
				}
			}
			return isAnd, nil
		}), true, nil
	case "$cond":
		n, err := xCompileCond(arg)
		return n, true, err
	case "$ifNull":
		args, err := xArgList(arg)
		if err != nil {
			return nil, true, err
		}
		if len(args) < 2 {
			return nil, true, Errorf(1257300, "Location1257300", "$ifNull needs at least two arguments, had: %d", len(args))
		}
		return xLazy(func(c *xCtx) (any, error) {
			for i, a := range args {
				v, err := a.eval(c)
				if err != nil {
					return nil, err
				}
				if !xNullish(v) || i == len(args)-1 {
					return v, nil
				}
			}
			return nil, nil
		}), true, nil
	case "$switch":
		n, err := xCompileSwitch(arg)
		return n, true, err
	case "$let":
		n, err := xCompileLet(arg)
		return n, true, err
	case "$map", "$filter":
		n, err := xCompileMapFilter(name, arg)
		return n, true, err
	case "$reduce":
		n, err := xCompileReduce(arg)
		return n, true, err
	case "$trim", "$ltrim", "$rtrim":
		n, err := xCompileTrim(name, arg)
		return n, true, err
	case "$convert":
		n, err := xCompileConvert(arg)
		return n, true, err
	case "$getField", "$setField", "$unsetField":
		n, err := xCompileFieldOps(name, arg)
		return n, true, err
	case "$dateToString":
		n, err := xCompileDateToString(arg)
		return n, true, err
	}
	return nil, false, nil
}

func xCompileNamed(m map[string]any, key string) (xNode, error) {
	v, ok := m[key]
	if !ok {
		return nil, nil
	}
	return xCompile(v)
}

func xEvalOpt(c *xCtx, n xNode) (any, error) {
	if n == nil {
		return xMissing{}, nil
	}
	return n.eval(c)
}

func xCompileCond(arg any) (xNode, error) {
	var ifN, thenN, elseN xNode
	var err error
	if d, ok := asDoc(arg); ok {
		m, err := xObjectArgs("$cond", d, []string{"if", "then", "else"})
		if err != nil {
			return nil, err
		}
		if ifN, err = xCompileNamed(m, "if"); err != nil {
			return nil, err
		}
		if thenN, err = xCompileNamed(m, "then"); err != nil {
			return nil, err
		}
		if elseN, err = xCompileNamed(m, "else"); err != nil {
			return nil, err
		}
	} else {
		args, err := xArgList(arg)
		if err != nil {
			return nil, err
		}
		if err := xArity("$cond", args, 3, 3); err != nil {
			return nil, err
		}
		ifN, thenN, elseN = args[0], args[1], args[2]
	}
	_ = err
	return xLazy(func(c *xCtx) (any, error) {
		v, err := ifN.eval(c)
		if err != nil {
			return nil, err
		}
		if xTruthy(v) {
			return thenN.eval(c)
		}
		return elseN.eval(c)
	}), nil
}

func xCompileSwitch(arg any) (xNode, error) {
	m, err := xObjectArgs("$switch", arg, []string{"branches"}, "default")
	if err != nil {
		return nil, err
	}
	branches, ok := asArray(m["branches"])
	if !ok {
		return nil, Errorf(40061, "Location40061", "$switch expected an array for 'branches', found: %s", uTypeName(m["branches"]))
	}
	type branch struct{ when, then xNode }
	var bs []branch
	for _, b := range branches {
		bm, err := xObjectArgs("$switch branch", b, []string{"case", "then"})
		if err != nil {
			return nil, err
		}
		w, err := xCompile(bm["case"])
		if err != nil {
			return nil, err
		}
		t, err := xCompile(bm["then"])
		if err != nil {
			return nil, err
		}
		bs = append(bs, branch{w, t})
	}
	def, err := xCompileNamed(m, "default")
	if err != nil {
		return nil, err
	}
	return xLazy(func(c *xCtx) (any, error) {
		for _, b := range bs {
			v, err := b.when.eval(c)
			if err != nil {
				return nil, err
			}
			if xTruthy(v) {
				return b.then.eval(c)
			}
		}
		if def == nil {
			return nil, Errorf(40066, "Location40066", "$switch could not find a matching branch for an input, and no default was specified.")
		}
		return def.eval(c)
	}), nil
}

func xCheckVarName(name string) error {
	if name == "" || !(name[0] >= 'a' && name[0] <= 'z' || name[0] >= 0x80) {
		return Errorf(16867, "Location16867", "'%s' starts with an invalid character for a user variable name", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r >= 0x80) {
			return Errorf(16868, "Location16868", "'%s' contains an invalid character for a variable name: '%c'", name, r)
		}
	}
	return nil
}

func xCompileLet(arg any) (xNode, error) {
	m, err := xObjectArgs("$let", arg, []string{"vars", "in"})
	if err != nil {
		return nil, err
	}
	vd, ok := asDoc(m["vars"])
	if !ok {
		return nil, Errorf(10065, "Location10065", "invalid parameter: expected an object (vars)")
	}
	var names []string
	var nodes []xNode
	for _, e := range vd {
		if err := xCheckVarName(e.Key); err != nil {
			return nil, err
		}
		n, err := xCompile(e.Value)
		if err != nil {
			return nil, err
		}
		names = append(names, e.Key)
		nodes = append(nodes, n)
	}
	in, err := xCompile(m["in"])
	if err != nil {
		return nil, err
	}
	return xLazy(func(c *xCtx) (any, error) {
		inner := c
		for i, n := range nodes {
			v, err := n.eval(c) // all vars see the outer scope
			if err != nil {
				return nil, err
			}
			inner = inner.with(names[i], v)
		}
		return in.eval(inner)
	}), nil
}

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

func xCompileTrim(name string, arg any) (xNode, error) {
	m, err := xObjectArgs(name, arg, []string{"input"}, "chars")
	if err != nil {
		return nil, err
	}
	input, err := xCompile(m["input"])
	if err != nil {
		return nil, err
	}
	chars, err := xCompileNamed(m, "chars")
	if err != nil {
		return nil, err
	}
	return xLazy(func(c *xCtx) (any, error) {
		v, err := input.eval(c)
		if err != nil {
			return nil, err
		}
		if xNullish(v) {
			return nil, nil
		}
		s, ok := v.(string)
		if !ok {
			return nil, Errorf(50699, "Location50699", "%s requires its input to be a string, got %s (of type %s) instead.", name, uShort(v), uTypeName(v))
		}
		cut := " \t\n\v\f\r\u00a0\u0000"
		if chars != nil {
			cv, err := chars.eval(c)
			if err != nil {
				return nil, err
			}
			if xNullish(cv) {
				return nil, nil
			}
			cs, ok := cv.(string)
			if !ok {
				return nil, Errorf(50700, "Location50700", "%s requires 'chars' to be a string, got %s (of type %s) instead.", name, uShort(cv), uTypeName(cv))
			}
			cut = cs
		}
		switch name {
		case "$ltrim":
			return strings.TrimLeft(s, cut), nil
		case "$rtrim":
			return strings.TrimRight(s, cut), nil
		}
		return strings.Trim(s, cut), nil
	}), nil
}

func xCompileFieldOps(name string, arg any) (xNode, error) {
	var m map[string]any
	var err error
	switch name {
	case "$getField":
		if _, isDoc := asDoc(arg); !isDoc {
			m = map[string]any{"field": arg}
		} else {
			m, err = xObjectArgs(name, arg, []string{"field"}, "input")
		}
	case "$setField":
		m, err = xObjectArgs(name, arg, []string{"field", "input", "value"})
	default:
		m, err = xObjectArgs(name, arg, []string{"field", "input"})
	}
	if err != nil {
		return nil, err
	}
	field, ok := m["field"].(string)
	if !ok {
		if d, isDoc := asDoc(m["field"]); isDoc && len(d) == 1 && d[0].Key == "$literal" {
			field, ok = d[0].Value.(string)
		}
	}
	if !ok {
		return nil, Errorf(5654601, "Location5654601", "%s requires 'field' to evaluate to a constant string", name)
	}
	input, err := xCompileNamed(m, "input")
	if err != nil {
		return nil, err
	}
	if input == nil {
		input = &xFieldPath{variable: "CURRENT"}
	}
	value, err := xCompileNamed(m, "value")
	if err != nil {
		return nil, err
	}
	return xLazy(func(c *xCtx) (any, error) {
		in, err := input.eval(c)
		if err != nil {
			return nil, err
		}
		if name == "$getField" {
			if xNullish(in) {
				return nil, nil
			}
			d, ok := asDoc(in)
			if !ok {
				return nil, Errorf(3041705, "Location3041705", "$getField requires 'input' to evaluate to type Object, but got %s", uTypeName(in))
			}
			if v, ok := uGetField(d, field); ok {
				return v, nil
			}
			return xMissing{}, nil
		}
		if xNullish(in) {
			return nil, nil
		}
		d, ok := asDoc(in)
		if !ok {
			return nil, Errorf(4161105, "Location4161105", "%s requires 'input' to evaluate to type Object", name)
		}
		var nv any = xMissing{}
		if value != nil {
			if nv, err = value.eval(c); err != nil {
				return nil, err
			}
		}
		out := make(bson.D, 0, len(d)+1)
		found := false
		for _, e := range d {
			if e.Key == field {
				found = true
				if xIsMissing(nv) {
					continue
				}
				e.Value = nv
			}
			out = append(out, e)
		}
		if !found && !xIsMissing(nv) {
			out = append(out, bson.E{Key: field, Value: nv})
		}
		return out, nil
	}), nil
}

func xAsString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bson.Symbol:
		return string(x), true
	}
	return "", false
}

func xConcat(v []any) (any, error) {
	var sb strings.Builder
	for _, e := range v {
		if xNullish(e) {
			return nil, nil
		}
		s, ok := xAsString(e)
		if !ok {
			return nil, Errorf(16702, "Location16702", "$concat only supports strings, not %s", uTypeName(e))
		}
		sb.WriteString(s)
	}
	return sb.String(), nil
}

// xStringish converts the argument of $toLower/$toUpper/$strcasecmp the
// way the server coerces it: null becomes "", numbers and dates print.
func xStringish(name string, v any) (string, error) {
	if xNullish(v) {
		return "", nil
	}
	if s, ok := xAsString(v); ok {
		return s, nil
	}
	switch v.(type) {
	case int32, int64, float64, bson.Decimal128, bson.DateTime, bson.Timestamp:
		s, err := xConvert(v, "string")
		if err != nil {
			return "", err
		}
		return s.(string), nil
	}
	return "", Errorf(16007, "Location16007", "can't convert from BSON type %s to String", uTypeName(v))
}

func xSubstr(name string, v []any) (any, error) {
	s, err := xStringish(name, v[0])
	if err != nil {
		return nil, err
	}
	if !IsNumber(v[1]) {
		return nil, Errorf(16034, "Location16034", "%s: starting index must be a numeric type (is BSON type %s)", name, uTypeName(v[1]))
	}
	if !IsNumber(v[2]) {
		return nil, Errorf(16035, "Location16035", "%s: length must be a numeric type (is BSON type %s)", name, uTypeName(v[2]))
	}
	start, _ := ToInt64(v[1])
	length, _ := ToInt64(v[2])
	if name == "$substrCP" {
		if start < 0 {
			return nil, Errorf(34455, "Location34455", "$substrCP: the starting index must be nonnegative integer.")
		}
		if length < 0 {
			return nil, Errorf(34456, "Location34456", "$substrCP: length must be a nonnegative integer.")
		}
		r := []rune(s)
		if start >= int64(len(r)) {
			return "", nil
		}
		end := int64(len(r))
		if length < end-start {
			end = start + length
		}
		return string(r[start:end]), nil
	}
	if start < 0 || start >= int64(len(s)) {
		return "", nil
	}
	end := int64(len(s))
	if length >= 0 && length < end-start {
		end = start + length
	}
	if !utf8.ValidString(s[start:end]) && utf8.ValidString(s) {
		return nil, Errorf(28656, "Location28656", "%s: Invalid range, starting index is a UTF-8 continuation byte.", name)
	}
	return s[start:end], nil
}

func xSplit(v []any) (any, error) {
	if xNullish(v[0]) {
		return nil, nil
	}
	s, ok := xAsString(v[0])
	if !ok {
		return nil, Errorf(40085, "Location40085", "$split requires an expression that evaluates to a string as a first argument, found: %s", uTypeName(v[0]))
	}
	sep, ok := xAsString(v[1])
	if !ok {
		return nil, Errorf(40086, "Location40086", "$split requires an expression that evaluates to a string as a second argument, found: %s", uTypeName(v[1]))
	}
	if sep == "" {
		return nil, Errorf(40087, "Location40087", "$split requires a non-empty separator")
	}
	parts := strings.Split(s, sep)
	out := make(bson.A, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
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

func xIndexOfArray(v []any) (any, error) {
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
		if xCmp(arr[i], v[1]) == 0 {
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
	if n := (b - a) / step; n > 1<<24 {
		return nil, Errorf(5600400, "Location5600400", "$range would use too much memory (%d elements)", n)
	}
	out := bson.A{}
	for i := a; (step > 0 && i < b) || (step < 0 && i > b); i += step {
		out = append(out, int32(i))
	}
	return out, nil
}

func xObjectToArray(v []any) (any, error) {
	if xNullish(v[0]) {
		return nil, nil
	}
	d, ok := asDoc(v[0])
	if !ok {
		return nil, Errorf(40390, "Location40390", "$objectToArray requires a document input, found: %s", uTypeName(v[0]))
	}
	out := make(bson.A, len(d))
	for i, e := range d {
		out[i] = bson.D{{Key: "k", Value: e.Key}, {Key: "v", Value: e.Value}}
	}
	return out, nil
}

func xArrayToObject(v []any) (any, error) {
	if xNullish(v[0]) {
		return nil, nil
	}
	arr, ok := asArray(v[0])
	if !ok {
		return nil, Errorf(40386, "Location40386", "$arrayToObject requires an array input, found: %s", uTypeName(v[0]))
	}
	out := bson.D{}
	set := func(k string, val any) {
		for i := range out {
			if out[i].Key == k {
				out[i].Value = val
				return
			}
		}
		out = append(out, bson.E{Key: k, Value: val})
	}
	for _, e := range arr {
		switch x := e.(type) {
		case bson.A:
			if len(x) != 2 {
				return nil, Errorf(40397, "Location40397", "$arrayToObject requires an array of size 2 arrays,found array of size: %d", len(x))
			}
			k, ok := x[0].(string)
			if !ok {
				return nil, Errorf(40395, "Location40395", "$arrayToObject requires an array of key-value pairs, where the key must be of type string. Found key type: %s", uTypeName(x[0]))
			}
			set(k, x[1])
		case bson.D:
			k, kok := uGetField(x, "k")
			val, vok := uGetField(x, "v")
			if len(x) != 2 || !kok || !vok {
				return nil, Errorf(40393, "Location40393", "$arrayToObject requires an object with keys 'k' and 'v'.")
			}
			ks, ok := k.(string)
			if !ok {
				return nil, Errorf(40394, "Location40394", "$arrayToObject requires an object with keys 'k' and 'v', where the value of 'k' must be of type string. Found type: %s", uTypeName(k))
			}
			set(ks, val)
		default:
			return nil, Errorf(40398, "Location40398", "Unrecognised input type format for $arrayToObject: %s", uTypeName(e))
		}
	}
	return out, nil
}

func xMergeObjects(v []any) (any, error) {
	out := bson.D{}
	for _, e := range v {
		if xNullish(e) {
			continue
		}
		d, ok := asDoc(e)
		if !ok {
			return nil, Errorf(40400, "Location40400", "$mergeObjects requires object inputs, but input %s is of type %s", uShort(e), uTypeName(e))
		}
		for _, f := range d {
			replaced := false
			for i := range out {
				if out[i].Key == f.Key {
					out[i].Value = f.Value
					replaced = true
					break
				}
			}
			if !replaced {
				out = append(out, f)
			}
		}
	}
	return out, nil
}

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
