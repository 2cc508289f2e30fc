package mql

// Document expression operators.

import (
	"go.mongodb.org/mongo-driver/v2/bson"
)

func xCompileFieldOps(name string, arg any) (xNode, error) {
	var m map[string]any
	var err error
	switch name {
	case "$getField":
		if _, isDoc := asDoc(arg); !isDoc {
			m = map[string]any{"field": arg}
		} else {
			m, err = xObjectArgs(name, arg, []string{"field"}, "input")
		}
	case "$setField":
		m, err = xObjectArgs(name, arg, []string{"field", "input", "value"})
	default:
		m, err = xObjectArgs(name, arg, []string{"field", "input"})
	}
	if err != nil {
		return nil, err
	}
	field, ok := m["field"].(string)
	if !ok {
		if d, isDoc := asDoc(m["field"]); isDoc && len(d) == 1 && d[0].Key == "$literal" {
			field, ok = d[0].Value.(string)
		}
	}
	if !ok {
		return nil, Errorf(5654601, "Location5654601", "%s requires 'field' to evaluate to a constant string", name)
	}
	input, err := xCompileNamed(m, "input")
	if err != nil {
		return nil, err
	}
	if input == nil {
		input = &xFieldPath{variable: "CURRENT"}
	}
	value, err := xCompileNamed(m, "value")
	if err != nil {
		return nil, err
	}
	return xLazy(func(c *xCtx) (any, error) {
		in, err := input.eval(c)
		if err != nil {
			return nil, err
		}
		if name == "$getField" {
			if xNullish(in) {
				return nil, nil
			}
			d, ok := asDoc(in)
			if !ok {
				return nil, Errorf(3041705, "Location3041705", "$getField requires 'input' to evaluate to type Object, but got %s", uTypeName(in))
			}
			if v, ok := uGetField(d, field); ok {
				return v, nil
			}
			return xMissing{}, nil
		}
		if xNullish(in) {
			return nil, nil
		}
		d, ok := asDoc(in)
		if !ok {
			return nil, Errorf(4161105, "Location4161105", "%s requires 'input' to evaluate to type Object", name)
		}
		var nv any = xMissing{}
		if value != nil {
			if nv, err = value.eval(c); err != nil {
				return nil, err
			}
		}
		out := make(bson.D, 0, len(d)+1)
		found := false
		for _, e := range d {
			if e.Key == field {
				found = true
				if xIsMissing(nv) {
					continue
				}
				e.Value = nv
			}
			out = append(out, e)
		}
		if !found && !xIsMissing(nv) {
			out = append(out, bson.E{Key: field, Value: nv})
		}
		return out, nil
	}), nil
}

func xObjectToArray(v []any) (any, error) {
	if xNullish(v[0]) {
		return nil, nil
	}
	d, ok := asDoc(v[0])
	if !ok {
		return nil, Errorf(40390, "Location40390", "$objectToArray requires a document input, found: %s", uTypeName(v[0]))
	}
	out := make(bson.A, len(d))
	for i, e := range d {
		out[i] = bson.D{{Key: "k", Value: e.Key}, {Key: "v", Value: e.Value}}
	}
	return out, nil
}

func xArrayToObject(v []any) (any, error) {
	if xNullish(v[0]) {
		return nil, nil
	}
	arr, ok := asArray(v[0])
	if !ok {
		return nil, Errorf(40386, "Location40386", "$arrayToObject requires an array input, found: %s", uTypeName(v[0]))
	}
	out := bson.D{}
	set := func(k string, val any) {
		for i := range out {
			if out[i].Key == k {
				out[i].Value = val
				return
			}
		}
		out = append(out, bson.E{Key: k, Value: val})
	}
	for _, e := range arr {
		switch x := e.(type) {
		case bson.A:
			if len(x) != 2 {
				return nil, Errorf(40397, "Location40397", "$arrayToObject requires an array of size 2 arrays,found array of size: %d", len(x))
			}
			k, ok := x[0].(string)
			if !ok {
				return nil, Errorf(40395, "Location40395", "$arrayToObject requires an array of key-value pairs, where the key must be of type string. Found key type: %s", uTypeName(x[0]))
			}
			set(k, x[1])
		case bson.D:
			k, kok := uGetField(x, "k")
			val, vok := uGetField(x, "v")
			if len(x) != 2 || !kok || !vok {
				return nil, Errorf(40393, "Location40393", "$arrayToObject requires an object with keys 'k' and 'v'.")
			}
			ks, ok := k.(string)
			if !ok {
				return nil, Errorf(40394, "Location40394", "$arrayToObject requires an object with keys 'k' and 'v', where the value of 'k' must be of type string. Found type: %s", uTypeName(k))
			}
			set(ks, val)
		default:
			return nil, Errorf(40398, "Location40398", "Unrecognised input type format for $arrayToObject: %s", uTypeName(e))
		}
	}
	return out, nil
}

func xMergeObjects(v []any) (any, error) {
	out := bson.D{}
	for _, e := range v {
		if xNullish(e) {
			continue
		}
		d, ok := asDoc(e)
		if !ok {
			return nil, Errorf(40400, "Location40400", "$mergeObjects requires object inputs, but input %s is of type %s", uShort(e), uTypeName(e))
		}
		for _, f := range d {
			replaced := false
			for i := range out {
				if out[i].Key == f.Key {
					out[i].Value = f.Value
					replaced = true
					break
				}
			}
			if !replaced {
				out = append(out, f)
			}
		}
	}
	return out, nil
}
