package mql

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Aggregation $project, $addFields/$set and $unset share one tree of field
// specifications. Semantics follow the server:
//   - $project is either an inclusion (fields listed with 1/true, plus
//     computed fields) or an exclusion (fields listed with 0/false); mixing
//     is an error, _id may be excluded from an inclusion and is included by
//     default. Included fields keep the input order; computed fields follow
//     in specification order.
//   - $addFields keeps every input field, replaces existing fields in place
//     and appends new ones; a value of $$REMOVE removes the field.
//   - A dotted path or a nested specification document reaches into
//     sub-documents and into every document element of arrays.
//   - Every expression sees the stage's input document as $$CURRENT.

type agFieldKind int

const (
	agInclude agFieldKind = iota
	agExclude
	agComputed
	agSub
)

type agField struct {
	name string
	kind agFieldKind
	expr *Expr
	sub  *agNode
}

type agNode struct {
	fields []*agField
}

func (n *agNode) get(name string) *agField {
	for _, f := range n.fields {
		if f.name == name {
			return f
		}
	}
	return nil
}

func (n *agNode) hasComputed() bool {
	for _, f := range n.fields {
		if f.kind == agComputed || (f.kind == agSub && f.sub.hasComputed()) {
			return true
		}
	}
	return false
}

func (n *agNode) insert(stage string, segs []string, f *agField) error {
	cur := n
	for i, s := range segs[:len(segs)-1] {
		ex := cur.get(s)
		if ex == nil {
			ex = &agField{name: s, kind: agSub, sub: &agNode{}}
			cur.fields = append(cur.fields, ex)
		} else if ex.kind != agSub {
			return Errorf(31250, "Location31250", "Invalid %s :: caused by :: Path collision at %s", stage, strings.Join(segs[:i+2], "."))
		}
		cur = ex.sub
	}
	last := segs[len(segs)-1]
	if ex := cur.get(last); ex != nil {
		return Errorf(31250, "Location31250", "Invalid %s :: caused by :: Path collision at %s", stage, strings.Join(segs, "."))
	}
	f.name = last
	cur.fields = append(cur.fields, f)
	return nil
}

func agSplitField(stage, path string) ([]string, error) {
	if path == "" {
		return nil, Errorf(40352, "Location40352", "Invalid %s :: caused by :: FieldPath cannot be constructed with empty string", stage)
	}
	segs := strings.Split(path, ".")
	for _, s := range segs {
		if s == "" {
			return nil, Errorf(15998, "Location15998", "Invalid %s :: caused by :: FieldPath field names may not be empty strings.", stage)
		}
		if strings.HasPrefix(s, "$") {
			return nil, Errorf(16410, "Location16410", "Invalid %s :: caused by :: FieldPath field names may not start with '$'. Consider using $getField or $setField.", stage)
		}
	}
	return segs, nil
}

// agIsSubSpec reports whether a specification value is a nested
// specification document rather than an expression.
func agIsSubSpec(v any) (bson.D, bool) {
	d, ok := asDoc(v)
	if !ok || len(d) == 0 || strings.HasPrefix(d[0].Key, "$") {
		return nil, false
	}
	return d, true
}

type agProject struct {
	root      *agNode
	inclusion bool
	addFields bool
}

func agCompileProject(spec any) (agStage, error) {
	d, ok := asDoc(spec)
	if !ok {
		return nil, Errorf(15969, "Location15969", "$project specification must be an object")
	}
	if len(d) == 0 {
		return nil, Errorf(51272, "Location51272", "Invalid $project :: caused by :: projection specification must have at least one field")
	}
	p := &agProject{root: &agNode{}}
	mode := 0 // 1 inclusion, -1 exclusion
	idSet := false
	var walk func(d bson.D, prefix []string) error
	walk = func(d bson.D, prefix []string) error {
		for _, e := range d {
			segs, err := agSplitField("$project", e.Key)
			if err != nil {
				return err
			}
			full := append(append([]string{}, prefix...), segs...)
			path := strings.Join(full, ".")
			if dd, ok := asDoc(e.Value); ok && len(dd) == 0 {
				return Errorf(51282, "Location51282", "Invalid $project :: caused by :: An empty sub-projection is not a valid value. Found empty object at path %s", path)
			}
			if sub, ok := agIsSubSpec(e.Value); ok {
				if err := walk(sub, full); err != nil {
					return err
				}
				continue
			}
			isID := path == "_id"
			var f *agField
			switch v := e.Value.(type) {
			case bool, int32, int64, float64, int, bson.Decimal128:
				if Truthy(v) {
					f = &agField{kind: agInclude}
					if !isID {
						if mode == -1 {
							return Errorf(31253, "Location31253", "Invalid $project :: caused by :: Cannot do inclusion on field %s in exclusion projection", path)
						}
						mode = 1
					}
				} else {
					f = &agField{kind: agExclude}
					if !isID {
						if mode == 1 {
							return Errorf(31254, "Location31254", "Invalid $project :: caused by :: Cannot do exclusion on field %s in inclusion projection", path)
						}
						mode = -1
					}
				}
			default:
				ex, err := NewExpr(v)
				if err != nil {
					return err
				}
				if mode == -1 {
					return Errorf(31252, "Location31252", "Invalid $project :: caused by :: Cannot use expression other than $meta in exclusion projection")
				}
				mode = 1
				f = &agField{kind: agComputed, expr: ex}
			}
			if isID {
				idSet = true
			}
			if err := p.root.insert("$project", full, f); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(d, nil); err != nil {
		return nil, err
	}
	if mode == 0 {
		// Only _id was specified: {_id: 0} excludes it, {_id: 1} keeps only it.
		mode = -1
		if f := p.root.get("_id"); f != nil && f.kind != agExclude {
			mode = 1
		}
	}
	p.inclusion = mode == 1
	if p.inclusion {
		if f := p.root.get("_id"); f != nil && f.kind == agExclude {
			p.root.fields = agRemoveField(p.root.fields, "_id")
		} else if !idSet {
			p.root.fields = append([]*agField{{name: "_id", kind: agInclude}}, p.root.fields...)
		}
	}
	return p, nil
}

func agRemoveField(fs []*agField, name string) []*agField {
	out := fs[:0:0]
	for _, f := range fs {
		if f.name != name {
			out = append(out, f)
		}
	}
	return out
}

func agCompileAddFields(stage string, spec any) (agStage, error) {
	d, ok := asDoc(spec)
	if !ok {
		return nil, Errorf(40272, "Location40272", "%s specification stage must be an object, got %s", stage, uTypeName(spec))
	}
	p := &agProject{root: &agNode{}, addFields: true}
	var walk func(d bson.D, prefix []string) error
	walk = func(d bson.D, prefix []string) error {
		for _, e := range d {
			segs, err := agSplitField(stage, e.Key)
			if err != nil {
				return err
			}
			full := append(append([]string{}, prefix...), segs...)
			if dd, ok := asDoc(e.Value); ok && len(dd) == 0 {
				return Errorf(51282, "Location51282", "Invalid %s :: caused by :: An empty sub-projection is not a valid value. Found empty object at path %s",
					stage, strings.Join(full, "."))
			}
			if sub, ok := agIsSubSpec(e.Value); ok {
				if err := walk(sub, full); err != nil {
					return err
				}
				continue
			}
			ex, err := NewExpr(e.Value)
			if err != nil {
				return err
			}
			if err := p.root.insert(stage, full, &agField{kind: agComputed, expr: ex}); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(d, nil); err != nil {
		return nil, err
	}
	return p, nil
}

func agCompileUnset(spec any) (agStage, error) {
	var names []string
	switch v := spec.(type) {
	case string:
		names = []string{v}
	default:
		arr, ok := asArray(spec)
		if !ok || len(arr) == 0 {
			return nil, Errorf(31002, "Location31002", "$unset specification must be a string or an array with at least one field")
		}
		for _, e := range arr {
			s, ok := e.(string)
			if !ok {
				return nil, Errorf(31120, "Location31120", "$unset specification must be a string or an array containing only string values")
			}
			names = append(names, s)
		}
	}
	p := &agProject{root: &agNode{}}
	for _, n := range names {
		segs, err := agSplitField("$unset", n)
		if err != nil {
			return nil, err
		}
		if err := p.root.insert("$unset", segs, &agField{kind: agExclude}); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *agProject) all(docs []bson.D, c *xCtx) ([]bson.D, error) { return agOneAll(p, docs, c) }

func (p *agProject) one(doc bson.D, c *xCtx) (bson.D, bool, error) {
	dc := c.forDoc(doc)
	var out any
	var err error
	switch {
	case p.addFields:
		out, err = p.applyAdd(p.root, doc, dc)
	case p.inclusion:
		out, err = p.applyIncl(p.root, doc, dc)
	default:
		out = p.applyExcl(p.root, doc)
	}
	if err != nil {
		return nil, false, err
	}
	return out.(bson.D), true, nil
}

// applyIncl applies an inclusion node to a value found at its path.
func (p *agProject) applyIncl(n *agNode, v any, c *xCtx) (any, error) {
	switch x := v.(type) {
	case bson.D:
		out := bson.D{}
		for _, e := range x {
			f := n.get(e.Key)
			if f == nil {
				continue
			}
			switch f.kind {
			case agInclude:
				out = append(out, e)
			case agSub:
				switch e.Value.(type) {
				case bson.D, bson.A:
					r, err := p.applyIncl(f.sub, e.Value, c)
					if err != nil {
						return nil, err
					}
					out = append(out, bson.E{Key: e.Key, Value: r})
				}
			}
		}
		for _, f := range n.fields {
			switch f.kind {
			case agComputed:
				r, err := f.expr.n.eval(c)
				if err != nil {
					return nil, err
				}
				if !xIsMissing(r) {
					out = agSetField(out, f.name, r)
				}
			case agSub:
				if _, has := uGetField(x, f.name); !has && f.sub.hasComputed() {
					r, err := p.applyIncl(f.sub, bson.D{}, c)
					if err != nil {
						return nil, err
					}
					out = append(out, bson.E{Key: f.name, Value: r})
				} else if has {
					if cur, _ := uGetField(x, f.name); !agIsContainer(cur) && f.sub.hasComputed() {
						r, err := p.applyIncl(f.sub, bson.D{}, c)
						if err != nil {
							return nil, err
						}
						out = append(out, bson.E{Key: f.name, Value: r})
					}
				}
			}
		}
		return out, nil
	case bson.A:
		out := bson.A{}
		for _, e := range x {
			switch e.(type) {
			case bson.D, bson.A:
				r, err := p.applyIncl(n, e, c)
				if err != nil {
					return nil, err
				}
				out = append(out, r)
			default:
				if n.hasComputed() {
					r, err := p.applyIncl(n, bson.D{}, c)
					if err != nil {
						return nil, err
					}
					out = append(out, r)
				}
			}
		}
		return out, nil
	}
	return v, nil
}

func agIsContainer(v any) bool {
	switch v.(type) {
	case bson.D, bson.A:
		return true
	}
	return false
}

func agSetField(d bson.D, k string, v any) bson.D {
	for i := range d {
		if d[i].Key == k {
			d[i].Value = v
			return d
		}
	}
	return append(d, bson.E{Key: k, Value: v})
}

func (p *agProject) applyExcl(n *agNode, v any) any {
	switch x := v.(type) {
	case bson.D:
		out := make(bson.D, 0, len(x))
		for _, e := range x {
			f := n.get(e.Key)
			switch {
			case f == nil || f.kind == agInclude:
				out = append(out, e)
			case f.kind == agSub:
				out = append(out, bson.E{Key: e.Key, Value: p.applyExcl(f.sub, e.Value)})
			}
		}
		return out
	case bson.A:
		out := make(bson.A, len(x))
		for i, e := range x {
			out[i] = p.applyExcl(n, e)
		}
		return out
	}
	return v
}

// applyAdd applies an $addFields node to a value found at its path; a
// non-document value is replaced by a document of the new fields.
func (p *agProject) applyAdd(n *agNode, v any, c *xCtx) (any, error) {
	if arr, ok := v.(bson.A); ok {
		out := make(bson.A, len(arr))
		for i, e := range arr {
			r, err := p.applyAdd(n, e, c)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	src, _ := v.(bson.D)
	out := make(bson.D, len(src), len(src)+len(n.fields))
	copy(out, src)
	for _, f := range n.fields {
		if f.kind == agSub {
			cur, _ := uGetField(out, f.name)
			r, err := p.applyAdd(f.sub, cur, c)
			if err != nil {
				return nil, err
			}
			out = agSetField(out, f.name, r)
			continue
		}
		r, err := f.expr.n.eval(c)
		if err != nil {
			return nil, err
		}
		if xIsMissing(r) {
			out = agDeleteField(out, f.name)
			continue
		}
		out = agSetField(out, f.name, r)
	}
	return out, nil
}

func agDeleteField(d bson.D, k string) bson.D {
	for i := range d {
		if d[i].Key == k {
			return append(d[:i:i], d[i+1:]...)
		}
	}
	return d
}
