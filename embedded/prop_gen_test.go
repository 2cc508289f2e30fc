package embedded_test

import (
	"math"
	"math/rand/v2"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Random values for the write -> change event property test
// (prop_events_test.go). Every BSON type the driver can send is generated,
// with the edge values that have broken encoders before: null and undefined
// (the $set-to-null bug), empty strings, documents and arrays, arrays of
// arrays and of documents, -0, NaN and the infinities as doubles and
// decimals, empty timestamps, several binary subtypes.

// propGen draws everything from one seeded source, so a seed replays the
// same writes (given the same server answers).
type propGen struct{ r *rand.Rand }

// propNames are field names: plain, numeric-looking (they address array
// elements when the parent is an array, fields when it is a document),
// non-ASCII, and one that sorts before the others.
var propNames = []string{"a", "b", "c", "x", "y", "0", "1", "10", "é", "A", "_a"}

// propDottedNames are allowed in inserted and replaced documents (MongoDB
// 5.0+) but cannot be addressed by an update path; they appear only there.
var propDottedNames = []string{"d.e", "1.2"}

var propOIDs = []bson.ObjectID{
	{0x65, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
	{0x65, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2},
	{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
}

// propIDs is the small _id space: most writes hit an existing document.
// The numeric ids are of distinct values (1 and 1.0 would be the same
// _id to MongoDB).
var propIDs = []any{
	int32(0), int32(1), int32(2), int32(3), int32(4),
	"k0", "k1", "",
	int64(1 << 40), 2.5,
	propOIDs[0],
	bson.D{{Key: "x", Value: int32(1)}, {Key: "y", Value: "z"}},
}

func (g *propGen) pick(n int) int        { return g.r.IntN(n) }
func (g *propGen) chance(p float64) bool { return g.r.Float64() < p }

func (g *propGen) id() any { return propIDs[g.pick(len(propIDs))] }

func (g *propGen) name() string { return propNames[g.pick(len(propNames))] }

// value returns a random value; depth bounds nesting.
func (g *propGen) value(depth int) any {
	if depth > 0 && g.chance(0.25) {
		if g.chance(0.5) {
			// Nested field names may contain dots (MongoDB 5.0+, in
			// inserts, replacements and update values alike).
			return g.doc(depth-1, true)
		}
		return g.array(depth - 1)
	}
	return g.scalar()
}

func (g *propGen) scalar() any {
	switch g.pick(24) {
	case 0:
		return nil
	case 1:
		return bson.Undefined{}
	case 2:
		return g.chance(0.5)
	case 3:
		return []string{"", "s", "é", "a.b", "$x", strings.Repeat("z", 40)}[g.pick(6)]
	case 4, 5:
		return []int32{0, 1, -1, 7, math.MaxInt32, math.MinInt32}[g.pick(6)]
	case 6:
		return []int64{0, 3, -5, math.MaxInt64, math.MinInt64, 1 << 40}[g.pick(6)]
	case 7, 8:
		return []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1), 1.5, -2.25, 1e300}[g.pick(8)]
	case 9:
		s := []string{"0", "-0", "1.5", "NaN", "Infinity", "-Infinity", "1E+10", "0.000", "-7"}[g.pick(9)]
		if d, err := bson.ParseDecimal128(s); err == nil {
			return d
		}
		return s
	case 10:
		return bson.DateTime([]int64{0, -1, 1700000000000, -62135596800000, math.MaxInt64}[g.pick(5)])
	case 11:
		// {0, 0} is the empty timestamp an insert replaces with the
		// current time in top-level fields.
		return []bson.Timestamp{{T: 0, I: 0}, {T: 1, I: 2}, {T: math.MaxUint32, I: 1}}[g.pick(3)]
	case 12:
		return g.binary()
	case 13:
		return propOIDs[g.pick(len(propOIDs))]
	case 14:
		return []bson.Regex{{Pattern: "a.*", Options: "i"}, {Pattern: "", Options: ""}, {Pattern: "^x$", Options: "ms"}}[g.pick(3)]
	case 15:
		return bson.JavaScript([]string{"function(){return 1}", ""}[g.pick(2)])
	case 16:
		return bson.CodeWithScope{Code: "f(x)", Scope: bson.D{{Key: "x", Value: int32(g.pick(3))}}}
	case 17:
		return bson.Symbol([]string{"sym", ""}[g.pick(2)])
	case 18:
		return bson.DBPointer{DB: "d.c", Pointer: propOIDs[g.pick(len(propOIDs))]}
	case 19:
		return bson.MinKey{}
	case 20:
		return bson.MaxKey{}
	case 21:
		return bson.D{}
	case 22:
		return bson.A{}
	default:
		return int32(g.pick(10))
	}
}

func (g *propGen) binary() bson.Binary {
	switch g.pick(6) {
	case 0:
		return bson.Binary{Subtype: 0, Data: []byte{}}
	case 1:
		return bson.Binary{Subtype: 0, Data: []byte{1, 2, 3}}
	case 2:
		// The old binary subtype, which the driver writes with an extra
		// inner length.
		return bson.Binary{Subtype: 2, Data: []byte{9, 9}}
	case 3:
		return bson.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}
	case 4:
		return bson.Binary{Subtype: 5, Data: []byte("fedcba9876543210")}
	default:
		return bson.Binary{Subtype: 0x80, Data: []byte{0}}
	}
}

// doc returns a random document; dotted names are allowed when the
// document is stored as is (insert, replace).
func (g *propGen) doc(depth int, dotted bool) bson.D {
	n := g.pick(5)
	d := make(bson.D, 0, n)
	for range n {
		k := g.name()
		if dotted && g.chance(0.1) {
			k = propDottedNames[g.pick(len(propDottedNames))]
		}
		if hasKey(d, k) {
			continue
		}
		d = append(d, bson.E{Key: k, Value: g.value(depth)})
	}
	return d
}

func (g *propGen) array(depth int) bson.A {
	n := g.pick(5)
	a := make(bson.A, 0, n)
	kind := g.pick(4) // homogeneous arrays make $sort, $pull and filters bite
	for range n {
		switch kind {
		case 0:
			a = append(a, int32(g.pick(6)))
		case 1:
			a = append(a, bson.D{{Key: "k", Value: int32(g.pick(4))}, {Key: "v", Value: g.scalar()}})
		case 2:
			a = append(a, g.array(max(depth-1, 0)))
		default:
			a = append(a, g.value(depth))
		}
	}
	return a
}

// storedDoc is a document to insert or replace with: random fields, _id
// first when given.
func (g *propGen) storedDoc(id any, withID bool) bson.D {
	d := bson.D{}
	if withID {
		d = append(d, bson.E{Key: "_id", Value: id})
	}
	for _, e := range g.doc(2, true) {
		if e.Key != "_id" {
			d = append(d, e)
		}
	}
	if k := g.name(); !hasKey(d, k) && g.chance(0.5) {
		// A non-empty array most of the time: the positional and array
		// operators need one to bite.
		a := g.array(1)
		for len(a) == 0 {
			a = g.array(1)
		}
		d = append(d, bson.E{Key: k, Value: a})
	}
	return d
}

func hasKey(d bson.D, k string) bool {
	for _, e := range d {
		if e.Key == k {
			return true
		}
	}
	return false
}
