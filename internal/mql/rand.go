package mql

import (
	"math/rand/v2"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// $rand and $sampleRate draw from math/rand/v2's runtime-seeded source, as
// MongoDB draws from an unseeded one: results are not reproducible.

// xRand is {$rand: {}}: a double in [0, 1).
func xCompileRand(arg any) (xNode, error) {
	if d, ok := asDoc(arg); !ok || len(d) != 0 {
		return nil, Errorf(10065, "Location10065", "invalid parameter: expected an object ($rand)")
	}
	return xLazy(func(*xCtx) (any, error) { return rand.Float64(), nil }), nil
}

// sampleNode is {$sampleRate: r}: each document matches with probability r.
type sampleNode float64

func (r sampleNode) match(bson.D, *position) bool { return rand.Float64() < float64(r) }

func compileSampleRate(v any) (node, error) {
	f, ok := ToFloat(v)
	if !ok || !IsNumber(v) {
		return nil, badValue("argument to $sampleRate must be a numeric type")
	}
	if f < 0 || f > 1 {
		return nil, badValue("numeric argument to $sampleRate must be in [0, 1]")
	}
	return sampleNode(f), nil
}
