package mql

import (
	"math/rand/v2"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// agBucket is the $bucket stage: documents are grouped by the boundary
// range their groupBy value falls in ([lower, upper)), the bucket's _id being
// its lower boundary; values outside every range go to the default bucket,
// which is output last. Without a default such a value is an error, as on
// the server (which runs $bucket as a $group over a $switch).
type agBucket struct {
	groupBy    *Expr
	boundaries bson.A
	def        any
	hasDef     bool
	accs       []agGroupAcc
}

func agCompileBucket(spec any) (agStage, error) {
	d, ok := asDoc(spec)
	if !ok {
		return nil, Errorf(40201, "Location40201", "Argument to $bucket stage must be an object, but found type: %s", uTypeName(spec))
	}
	b := &agBucket{}
	var output bson.D
	hasOutput := false
	for _, e := range d {
		switch e.Key {
		case "groupBy":
			s, isStr := e.Value.(string)
			_, isDoc := asDoc(e.Value)
			if !(isStr && strings.HasPrefix(s, "$")) && !isDoc {
				return nil, Errorf(40202, "Location40202", "The $bucket 'groupBy' field must be defined as a $-prefixed path or an expression, but found: %s", uShort(e.Value))
			}
			g, err := NewExpr(e.Value)
			if err != nil {
				return nil, err
			}
			b.groupBy = g
		case "boundaries":
			arr, ok := asArray(e.Value)
			if !ok || len(arr) < 2 {
				return nil, Errorf(40192, "Location40192", "The $bucket 'boundaries' field must be an array of values. At least two boundaries must be specified")
			}
			for i, v := range arr {
				if i > 0 {
					if TypeBracket(v) != TypeBracket(arr[i-1]) {
						return nil, Errorf(40193, "Location40193", "All values in the 'boundaries' option to $bucket must have the same type. Found conflicting types %s and %s", uTypeName(arr[i-1]), uTypeName(v))
					}
					if Compare(arr[i-1], v) >= 0 {
						return nil, Errorf(40194, "Location40194", "The 'boundaries' option to $bucket must be sorted in ascending order")
					}
				}
			}
			b.boundaries = arr
		case "default":
			b.def, b.hasDef = e.Value, true
		case "output":
			o, ok := asDoc(e.Value)
			if !ok {
				return nil, Errorf(40196, "Location40196", "The $bucket 'output' field must be an object, but found type: %s", uTypeName(e.Value))
			}
			output, hasOutput = o, true
		default:
			return nil, Errorf(40197, "Location40197", "Unrecognized option to $bucket: %s.", e.Key)
		}
	}
	if b.groupBy == nil || b.boundaries == nil {
		return nil, Errorf(40198, "Location40198", "$bucket requires 'groupBy' and 'boundaries' to be specified.")
	}
	if b.hasDef && Compare(b.def, b.boundaries[0]) >= 0 && Compare(b.def, b.boundaries[len(b.boundaries)-1]) < 0 &&
		TypeBracket(b.def) == TypeBracket(b.boundaries[0]) {
		return nil, Errorf(40199, "Location40199", "The $bucket 'default' field must be less than the lowest boundary or greater than or equal to the highest boundary.")
	}
	if !hasOutput {
		output = bson.D{{Key: "count", Value: bson.D{{Key: "$sum", Value: int32(1)}}}}
	}
	g, err := agCompileGroup(append(bson.D{{Key: "_id", Value: nil}}, output...))
	if err != nil {
		return nil, err
	}
	b.accs = g.(*agGroup).accs
	return b, nil
}

func (b *agBucket) all(docs []bson.D, c *xCtx) ([]bson.D, error) {
	n := len(b.boundaries) - 1
	states := make([][]accState, n+1) // last: default bucket
	mem := newGroupMem(c)
	for _, doc := range docs {
		dc := c.forDoc(doc)
		v, err := b.groupBy.n.eval(dc)
		if err != nil {
			return nil, err
		}
		if xIsMissing(v) {
			v = nil
		}
		i := n
		if TypeBracket(v) == TypeBracket(b.boundaries[0]) {
			for j := 0; j < n; j++ {
				if compareColl(v, b.boundaries[j], c.coll) >= 0 && compareColl(v, b.boundaries[j+1], c.coll) < 0 {
					i = j
					break
				}
			}
		}
		if i == n && !b.hasDef {
			return nil, Errorf(40066, "Location40066", "$switch could not find a matching branch for an input, and no default was specified.")
		}
		if states[i] == nil {
			for _, a := range b.accs {
				states[i] = append(states[i], newAccumulatorState(a.op, c.coll))
			}
			if err := mem.newGroup(v, len(b.accs)); err != nil {
				return nil, err
			}
		}
		for k, a := range b.accs {
			av, err := a.e.n.eval(dc)
			if err != nil {
				return nil, err
			}
			if ns, ok := states[i][k].(accNState); ok {
				if err := ns.addN(av); err != nil {
					return nil, err
				}
				continue
			}
			if err := mem.add(states[i][k], av); err != nil {
				return nil, err
			}
		}
	}
	var out []bson.D
	for i, st := range states {
		if st == nil {
			continue
		}
		id := b.def
		if i < n {
			id = b.boundaries[i]
		}
		d := bson.D{{Key: "_id", Value: id}}
		for k, a := range b.accs {
			d = append(d, bson.E{Key: a.field, Value: st[k].result()})
		}
		out = append(out, d)
	}
	return out, nil
}

// agSample is the $sample stage: size documents chosen at random without
// replacement (all of them, shuffled, when there are fewer).
type agSample struct{ size int64 }

func agCompileSample(spec any) (agStage, error) {
	d, ok := asDoc(spec)
	if !ok {
		return nil, Errorf(28745, "Location28745", "the $sample stage specification must be an object")
	}
	s := &agSample{size: -1}
	for _, e := range d {
		if e.Key != "size" {
			return nil, Errorf(28748, "Location28748", "unrecognized option to $sample: %s", e.Key)
		}
		n, ok := ToInt64(e.Value)
		if !ok || !IsIntegral(e.Value) || n < 0 {
			return nil, Errorf(28747, "Location28747", "size argument to $sample must not be negative")
		}
		s.size = n
	}
	if s.size < 0 {
		return nil, Errorf(28749, "Location28749", "$sample stage must specify a size")
	}
	return s, nil
}

func (s *agSample) all(docs []bson.D, _ *xCtx) ([]bson.D, error) {
	out := slices.Clone(docs)
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	if int64(len(out)) > s.size {
		out = out[:s.size]
	}
	return out, nil
}
