package mql

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func xConversionFailure(format string, args ...any) *Error {
	return Errorf(241, "ConversionFailure", format, args...)
}

// xTargetName maps a $convert "to" value (alias or type number) to an alias.
func xTargetName(v any) (string, error) {
	if s, ok := v.(string); ok {
		switch s {
		case "double", "string", "objectId", "bool", "date", "int", "long", "decimal":
			return s, nil
		}
		if _, known := TypeAlias(s); known {
			return s, nil
		}
		return "", Errorf(CodeBadValue, "BadValue", "Unknown type name: %s", s)
	}
	if n, ok := ToInt64(v); ok && IsIntegral(v) {
		names := map[int64]string{1: "double", 2: "string", 7: "objectId", 8: "bool", 9: "date", 16: "int", 18: "long", 19: "decimal"}
		if s, ok := names[n]; ok {
			return s, nil
		}
		return "", Errorf(CodeBadValue, "BadValue", "In $convert, numeric value for 'to' does not correspond to a BSON type: %d", n)
	}
	return "", Errorf(CodeFailedToParse, "FailedToParse", "$convert's 'to' argument must be a string or number, but is %s", uTypeName(v))
}

// xFormatDouble prints a double as the server's $toString does.
func xFormatDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func xFormatDate(d bson.DateTime) string {
	return d.Time().UTC().Format("2006-01-02T15:04:05.000Z")
}

// xConvert converts a non-null value to the named type, with the errors
// (code 241 ConversionFailure) that $convert reports without onError.
func xConvert(v any, to string) (any, error) {
	v = xNormalizeNumber(v)
	unsupported := func() (any, error) {
		return nil, xConversionFailure("Unsupported conversion from %s to %s in $convert with no onError value", uTypeName(v), to)
	}
	switch to {
	case "string":
		switch x := v.(type) {
		case string:
			return x, nil
		case bson.Symbol:
			return string(x), nil
		case bool:
			return strconv.FormatBool(x), nil
		case int32:
			return strconv.FormatInt(int64(x), 10), nil
		case int64:
			return strconv.FormatInt(x, 10), nil
		case float64:
			return xFormatDouble(x), nil
		case bson.Decimal128:
			return x.String(), nil
		case bson.ObjectID:
			return x.Hex(), nil
		case bson.DateTime:
			return xFormatDate(x), nil
		}
		return unsupported()
	case "bool":
		switch x := v.(type) {
		case bool:
			return x, nil
		case int32, int64, float64, bson.Decimal128:
			return Truthy(x), nil
		case string, bson.ObjectID, bson.DateTime, bson.D, bson.A, bson.Timestamp, bson.Binary, bson.Regex:
			return true, nil
		}
		return unsupported()
	case "int", "long":
		var n int64
		switch x := v.(type) {
		case bool:
			if x {
				n = 1
			}
		case int32:
			n = int64(x)
		case int64:
			n = x
		case float64, bson.Decimal128:
			f, _ := ToFloat(x)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, xConversionFailure("Attempt to convert NaN or infinity value to integer type in $convert with no onError value: %s", uShort(x))
			}
			t, ok := ToInt64(x)
			if !ok {
				return nil, xConversionFailure("Conversion would overflow target type in $convert with no onError value: %s", uShort(x))
			}
			n = t
		case bson.DateTime:
			if to == "int" {
				return unsupported()
			}
			n = int64(x)
		case string:
			t, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return nil, xConversionFailure("Failed to parse number '%s' in $convert with no onError value: Did not consume whole string.", x)
			}
			n = t
		default:
			return unsupported()
		}
		if to == "int" {
			if n < math.MinInt32 || n > math.MaxInt32 {
				return nil, xConversionFailure("Conversion would overflow target type in $convert with no onError value: %d", n)
			}
			return int32(n), nil
		}
		return n, nil
	case "double":
		switch x := v.(type) {
		case bool:
			if x {
				return 1.0, nil
			}
			return 0.0, nil
		case int32, int64, float64, bson.Decimal128:
			f, _ := ToFloat(x)
			return f, nil
		case bson.DateTime:
			return float64(x), nil
		case string:
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return nil, xConversionFailure("Failed to parse number '%s' in $convert with no onError value: Did not consume whole string.", x)
			}
			return f, nil
		}
		return unsupported()
	case "decimal":
		switch x := v.(type) {
		case bool:
			if x {
				return xToDecimal(int64(1)), nil
			}
			return xToDecimal(int64(0)), nil
		case int32, int64, float64, bson.Decimal128:
			return xToDecimal(x), nil
		case bson.DateTime:
			return xToDecimal(int64(x)), nil
		case string:
			d, err := bson.ParseDecimal128(x)
			if err != nil {
				return nil, xConversionFailure("Failed to parse number '%s' in $convert with no onError value", x)
			}
			return d, nil
		}
		return unsupported()
	case "objectId":
		switch x := v.(type) {
		case bson.ObjectID:
			return x, nil
		case string:
			id, err := bson.ObjectIDFromHex(x)
			if err != nil {
				return nil, xConversionFailure("Failed to parse objectId '%s' in $convert with no onError value: Invalid string length for parsing to OID, expected 24 but found %d", x, len(x))
			}
			return id, nil
		}
		return unsupported()
	case "date":
		switch x := v.(type) {
		case bson.DateTime:
			return x, nil
		case bson.ObjectID:
			return bson.NewDateTimeFromTime(x.Timestamp()), nil
		case bson.Timestamp:
			return bson.DateTime(int64(x.T) * 1000), nil
		case int64, float64, bson.Decimal128:
			n, ok := ToInt64(x)
			if !ok {
				return nil, xConversionFailure("Conversion would overflow target type in $convert with no onError value")
			}
			return bson.DateTime(n), nil
		case string:
			for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
				if t, err := time.Parse(layout, x); err == nil {
					return bson.NewDateTimeFromTime(t), nil
				}
			}
			return nil, xConversionFailure("Error parsing date string '%s'", x)
		}
		return unsupported()
	}
	if n, ok := TypeAlias(to); ok && TypeNumber(v) == n {
		return v, nil
	}
	return unsupported()
}

func xCompileConvert(arg any) (xNode, error) {
	m, err := xObjectArgs("$convert", arg, []string{"input", "to"}, "onError", "onNull", "format", "base", "byteOrder")
	if err != nil {
		return nil, err
	}
	input, err := xCompile(m["input"])
	if err != nil {
		return nil, err
	}
	toN, err := xCompile(m["to"])
	if err != nil {
		return nil, err
	}
	onError, err := xCompileNamed(m, "onError")
	if err != nil {
		return nil, err
	}
	onNull, err := xCompileNamed(m, "onNull")
	if err != nil {
		return nil, err
	}
	return xLazy(func(c *xCtx) (any, error) {
		in, err := input.eval(c)
		if err != nil {
			return nil, err
		}
		tv, err := toN.eval(c)
		if err != nil {
			return nil, err
		}
		if xNullish(tv) {
			return nil, nil
		}
		if d, ok := asDoc(tv); ok {
			if t, ok := uGetField(d, "type"); ok {
				tv = t
			}
		}
		to, err := xTargetName(tv)
		if err != nil {
			return nil, err
		}
		if xNullish(in) {
			if onNull != nil {
				return onNull.eval(c)
			}
			return nil, nil
		}
		out, err := xConvert(in, to)
		if err != nil && onError != nil {
			return onError.eval(c)
		}
		return out, err
	}), nil
}

// xDateArgs parses the {date, timezone} argument form shared by date
// operators; a bare expression is the date.
func xDateArgs(name string, arg any) (date, tz xNode, err error) {
	if d, ok := asDoc(arg); ok && len(d) > 0 && !strings.HasPrefix(d[0].Key, "$") {
		m, err := xObjectArgs(name, d, []string{"date"}, "timezone")
		if err != nil {
			return nil, nil, err
		}
		if date, err = xCompile(m["date"]); err != nil {
			return nil, nil, err
		}
		tz, err = xCompileNamed(m, "timezone")
		return date, tz, err
	}
	if arr, ok := asArray(arg); ok {
		if len(arr) != 1 {
			return nil, nil, Errorf(16020, "Location16020", "Expression %s takes exactly 1 arguments. %d were passed in.", name, len(arr))
		}
		arg = arr[0]
	}
	date, err = xCompile(arg)
	return date, nil, err
}

func xEvalDate(c *xCtx, name string, date, tz xNode) (time.Time, bool, error) {
	v, err := date.eval(c)
	if err != nil {
		return time.Time{}, false, err
	}
	if xNullish(v) {
		return time.Time{}, false, nil
	}
	var t time.Time
	switch x := v.(type) {
	case bson.DateTime:
		t = x.Time().UTC()
	case bson.Timestamp:
		t = time.Unix(int64(x.T), 0).UTC()
	case bson.ObjectID:
		t = x.Timestamp().UTC()
	default:
		return time.Time{}, false, Errorf(16006, "Location16006", "can't convert from BSON type %s to Date", uTypeName(v))
	}
	if tz != nil {
		zv, err := tz.eval(c)
		if err != nil {
			return time.Time{}, false, err
		}
		if xNullish(zv) {
			return time.Time{}, false, nil
		}
		zs, ok := zv.(string)
		if !ok {
			return time.Time{}, false, Errorf(40517, "Location40517", "timezone must evaluate to a string, found %s", uTypeName(zv))
		}
		loc, err := xLocation(zs)
		if err != nil {
			return time.Time{}, false, err
		}
		t = t.In(loc)
	}
	return t, true, nil
}

func xLocation(s string) (*time.Location, error) {
	switch s {
	case "UTC", "Z", "GMT":
		return time.UTC, nil
	}
	if len(s) > 1 && (s[0] == '+' || s[0] == '-') {
		digits := strings.ReplaceAll(s[1:], ":", "")
		if len(digits) == 2 {
			digits += "00"
		}
		if len(digits) == 4 {
			h, err1 := strconv.Atoi(digits[:2])
			m, err2 := strconv.Atoi(digits[2:])
			if err1 == nil && err2 == nil {
				off := h*3600 + m*60
				if s[0] == '-' {
					off = -off
				}
				return time.FixedZone(s, off), nil
			}
		}
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		return nil, Errorf(40485, "Location40485", "unrecognized time zone identifier: \"%s\"", s)
	}
	return loc, nil
}

func xCompileDatePart(name string, arg any) (xNode, error) {
	date, tz, err := xDateArgs(name, arg)
	if err != nil {
		return nil, err
	}
	return xLazy(func(c *xCtx) (any, error) {
		t, ok, err := xEvalDate(c, name, date, tz)
		if err != nil || !ok {
			return nil, err
		}
		switch name {
		case "$year":
			return int32(t.Year()), nil
		case "$month":
			return int32(t.Month()), nil
		case "$dayOfMonth":
			return int32(t.Day()), nil
		case "$hour":
			return int32(t.Hour()), nil
		case "$minute":
			return int32(t.Minute()), nil
		case "$second":
			return int32(t.Second()), nil
		case "$millisecond":
			return int32(t.Nanosecond() / 1e6), nil
		case "$dayOfWeek":
			return int32(t.Weekday()) + 1, nil
		case "$dayOfYear":
			return int32(t.YearDay()), nil
		case "$week":
			return int32(xWeekSunday(t)), nil
		case "$isoWeek":
			_, w := t.ISOWeek()
			return int32(w), nil
		case "$isoWeekYear":
			y, _ := t.ISOWeek()
			return int64(y), nil
		case "$isoDayOfWeek":
			d := int32(t.Weekday())
			if d == 0 {
				d = 7
			}
			return d, nil
		}
		return nil, Errorf(168, "InvalidPipelineOperator", "Unrecognized expression '%s'", name)
	}), nil
}

// xWeekSunday is the %U week of the year: weeks start on Sunday, days before
// the first Sunday are in week 0.
func xWeekSunday(t time.Time) int {
	return (t.YearDay() + 6 - int(t.Weekday())) / 7
}

func xCompileDateToString(arg any) (xNode, error) {
	m, err := xObjectArgs("$dateToString", arg, []string{"date"}, "format", "timezone", "onNull")
	if err != nil {
		return nil, err
	}
	date, err := xCompile(m["date"])
	if err != nil {
		return nil, err
	}
	tz, err := xCompileNamed(m, "timezone")
	if err != nil {
		return nil, err
	}
	onNull, err := xCompileNamed(m, "onNull")
	if err != nil {
		return nil, err
	}
	format := "%Y-%m-%dT%H:%M:%S.%LZ"
	if f, ok := m["format"]; ok {
		s, isStr := f.(string)
		if !isStr {
			return nil, Errorf(18533, "Location18533", "$dateToString requires that 'format' be a string, found: %s", uTypeName(f))
		}
		format = s
		if err := xCheckDateFormat(format); err != nil {
			return nil, err
		}
	}
	return xLazy(func(c *xCtx) (any, error) {
		t, ok, err := xEvalDate(c, "$dateToString", date, tz)
		if err != nil {
			return nil, err
		}
		if !ok {
			if onNull != nil {
				return onNull.eval(c)
			}
			return nil, nil
		}
		return xFormatDateString(format, t), nil
	}), nil
}

func xCheckDateFormat(f string) error {
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		if i+1 >= len(f) {
			return Errorf(18535, "Location18535", "Unmatched '%%' at end of format string")
		}
		i++
		if !strings.ContainsRune("YmdHMSLjwUuVGZz%bB", rune(f[i])) {
			return Errorf(18536, "Location18536", "Invalid format character '%%%c' in format string", f[i])
		}
	}
	return nil
}

func xFormatDateString(f string, t time.Time) string {
	var sb strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 >= len(f) {
			sb.WriteByte(f[i])
			continue
		}
		i++
		switch f[i] {
		case 'Y':
			fmt.Fprintf(&sb, "%04d", t.Year())
		case 'm':
			fmt.Fprintf(&sb, "%02d", int(t.Month()))
		case 'd':
			fmt.Fprintf(&sb, "%02d", t.Day())
		case 'H':
			fmt.Fprintf(&sb, "%02d", t.Hour())
		case 'M':
			fmt.Fprintf(&sb, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&sb, "%02d", t.Second())
		case 'L':
			fmt.Fprintf(&sb, "%03d", t.Nanosecond()/1e6)
		case 'j':
			fmt.Fprintf(&sb, "%03d", t.YearDay())
		case 'w':
			fmt.Fprintf(&sb, "%d", int(t.Weekday())+1)
		case 'u':
			d := int(t.Weekday())
			if d == 0 {
				d = 7
			}
			fmt.Fprintf(&sb, "%d", d)
		case 'U':
			fmt.Fprintf(&sb, "%02d", xWeekSunday(t))
		case 'V':
			_, w := t.ISOWeek()
			fmt.Fprintf(&sb, "%02d", w)
		case 'G':
			y, _ := t.ISOWeek()
			fmt.Fprintf(&sb, "%04d", y)
		case 'Z':
			_, off := t.Zone()
			fmt.Fprintf(&sb, "%d", off/60)
		case 'z':
			_, off := t.Zone()
			sign := '+'
			if off < 0 {
				sign, off = '-', -off
			}
			fmt.Fprintf(&sb, "%c%02d%02d", sign, off/3600, off%3600/60)
		case 'b':
			sb.WriteString(t.Month().String()[:3])
		case 'B':
			sb.WriteString(t.Month().String())
		case '%':
			sb.WriteByte('%')
		}
	}
	return sb.String()
}
