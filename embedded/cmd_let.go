package embedded

import (
	"maps"
	"strings"

	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// parseLet reads a command's "let" variables. Their values are constant
// expressions, evaluated once before the command runs ({$literal: "$x"}
// is the string "$x"), as MongoDB does.
func parseLet(cmd string, v any) (map[string]any, error) {
	d, err := argOptDoc(cmd, "let", v)
	if err != nil || len(d) == 0 {
		return nil, err
	}
	vars := make(map[string]any, len(d))
	for _, e := range d {
		if e.Key == "" || !(e.Key[0] >= 'a' && e.Key[0] <= 'z' || e.Key[0] >= 0x80) {
			return nil, cmdError(16870, "Location16870",
				"'%s' starts with an invalid character for a user variable name", e.Key)
		}
		x, err := mql.NewExpr(e.Value)
		if err != nil {
			return nil, err
		}
		val, err := x.Eval(bson.D{}, nil)
		if err != nil {
			return nil, err
		}
		vars[e.Key] = val
	}
	return vars, nil
}

// Write commands evaluate filters and updates in the engine, which takes no
// variables. Variables can only be referenced from aggregation expressions
// ($expr in a filter, the stages of a pipeline update), so binding them
// there to {$literal: value} computes exactly what MongoDB computes.

// bindFilter binds variables inside the $expr clauses of a query filter.
func bindFilter(filter bson.D, vars map[string]any) bson.D {
	if len(vars) == 0 || len(filter) == 0 {
		return filter
	}
	out := make(bson.D, len(filter))
	for i, e := range filter {
		switch e.Key {
		case "$expr":
			e.Value = bindExpr(e.Value, vars)
		case "$and", "$or", "$nor":
			if a, ok := e.Value.(bson.A); ok {
				clauses := make(bson.A, len(a))
				for j, c := range a {
					if d, ok := c.(bson.D); ok {
						clauses[j] = bindFilter(d, vars)
					} else {
						clauses[j] = c
					}
				}
				e.Value = clauses
			}
		}
		out[i] = e
	}
	return out
}

// bindUpdate binds variables in a pipeline update; operator and
// replacement updates cannot reference variables ("$$x" is a plain string
// there).
func bindUpdate(u any, vars map[string]any) any {
	a, ok := u.(bson.A)
	if !ok || len(vars) == 0 {
		return u
	}
	out := make(bson.A, len(a))
	for i, st := range a {
		out[i] = bindExpr(st, vars)
	}
	return out
}

// bindExpr replaces $$name and $$name.path references to vars.
func bindExpr(v any, vars map[string]any) any {
	switch x := v.(type) {
	case string:
		if !strings.HasPrefix(x, "$$") {
			return x
		}
		name, path, _ := strings.Cut(x[2:], ".")
		val, ok := vars[name]
		if !ok {
			return x
		}
		if path != "" {
			d, isDoc := val.(bson.D)
			if !isDoc {
				return bson.D{{Key: "$literal", Value: nil}}
			}
			if val, ok = mql.Lookup(d, path); !ok {
				// A missing field: let the expression see nothing.
				return bson.D{{Key: "$literal", Value: nil}}
			}
		}
		return bson.D{{Key: "$literal", Value: val}}
	case bson.A:
		out := make(bson.A, len(x))
		for i, el := range x {
			out[i] = bindExpr(el, vars)
		}
		return out
	case bson.D:
		if len(x) == 1 && x[0].Key == "$literal" {
			return x
		}
		if len(x) == 1 && x[0].Key == "$let" {
			return bindLetExpr(x, vars)
		}
		out := make(bson.D, len(x))
		for i, e := range x {
			out[i] = bson.E{Key: e.Key, Value: bindExpr(e.Value, vars)}
		}
		return out
	}
	return v
}

// bindLetExpr handles {$let: {vars, in}}: its own variables shadow the
// command's inside "in".
func bindLetExpr(x bson.D, vars map[string]any) any {
	spec, ok := x[0].Value.(bson.D)
	if !ok {
		return x
	}
	inner := vars
	out := make(bson.D, len(spec))
	for i, e := range spec {
		if e.Key == "vars" {
			if defs, ok := e.Value.(bson.D); ok {
				inner = maps.Clone(vars)
				for _, d := range defs {
					delete(inner, d.Key)
				}
			}
		}
		out[i] = e
	}
	for i, e := range out {
		switch e.Key {
		case "vars":
			out[i].Value = bindExpr(e.Value, vars)
		case "in":
			out[i].Value = bindExpr(e.Value, inner)
		}
	}
	return bson.D{{Key: "$let", Value: out}}
}

// mergeVars combines command-level let with statement constants (c).
func mergeVars(a, b map[string]any) map[string]any {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}
