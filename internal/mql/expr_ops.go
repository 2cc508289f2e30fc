package mql

import (
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// xFn is an operator whose arguments are all evaluated before it runs.
type xFn struct {
	args []xNode
	f    func(v []any) (any, error)
	// fc, when set instead of f, also sees the context (its collation).
	fc func(c *xCtx, v []any) (any, error)
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
	if n.fc != nil {
		return n.fc(c, vals)
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
	fixedC := func(lo, hi int, fc func(c *xCtx, v []any) (any, error)) (xNode, error) {
		if err := xArity(name, args, lo, hi); err != nil {
			return nil, err
		}
		return &xFn{args: args, fc: fc}, nil
	}
	switch name {
	case "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$cmp":
		return fixedC(2, 2, func(x *xCtx, v []any) (any, error) {
			c := xCmp(v[0], v[1], x.coll)
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
		return fixedC(2, 2, func(x *xCtx, v []any) (any, error) {
			arr, ok := asArray(v[1])
			if !ok {
				return nil, Errorf(40081, "Location40081", "$in requires an array as a second argument, found: %s", uTypeName(v[1]))
			}
			for _, e := range arr {
				if xCmp(v[0], e, x.coll) == 0 {
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
		return fixedC(2, 4, xIndexOfArray)
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
		return &xFn{args: args, fc: func(c *xCtx, v []any) (any, error) {
			if len(v) == 1 {
				if arr, ok := asArray(v[0]); ok {
					v = arr
				}
			}
			acc := newAccumulatorState(name, c.coll)
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
	case "$rand":
		n, err := xCompileRand(arg)
		return n, true, err
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
