package mql

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// UpsertSeed returns the document an upsert starts from when no document
// matched filter: the filter's equality conditions ({a: 1}, {a: {$eq: 1}},
// {a: {$in: [1]}}, and the same inside $and or a one-clause $or), dotted
// paths expanded into sub-documents, _id first. Other conditions ($gt,
// $or of several clauses, regexes, ...) contribute nothing, as on the server. A path constrained twice, or a path
// and one of its prefixes, is an error (code 54 NotSingleValueField).
func UpsertSeed(filter bson.D) (bson.D, error) {
	var eqs []Field
	if err := uCollectEqualities(filter, &eqs); err != nil {
		return nil, err
	}
	for i, a := range eqs {
		for _, b := range eqs[:i] {
			if a.Path == b.Path {
				return nil, Errorf(54, "NotSingleValueField", "cannot infer query fields to set, path '%s' is matched twice", a.Path)
			}
			if strings.HasPrefix(a.Path, b.Path+".") || strings.HasPrefix(b.Path, a.Path+".") {
				return nil, Errorf(54, "NotSingleValueField", "cannot infer query fields to set, both paths '%s' and '%s' are matched", a.Path, b.Path)
			}
		}
	}
	seed := bson.D{}
	for _, f := range eqs {
		if f.Path == "_id" {
			if _, isArr := f.Value.(bson.A); isArr {
				return nil, Errorf(53, "InvalidIdField", "The '_id' value cannot be of type array")
			}
		}
		var err error
		seed, err = uSeedSet(seed, strings.Split(f.Path, "."), uClone(f.Value))
		if err != nil {
			return nil, err
		}
	}
	if id, ok := uGetField(seed, "_id"); ok {
		seed = uIDFirst(seed, id)
	}
	return seed, nil
}

func uCollectEqualities(filter bson.D, out *[]Field) error {
	for _, e := range filter {
		arr, isArr := asArray(e.Value)
		// The server's query optimizer turns a one-clause $or into that
		// clause, so its equalities seed the upsert too.
		if e.Key == "$and" || (e.Key == "$or" && isArr && len(arr) == 1) {
			if !isArr {
				return uBadValue("%s must be an array", e.Key)
			}
			for _, c := range arr {
				d, ok := asDoc(c)
				if !ok {
					return uBadValue("$and/$or/$nor entries need to be full objects")
				}
				if err := uCollectEqualities(d, out); err != nil {
					return err
				}
			}
			continue
		}
		if strings.HasPrefix(e.Key, "$") {
			continue
		}
		if v, ok := uEqualityValue(e.Value); ok {
			*out = append(*out, Field{Path: e.Key, Value: v})
		}
	}
	return nil
}

// uEqualityValue returns the value a condition pins a field to, if any.
func uEqualityValue(cond any) (any, bool) {
	if _, isRegex := cond.(bson.Regex); isRegex {
		return nil, false
	}
	d, ok := asDoc(cond)
	if !ok || len(d) == 0 || !strings.HasPrefix(d[0].Key, "$") {
		return cond, true
	}
	var val any
	found := false
	for _, e := range d {
		switch e.Key {
		case "$eq":
			if _, isRegex := e.Value.(bson.Regex); isRegex {
				continue
			}
			val, found = e.Value, true
		case "$in":
			if arr, ok := asArray(e.Value); ok && len(arr) == 1 {
				if _, isRegex := arr[0].(bson.Regex); !isRegex {
					val, found = arr[0], true
				}
			}
		}
	}
	return val, found
}

func uSeedSet(d bson.D, segs []string, v any) (bson.D, error) {
	for i := range d {
		if d[i].Key != segs[0] {
			continue
		}
		if len(segs) == 1 {
			d[i].Value = v
			return d, nil
		}
		sub, ok := d[i].Value.(bson.D)
		if !ok {
			return nil, Errorf(54, "NotSingleValueField", "cannot infer query fields to set, path '%s' is matched twice", segs[0])
		}
		sub, err := uSeedSet(sub, segs[1:], v)
		if err != nil {
			return nil, err
		}
		d[i].Value = sub
		return d, nil
	}
	if len(segs) == 1 {
		return append(d, bson.E{Key: segs[0], Value: v}), nil
	}
	sub, err := uSeedSet(bson.D{}, segs[1:], v)
	if err != nil {
		return nil, err
	}
	return append(d, bson.E{Key: segs[0], Value: sub}), nil
}
