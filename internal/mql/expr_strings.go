package mql

// String expression operators.

import (
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
)

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
