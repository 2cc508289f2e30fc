package sync

import (
	"math"
	"math/rand/v2"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// valueGen draws BSON values of every type, from a seeded source, for
// model-based tests: two documents that differ in type only (int32 1 and
// int64 1, 0.0 and -0.0) must have different content hashes, and so on.
type valueGen struct{ r *rand.Rand }

func newValueGen(r *rand.Rand) *valueGen { return &valueGen{r: r} }

var genNames = []string{"a", "b", "n", "x.y", "$k", "é", ""}

func (g *valueGen) scalar() any {
	switch g.r.IntN(20) {
	case 0:
		return g.r.Float64()*200 - 100
	case 1:
		return []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), 1}[g.r.IntN(5)]
	case 2:
		return []string{"", "a", "é", "x\x00y"[:1]}[g.r.IntN(4)]
	case 3:
		return bson.Binary{Subtype: byte(g.r.IntN(6)), Data: []byte{byte(g.r.IntN(3))}}
	case 4:
		return bson.ObjectID{byte(g.r.IntN(3))}
	case 5:
		return g.r.IntN(2) == 0
	case 6:
		return bson.NewDateTimeFromTime(time.UnixMilli(int64(g.r.IntN(3)) * 1000))
	case 7:
		return nil
	case 8:
		return bson.Regex{Pattern: "^a", Options: []string{"", "i"}[g.r.IntN(2)]}
	case 9:
		return int32(g.r.IntN(3))
	case 10:
		return bson.Timestamp{T: uint32(g.r.IntN(3)), I: 1}
	case 11:
		return int64(g.r.IntN(3))
	case 12:
		d, _ := bson.ParseDecimal128([]string{"1", "1.0", "-0", "NaN"}[g.r.IntN(4)])
		return d
	case 13:
		return bson.MinKey{}
	case 14:
		return bson.MaxKey{}
	case 15:
		return bson.JavaScript("f()")
	case 16:
		return bson.Symbol("s")
	case 17:
		return bson.Undefined{}
	case 18:
		return bson.DBPointer{DB: "d", Pointer: bson.ObjectID{1}}
	}
	return bson.CodeWithScope{Code: "f", Scope: bson.D{{Key: "x", Value: 1}}}
}

func (g *valueGen) value(depth int) any {
	if depth <= 0 || g.r.IntN(4) != 0 {
		return g.scalar()
	}
	if g.r.IntN(2) == 0 {
		a := bson.A{}
		for range g.r.IntN(3) {
			a = append(a, g.value(depth-1))
		}
		return a
	}
	return g.fields(depth-1, 3)
}

func (g *valueGen) fields(depth, width int) bson.D {
	d := bson.D{}
	for _, n := range genNames[:1+g.r.IntN(min(width, len(genNames)))] {
		if g.r.IntN(3) != 0 {
			d = append(d, bson.E{Key: n, Value: g.value(depth)})
		}
	}
	return d
}

// doc is a document with _id 1 (the one document a model follows).
func (g *valueGen) doc(depth, width int) bson.D {
	return append(bson.D{{Key: "_id", Value: 1}}, g.fields(depth, width)...)
}
