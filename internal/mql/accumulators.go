package mql

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// accState accumulates the values of one $group accumulator (or of the
// array form of $sum/$avg/$min/$max in expressions).
type accState interface {
	add(v any)
	result() any
}

func agKnownAccumulator(name string) bool {
	switch name {
	case "$sum", "$avg", "$min", "$max", "$first", "$last", "$push", "$addToSet", "$count", "$mergeObjects",
		"$stdDevPop", "$stdDevSamp", "$firstN", "$lastN", "$maxN", "$minN":
		return true
	}
	return false
}

func newAccumulatorState(name string, coll *Collation) accState {
	switch name {
	case "$sum":
		return &accSum{sum: int32(0)}
	case "$avg":
		return &accAvg{}
	case "$min":
		return &accMinMax{sign: -1, coll: coll}
	case "$max":
		return &accMinMax{sign: 1, coll: coll}
	case "$first":
		return &accFirst{}
	case "$last":
		return &accLast{}
	case "$push":
		return &accPush{out: bson.A{}}
	case "$addToSet":
		return &accAddToSet{out: bson.A{}, seen: map[string]bool{}, coll: coll}
	case "$count":
		return &accSum{sum: int32(0), count: true}
	case "$mergeObjects":
		return &accMerge{out: bson.D{}}
	case "$stdDevPop", "$stdDevSamp":
		return &accStdDev{samp: name == "$stdDevSamp"}
	case "$firstN", "$lastN", "$maxN", "$minN":
		return &accN{op: name, coll: coll}
	}
	return nil
}

// accSum sums numbers, ignoring other values; the result widens like $add
// (int32 -> int64 -> double on overflow).
type accSum struct {
	sum   any
	count bool
}

func (a *accSum) add(v any) {
	if a.count {
		a.sum, _ = xArith(xOpAdd, a.sum, int32(1), false)
		return
	}
	if IsNumber(v) {
		a.sum, _ = xArith(xOpAdd, a.sum, v, false)
	}
}

func (a *accSum) result() any { return a.sum }

// accAvg averages numbers, ignoring other values; null when there were none.
type accAvg struct {
	sum any
	n   int64
}

func (a *accAvg) add(v any) {
	if !IsNumber(v) {
		return
	}
	if a.sum == nil {
		a.sum = float64(0)
		if _, isDec := v.(bson.Decimal128); isDec {
			a.sum = xToDecimal(int32(0))
		}
	}
	if _, isDec := v.(bson.Decimal128); isDec {
		if _, sumDec := a.sum.(bson.Decimal128); !sumDec {
			a.sum = xToDecimal(a.sum)
		}
	}
	a.sum, _ = xArith(xOpAdd, a.sum, v, false)
	a.n++
}

func (a *accAvg) result() any {
	if a.n == 0 {
		return nil
	}
	if d, ok := a.sum.(bson.Decimal128); ok {
		r, _ := xDivide([]any{d, a.n})
		return r
	}
	f, _ := ToFloat(a.sum)
	return f / float64(a.n)
}

// accMinMax keeps the smallest (sign -1) or largest (sign 1) non-null value.
type accMinMax struct {
	sign int
	best any
	has  bool
	coll *Collation
}

func (a *accMinMax) add(v any) {
	if xNullish(v) {
		return
	}
	if !a.has || compareColl(v, a.best, a.coll)*a.sign > 0 {
		a.best, a.has = v, true
	}
}

func (a *accMinMax) result() any {
	if !a.has {
		return nil
	}
	return a.best
}

type accFirst struct {
	v   any
	has bool
}

func (a *accFirst) add(v any) {
	if !a.has {
		a.v, a.has = v, true
	}
}

func (a *accFirst) result() any {
	if xIsMissing(a.v) {
		return nil
	}
	return a.v
}

type accLast struct{ v any }

func (a *accLast) add(v any) { a.v = v }

func (a *accLast) result() any {
	if xIsMissing(a.v) {
		return nil
	}
	return a.v
}

type accPush struct {
	out   bson.A
	bytes int64 // BSON bytes collected, counted under memory limits
}

func (a *accPush) add(v any) {
	if !xIsMissing(v) {
		a.out = append(a.out, v)
	}
}

func (a *accPush) result() any { return a.out }

type accAddToSet struct {
	out  bson.A
	seen map[string]bool
	coll *Collation
	// bytes is the BSON size collected, counted under memory limits.
	bytes int64
}

func (a *accAddToSet) add(v any) {
	if xIsMissing(v) {
		return
	}
	k := xKey(v, a.coll)
	if a.seen[k] {
		return
	}
	a.seen[k] = true
	a.out = append(a.out, v)
}

func (a *accAddToSet) result() any { return a.out }

type accMerge struct{ out bson.D }

func (a *accMerge) add(v any) {
	if r, err := xMergeObjects([]any{a.out, v}); err == nil {
		a.out = r.(bson.D)
	}
}

func (a *accMerge) result() any { return a.out }

// xKey encodes a value so that values the server groups together (1, 1.0
// and NumberLong(1); documents with equal fields) get equal keys.
// Under a collation, strings that compare equal get equal keys.
func xKey(v any, coll *Collation) string {
	var sb strings.Builder
	xWriteKey(&sb, v, coll)
	return sb.String()
}

func xWriteKey(sb *strings.Builder, v any, coll *Collation) {
	v = xNormalizeNumber(v)
	switch x := v.(type) {
	case nil, bson.Null, xMissing:
		sb.WriteString("N;")
	case bson.Undefined:
		sb.WriteString("N;")
	case int32, int64, float64, bson.Decimal128:
		if i, ok := intValue(x); ok {
			sb.WriteString("n" + strconv.FormatInt(i, 10) + ";")
			return
		}
		f, _ := ToFloat(x)
		if f == math.Trunc(f) && math.Abs(f) < 9e18 {
			sb.WriteString("n" + strconv.FormatInt(int64(f), 10) + ";")
			return
		}
		if d, ok := x.(bson.Decimal128); ok && !d.IsNaN() && d.IsInf() == 0 {
			sb.WriteString("d" + d.String() + ";")
			return
		}
		sb.WriteString("n" + strconv.FormatFloat(f, 'g', -1, 64) + ";")
	case string:
		sb.WriteString("s" + strconv.Quote(collKey(x, coll)) + ";")
	case bson.Symbol:
		sb.WriteString("s" + strconv.Quote(collKey(string(x), coll)) + ";")
	case bson.D:
		sb.WriteString("{")
		for _, e := range x {
			sb.WriteString(strconv.Quote(e.Key) + ":")
			xWriteKey(sb, e.Value, coll)
		}
		sb.WriteString("}")
	case bson.A:
		sb.WriteString("[")
		for _, e := range x {
			xWriteKey(sb, e, coll)
		}
		sb.WriteString("]")
	case bson.M, map[string]any:
		d, _ := asDoc(x)
		xWriteKey(sb, d, coll)
	case []any:
		xWriteKey(sb, bson.A(x), coll)
	default:
		sb.WriteString("t" + strconv.Itoa(TypeBracket(v)) + ":")
		sb.WriteString(strconv.Quote(xKeyScalar(v)) + ";")
	}
}

func collKey(s string, coll *Collation) string {
	if coll == nil {
		return s
	}
	return coll.Key(s)
}

func xKeyScalar(v any) string {
	switch x := v.(type) {
	case bson.ObjectID:
		return x.Hex()
	case bool:
		return strconv.FormatBool(x)
	case bson.DateTime:
		return strconv.FormatInt(int64(x), 10)
	case bson.Timestamp:
		return strconv.FormatUint(uint64(x.T), 10) + "/" + strconv.FormatUint(uint64(x.I), 10)
	case bson.Binary:
		return strconv.Itoa(int(x.Subtype)) + "/" + string(x.Data)
	case bson.Regex:
		return x.Pattern + "/" + x.Options
	}
	return uShort(v)
}

// accStdDev is the population or sample standard deviation of the numbers
// seen (Welford's algorithm); null without enough numbers.
type accStdDev struct {
	samp     bool
	n        float64
	mean, m2 float64
}

func (a *accStdDev) add(v any) {
	f, ok := ToFloat(v)
	if !ok {
		return
	}
	a.n++
	d := f - a.mean
	a.mean += d / a.n
	a.m2 += d * (f - a.mean)
}

func (a *accStdDev) result() any {
	switch {
	case a.samp && a.n < 2, a.n == 0:
		return nil
	case a.samp:
		return math.Sqrt(a.m2 / (a.n - 1))
	}
	return math.Sqrt(a.m2 / a.n)
}

// accNState is implemented by accumulators whose argument is {input, n}
// and can be invalid per document.
type accNState interface {
	addN(v any) error
}

// accN implements $firstN, $lastN, $maxN and $minN. $maxN and $minN skip
// null and missing inputs; $firstN and $lastN keep them as null.
type accN struct {
	op   string
	n    int64
	vals bson.A
	coll *Collation
}

func (a *accN) add(v any) { _ = a.addN(v) }

func (a *accN) addN(v any) error {
	d, ok := v.(bson.D)
	nv, hasN := uGetField(d, "n")
	if !ok || !hasN {
		return Errorf(5787906, "Location5787906", "%s requires an object with 'input' and 'n'", a.op)
	}
	n, ok := ToInt64(nv)
	if !ok || !IsIntegral(nv) || n <= 0 {
		return Errorf(5787908, "Location5787908", "%s requires 'n' to be a positive integer, found %s", a.op, uShort(nv))
	}
	a.n = n
	in, has := uGetField(d, "input")
	switch a.op {
	case "$maxN", "$minN":
		if !has || IsNullish(in) {
			return nil
		}
		a.vals = append(a.vals, in)
		sign := 1
		if a.op == "$minN" {
			sign = -1
		}
		sort.SliceStable(a.vals, func(i, j int) bool { return sign*compareColl(a.vals[i], a.vals[j], a.coll) > 0 })
		if int64(len(a.vals)) > n {
			a.vals = a.vals[:n]
		}
	case "$firstN":
		if int64(len(a.vals)) < n {
			a.vals = append(a.vals, in)
		}
	default:
		a.vals = append(a.vals, in)
		if int64(len(a.vals)) > n {
			a.vals = a.vals[1:]
		}
	}
	return nil
}

func (a *accN) result() any {
	if a.vals == nil {
		return bson.A{}
	}
	return a.vals
}
