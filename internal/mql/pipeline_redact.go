package mql

import (
	"go.mongodb.org/mongo-driver/v2/bson"
)

// agRedact is the $redact stage: its expression is evaluated for the
// document and, while it answers $$DESCEND, for every embedded document
// (with $$CURRENT bound to it); $$PRUNE drops that level, $$KEEP keeps it
// whole.
type agRedact struct{ e *Expr }

func agCompileRedact(spec any) (agStage, error) {
	e, err := NewExpr(spec)
	if err != nil {
		return nil, err
	}
	return &agRedact{e: e}, nil
}

func (s *agRedact) all(docs []bson.D, c *xCtx) ([]bson.D, error) { return agOneAll(s, docs, c) }

func (s *agRedact) one(doc bson.D, c *xCtx) (bson.D, bool, error) {
	return s.redact(doc, c.forDoc(doc))
}

func (s *agRedact) redact(cur bson.D, c *xCtx) (bson.D, bool, error) {
	v, err := s.e.n.eval(c.with("CURRENT", cur))
	if err != nil {
		return nil, false, err
	}
	switch v {
	case "keep":
		return cur, true, nil
	case "prune":
		return nil, false, nil
	case "descend":
	default:
		return nil, false, Errorf(17053, "Location17053",
			"$redact's expression should not return anything aside from the variables $$KEEP, $$DESCEND, and $$PRUNE, but returned %s", uShort(v))
	}
	out := make(bson.D, 0, len(cur))
	for _, e := range cur {
		switch x := e.Value.(type) {
		case bson.D:
			sub, keep, err := s.redact(x, c)
			if err != nil {
				return nil, false, err
			}
			if keep {
				out = append(out, bson.E{Key: e.Key, Value: sub})
			}
		case bson.A:
			arr, err := s.redactArray(x, c)
			if err != nil {
				return nil, false, err
			}
			out = append(out, bson.E{Key: e.Key, Value: arr})
		default:
			out = append(out, e)
		}
	}
	return out, true, nil
}

func (s *agRedact) redactArray(arr bson.A, c *xCtx) (bson.A, error) {
	out := make(bson.A, 0, len(arr))
	for _, e := range arr {
		switch x := e.(type) {
		case bson.D:
			sub, keep, err := s.redact(x, c)
			if err != nil {
				return nil, err
			}
			if keep {
				out = append(out, sub)
			}
		case bson.A:
			sub, err := s.redactArray(x, c)
			if err != nil {
				return nil, err
			}
			out = append(out, sub)
		default:
			out = append(out, e)
		}
	}
	return out, nil
}
