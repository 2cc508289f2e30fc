package mql

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// systemVariables are the variables every expression may use.
var systemVariables = map[string]bool{
	"ROOT": true, "CURRENT": true, "REMOVE": true, "NOW": true, "CLUSTER_TIME": true,
	"DESCEND": true, "PRUNE": true, "KEEP": true, "SEARCH_META": true, "SEARCH_SCORE": true,
	"USER_ROLES": true,
}

// varScope is the set of variables in scope while checking: system
// variables, the given names, and those bound by enclosing $let, $map,
// $filter and $reduce.
type varScope struct {
	names map[string]bool
	outer *varScope
}

func newVarScope(defined []string) *varScope {
	s := &varScope{names: map[string]bool{}}
	for _, n := range defined {
		s.names[n] = true
	}
	return s
}

func (s *varScope) with(names ...string) *varScope {
	inner := &varScope{names: make(map[string]bool, len(names)), outer: s}
	for _, n := range names {
		inner.names[n] = true
	}
	return inner
}

func (s *varScope) has(name string) bool {
	for ; s != nil; s = s.outer {
		if s.names[name] {
			return true
		}
	}
	return systemVariables[name]
}

func undefinedVariable(name string) error {
	return Errorf(17276, "Location17276", "Use of undefined variable: %s", name)
}

// CheckExprVariables reports the first use of an undefined variable
// ("$$name") in an aggregation expression, as mongod does when it parses
// the expression (17276): before, and whether or not, any document is
// evaluated. defined are the variables in scope besides the system ones
// (a command's let).
func CheckExprVariables(expr any, defined []string) error {
	return checkExprVars(expr, newVarScope(defined))
}

// CheckFilterVariables is CheckExprVariables for the $expr clauses of a
// query filter (elsewhere in a filter "$$x" is a plain string).
func CheckFilterVariables(filter bson.D, defined []string) error {
	return checkFilterVars(filter, newVarScope(defined))
}

// CheckPipelineVariables is CheckExprVariables for every expression of an
// aggregation pipeline, including the sub-pipelines of $lookup (with its
// let), $facet, $unionWith and $merge.
func CheckPipelineVariables(stages []bson.D, defined []string) error {
	return checkPipelineVars(stages, newVarScope(defined))
}

func checkExprVars(v any, s *varScope) error {
	switch x := v.(type) {
	case string:
		if name, ok := strings.CutPrefix(x, "$$"); ok {
			name, _, _ = strings.Cut(name, ".")
			if name != "" && !s.has(name) {
				return undefinedVariable(name)
			}
		}
	case bson.A:
		for _, e := range x {
			if err := checkExprVars(e, s); err != nil {
				return err
			}
		}
	case bson.D:
		if len(x) == 1 && strings.HasPrefix(x[0].Key, "$") {
			return checkOperatorVars(x[0].Key, x[0].Value, s)
		}
		for _, e := range x {
			if err := checkExprVars(e.Value, s); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkOperatorVars checks one operator, scoping the variables the binding
// operators define to the arguments that see them.
func checkOperatorVars(op string, arg any, s *varScope) error {
	spec, isDoc := arg.(bson.D)
	switch {
	case op == "$literal":
		return nil
	case op == "$let" && isDoc:
		vars, _ := lookupD(spec, "vars").(bson.D)
		names := make([]string, 0, len(vars))
		for _, e := range vars {
			if err := checkExprVars(e.Value, s); err != nil {
				return err
			}
			names = append(names, e.Key)
		}
		return checkExprVars(lookupD(spec, "in"), s.with(names...))
	case (op == "$map" || op == "$filter") && isDoc:
		as, _ := lookupD(spec, "as").(string)
		if as == "" {
			as = "this"
		}
		for _, e := range spec {
			inner := s
			if e.Key == "in" || e.Key == "cond" {
				inner = s.with(as)
			}
			if err := checkExprVars(e.Value, inner); err != nil {
				return err
			}
		}
		return nil
	case op == "$reduce" && isDoc:
		for _, e := range spec {
			inner := s
			if e.Key == "in" {
				inner = s.with("this", "value")
			}
			if err := checkExprVars(e.Value, inner); err != nil {
				return err
			}
		}
		return nil
	}
	return checkExprVars(arg, s)
}

func checkFilterVars(filter bson.D, s *varScope) error {
	for _, e := range filter {
		switch e.Key {
		case "$expr":
			if err := checkExprVars(e.Value, s); err != nil {
				return err
			}
		case "$and", "$or", "$nor":
			clauses, _ := e.Value.(bson.A)
			for _, c := range clauses {
				if d, ok := c.(bson.D); ok {
					if err := checkFilterVars(d, s); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func checkPipelineVars(stages []bson.D, s *varScope) error {
	for _, st := range stages {
		if len(st) == 0 {
			continue
		}
		if err := checkStageVars(st[0].Key, st[0].Value, s); err != nil {
			return err
		}
	}
	return nil
}

func checkSubPipelineVars(p any, s *varScope) error {
	arr, _ := p.(bson.A)
	stages := make([]bson.D, 0, len(arr))
	for _, st := range arr {
		if d, ok := st.(bson.D); ok {
			stages = append(stages, d)
		}
	}
	return checkPipelineVars(stages, s)
}

func checkStageVars(name string, arg any, s *varScope) error {
	spec, _ := arg.(bson.D)
	switch name {
	case "$match":
		return checkFilterVars(spec, s)
	case "$lookup", "$merge":
		// Their let binds variables for their sub-pipeline; $merge's
		// default is {new: "$$ROOT"}.
		let, hasLet := lookupD(spec, "let").(bson.D)
		names := make([]string, 0, len(let))
		for _, e := range let {
			if err := checkExprVars(e.Value, s); err != nil {
				return err
			}
			names = append(names, e.Key)
		}
		if name == "$merge" && !hasLet {
			names = append(names, "new")
		}
		sub := "pipeline"
		if name == "$merge" {
			sub = "whenMatched"
		}
		return checkSubPipelineVars(lookupD(spec, sub), s.with(names...))
	case "$unionWith":
		return checkSubPipelineVars(lookupD(spec, "pipeline"), s)
	case "$facet":
		for _, e := range spec {
			if err := checkSubPipelineVars(e.Value, s); err != nil {
				return err
			}
		}
		return nil
	case "$graphLookup":
		return checkExprVars(lookupD(spec, "startWith"), s)
	case "$project", "$addFields", "$set", "$group", "$bucket", "$bucketAuto", "$replaceRoot",
		"$replaceWith", "$redact", "$sortByCount", "$setWindowFields", "$documents", "$fill":
		return checkExprVars(arg, s)
	}
	// The other stages take no expressions ($sort, $limit, $unwind,
	// $out, $changeStream, ...).
	return nil
}

func lookupD(d bson.D, key string) any {
	for _, e := range d {
		if e.Key == key {
			return e.Value
		}
	}
	return nil
}
