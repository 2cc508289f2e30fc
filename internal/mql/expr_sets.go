package mql

import (
	"slices"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Set, search and regex expression operators. Sets are arrays whose order
// and duplicates do not matter; results keep first-seen order.

func xCompileMore(name string, arg any) (xNode, bool, error) {
	switch name {
	case "$setUnion", "$setIntersection", "$setDifference", "$setEquals", "$setIsSubset":
		args, err := xArgList(arg)
		if err != nil {
			return nil, true, err
		}
		lo, hi := 0, 1<<30
		if name == "$setDifference" || name == "$setIsSubset" {
			lo, hi = 2, 2
		}
		if name == "$setEquals" {
			lo = 2
		}
		if err := xArity(name, args, lo, hi); err != nil {
			return nil, true, err
		}
		return &xFn{args: args, fc: func(c *xCtx, v []any) (any, error) { return xSetOp(name, v, c.coll) }}, true, nil
	case "$allElementsTrue", "$anyElementTrue":
		args, err := xArgList(arg)
		if err != nil {
			return nil, true, err
		}
		if err := xArity(name, args, 1, 1); err != nil {
			return nil, true, err
		}
		return &xFn{args: args, f: func(v []any) (any, error) {
			arr, ok := asArray(v[0])
			if !ok {
				return nil, Errorf(17040, "Location17040", "%s's argument must be an array, but is %s", name, uTypeName(v[0]))
			}
			all := name == "$allElementsTrue"
			for _, e := range arr {
				if xTruthy(e) != all {
					return !all, nil
				}
			}
			return all, nil
		}}, true, nil
	case "$indexOfCP", "$indexOfBytes":
		args, err := xArgList(arg)
		if err != nil {
			return nil, true, err
		}
		if err := xArity(name, args, 2, 4); err != nil {
			return nil, true, err
		}
		return &xFn{args: args, f: func(v []any) (any, error) { return xIndexOfString(name, v) }}, true, nil
	case "$replaceOne", "$replaceAll":
		m, err := xObjectArgs(name, arg, []string{"input", "find", "replacement"})
		if err != nil {
			return nil, true, err
		}
		var nodes [3]xNode
		for i, k := range []string{"input", "find", "replacement"} {
			if nodes[i], err = xCompile(m[k]); err != nil {
				return nil, true, err
			}
		}
		return &xFn{args: nodes[:], f: func(v []any) (any, error) {
			var s [3]string
			for i, x := range v {
				if xNullish(x) {
					return nil, nil
				}
				str, ok := xAsString(x)
				if !ok {
					return nil, Errorf(51746, "Location51746", "%s requires that '%s' be a string, found: %s", name, []string{"input", "find", "replacement"}[i], uShort(x))
				}
				s[i] = str
			}
			if name == "$replaceOne" {
				return strings.Replace(s[0], s[1], s[2], 1), nil
			}
			return strings.ReplaceAll(s[0], s[1], s[2]), nil
		}}, true, nil
	case "$regexMatch", "$regexFind", "$regexFindAll":
		n, err := xCompileRegexOp(name, arg)
		return n, true, err
	case "$sortArray":
		n, err := xCompileSortArray(arg)
		return n, true, err
	}
	return nil, false, nil
}

func xSetOp(name string, v []any, coll *Collation) (any, error) {
	sets := make([]bson.A, len(v))
	for i, x := range v {
		if xNullish(x) && (name == "$setUnion" || name == "$setIntersection" || name == "$setDifference") {
			return nil, nil
		}
		arr, ok := asArray(x)
		if !ok {
			return nil, Errorf(17044, "Location17044", "All operands of %s must be arrays. One argument is of type: %s", name, uTypeName(x))
		}
		sets[i] = arr
	}
	has := func(set bson.A, e any) bool {
		return slices.ContainsFunc(set, func(x any) bool { return xCmp(x, e, coll) == 0 })
	}
	dedupe := func(in bson.A) bson.A {
		out := bson.A{}
		for _, e := range in {
			if !has(out, e) {
				out = append(out, e)
			}
		}
		return out
	}
	switch name {
	case "$setUnion":
		var all bson.A
		for _, s := range sets {
			all = append(all, s...)
		}
		return dedupe(all), nil
	case "$setIntersection":
		if len(sets) == 0 {
			return bson.A{}, nil
		}
		out := bson.A{}
		for _, e := range dedupe(sets[0]) {
			in := true
			for _, s := range sets[1:] {
				in = in && has(s, e)
			}
			if in {
				out = append(out, e)
			}
		}
		return out, nil
	case "$setDifference":
		out := bson.A{}
		for _, e := range dedupe(sets[0]) {
			if !has(sets[1], e) {
				out = append(out, e)
			}
		}
		return out, nil
	case "$setIsSubset":
		for _, e := range sets[0] {
			if !has(sets[1], e) {
				return false, nil
			}
		}
		return true, nil
	}
	// $setEquals
	for _, s := range sets[1:] {
		for _, e := range s {
			if !has(sets[0], e) {
				return false, nil
			}
		}
		for _, e := range sets[0] {
			if !has(s, e) {
				return false, nil
			}
		}
	}
	return true, nil
}

func xIndexOfString(name string, v []any) (any, error) {
	if xNullish(v[0]) {
		return nil, nil
	}
	s, ok := xAsString(v[0])
	if !ok {
		return nil, Errorf(40091, "Location40091", "%s requires a string as the first argument, found: %s", name, uTypeName(v[0]))
	}
	sub, ok := xAsString(v[1])
	if !ok {
		return nil, Errorf(40092, "Location40092", "%s requires a string as the second argument, found: %s", name, uTypeName(v[1]))
	}
	units := []rune(s)
	length := int64(len(units))
	if name == "$indexOfBytes" {
		length = int64(len(s))
	}
	start, end := int64(0), length
	if len(v) > 2 {
		n, ok := ToInt64(v[2])
		if !ok || !IsIntegral(v[2]) || n < 0 {
			return nil, Errorf(40097, "Location40097", "%s requires a nonnegative integral starting index", name)
		}
		start = n
	}
	if len(v) > 3 {
		n, ok := ToInt64(v[3])
		if !ok || !IsIntegral(v[3]) || n < 0 {
			return nil, Errorf(40097, "Location40097", "%s requires a nonnegative integral ending index", name)
		}
		end = min(n, length)
	}
	if start > end || start > length {
		return int32(-1), nil
	}
	if name == "$indexOfBytes" {
		i := strings.Index(s[start:end], sub)
		if i < 0 {
			return int32(-1), nil
		}
		return int32(int64(i) + start), nil
	}
	hay := string(units[start:end])
	i := strings.Index(hay, sub)
	if i < 0 {
		return int32(-1), nil
	}
	return int32(int64(utf8.RuneCountInString(hay[:i])) + start), nil
}

func xCompileRegexOp(name string, arg any) (xNode, error) {
	m, err := xObjectArgs(name, arg, []string{"input", "regex"}, "options")
	if err != nil {
		return nil, err
	}
	input, err := xCompile(m["input"])
	if err != nil {
		return nil, err
	}
	regex, err := xCompile(m["regex"])
	if err != nil {
		return nil, err
	}
	options, err := xCompileNamed(m, "options")
	if err != nil {
		return nil, err
	}
	return xLazy(func(c *xCtx) (any, error) {
		in, err := input.eval(c)
		if err != nil {
			return nil, err
		}
		rv, err := regex.eval(c)
		if err != nil {
			return nil, err
		}
		var pattern, opts string
		switch r := rv.(type) {
		case string:
			pattern = r
		case bson.Regex:
			pattern, opts = r.Pattern, r.Options
		default:
			if !xNullish(rv) {
				return nil, Errorf(51105, "Location51105", "%s needs 'regex' to be of type string or regex", name)
			}
		}
		if options != nil {
			ov, err := options.eval(c)
			if err != nil {
				return nil, err
			}
			if s, ok := ov.(string); ok {
				opts += s
			}
		}
		notFound := func() any {
			switch name {
			case "$regexMatch":
				return false
			case "$regexFindAll":
				return bson.A{}
			}
			return nil
		}
		if xNullish(in) || xNullish(rv) {
			return notFound(), nil
		}
		s, ok := xAsString(in)
		if !ok {
			return nil, Errorf(51104, "Location51104", "%s needs 'input' to be of type string", name)
		}
		re, err := compileRegex(pattern, opts)
		if err != nil {
			return nil, Errorf(51111, "Location51111", "Invalid Regex in %s: %v", name, err)
		}
		match := func(loc []int) bson.D {
			captures := bson.A{}
			for i := 2; i+1 < len(loc); i += 2 {
				if loc[i] < 0 {
					captures = append(captures, nil)
				} else {
					captures = append(captures, s[loc[i]:loc[i+1]])
				}
			}
			return bson.D{{Key: "match", Value: s[loc[0]:loc[1]]},
				{Key: "idx", Value: int32(utf8.RuneCountInString(s[:loc[0]]))}, {Key: "captures", Value: captures}}
		}
		switch name {
		case "$regexMatch":
			return re.MatchString(s), nil
		case "$regexFind":
			loc := re.FindStringSubmatchIndex(s)
			if loc == nil {
				return nil, nil
			}
			return match(loc), nil
		}
		out := bson.A{}
		for _, loc := range re.FindAllStringSubmatchIndex(s, -1) {
			out = append(out, match(loc))
		}
		return out, nil
	}), nil
}

func xCompileSortArray(arg any) (xNode, error) {
	m, err := xObjectArgs("$sortArray", arg, []string{"input", "sortBy"})
	if err != nil {
		return nil, err
	}
	input, err := xCompile(m["input"])
	if err != nil {
		return nil, err
	}
	var cmp func(a, b any, coll *Collation) int
	if d, ok := asDoc(m["sortBy"]); ok {
		s, err := NewSort(d)
		if err != nil {
			return nil, err
		}
		cmp = func(a, b any, coll *Collation) int {
			da, _ := a.(bson.D)
			db, _ := b.(bson.D)
			return s.compare(da, db, coll)
		}
	} else {
		f, ok := ToFloat(m["sortBy"])
		if !ok || (f != 1 && f != -1) {
			return nil, Errorf(2942505, "Location2942505", "$sortArray requires sortBy to be either 1, -1 or a sort specification object")
		}
		dir := int(f)
		cmp = func(a, b any, coll *Collation) int { return dir * compareColl(a, b, coll) }
	}
	return xLazy(func(c *xCtx) (any, error) {
		v, err := input.eval(c)
		if err != nil {
			return nil, err
		}
		if xNullish(v) {
			return nil, nil
		}
		arr, ok := asArray(v)
		if !ok {
			return nil, Errorf(2942504, "Location2942504", "$sortArray requires an array as input, found: %s", uTypeName(v))
		}
		out := slices.Clone(arr)
		slices.SortStableFunc(out, func(a, b any) int { return cmp(a, b, c.coll) })
		return out, nil
	}), nil
}
