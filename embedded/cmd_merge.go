package embedded

import (
	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// mergeSpec is a parsed final $merge stage.
type mergeSpec struct {
	// bypassValidation is the aggregate's bypassDocumentValidation.
	bypassValidation bool
	into             engine.Namespace
	on               []string
	whenMatched      string // replace, keepExisting, merge, fail
	whenNotMatched   string // insert, discard, fail
}

func parseMerge(db string, v any) (mergeSpec, error) {
	m := mergeSpec{on: []string{"_id"}, whenMatched: "merge", whenNotMatched: "insert"}
	if name, ok := v.(string); ok {
		into, err := parseOut(db, name)
		m.into = into
		return m, err
	}
	d, ok := v.(bson.D)
	if !ok {
		return m, cmdError(codeFailedToParse, "Location51182",
			"$merge only supports a string or object argument, not %s", typeName(v))
	}
	haveInto := false
	for _, e := range d {
		var err error
		switch e.Key {
		case "into":
			if x, isDoc := e.Value.(bson.D); isDoc {
				// {db, coll} as $out takes it.
				m.into, err = parseOut(db, x)
			} else {
				var name string
				if name, err = argString("$merge", e.Key, e.Value); err == nil {
					m.into, err = parseOut(db, name)
				}
			}
			haveInto = true
		case "on":
			switch x := e.Value.(type) {
			case string:
				m.on = []string{x}
			case bson.A:
				m.on = m.on[:0]
				for _, f := range x {
					name, err := argString("$merge", "on", f)
					if err != nil {
						return m, err
					}
					m.on = append(m.on, name)
				}
				if len(m.on) == 0 {
					return m, cmdError(codeBadValue, "Location51187", "If explicitly specifying $merge 'on', must include at least one field")
				}
			default:
				err = wrongType("$merge", e.Key, e.Value, "string or array")
			}
		case "whenMatched":
			switch x := e.Value.(type) {
			case string:
				switch x {
				case "replace", "keepExisting", "merge", "fail":
					m.whenMatched = x
				default:
					err = cmdError(codeBadValue, "BadValue", "Enumeration value '%s' for field '$merge.whenMatched' is not a valid value.", x)
				}
			case bson.A:
				err = notSupported("$merge whenMatched pipeline")
			default:
				err = wrongType("$merge", e.Key, e.Value, "string or array")
			}
		case "whenNotMatched":
			var x string
			if x, err = argString("$merge", e.Key, e.Value); err == nil {
				switch x {
				case "insert", "discard", "fail":
					m.whenNotMatched = x
				default:
					err = cmdError(codeBadValue, "BadValue", "Enumeration value '%s' for field '$merge.whenNotMatched' is not a valid value.", x)
				}
			}
		case "let":
			err = rejectLet("$merge", e.Value)
		default:
			err = unknownField("$merge", e.Key)
		}
		if err != nil {
			return m, err
		}
	}
	if !haveInto {
		return m, missingField("$merge", "into")
	}
	return m, nil
}

// writeMerge applies $merge: each result document is matched against the
// target on the "on" fields and inserted, replaced, merged or rejected, one
// write per document (so change streams see one event each, as on MongoDB).
func (s *Server) writeMerge(m mergeSpec, docs []bson.D) error {
	ops := withoutValidation(s.engine, m.bypassValidation)
	if err := checkWritable(m.into); err != nil {
		return err
	}
	if err := s.refuseView(m.into); err != nil {
		return err
	}
	if err := s.checkMergeOn(m); err != nil {
		return err
	}
	for _, d := range docs {
		filter := bson.D{}
		for _, f := range m.on {
			v, ok := lookupTop(d, f)
			if f == "_id" && !ok {
				// A document without _id cannot match: it is new.
				filter = nil
				break
			}
			switch v.(type) {
			case nil, bson.A, bson.Undefined:
				return cmdError(51132, "Location51132",
					"$merge write error: 'on' field '%s' cannot be missing, null, undefined or an array", f)
			}
			filter = append(filter, bson.E{Key: f, Value: v})
		}
		var existing []bson.Raw
		if filter != nil {
			var err error
			if existing, err = s.engine.Find(m.into, engine.FindArgs{Filter: filter, Limit: 1}); err != nil {
				return err
			}
		}
		if len(existing) == 0 {
			switch m.whenNotMatched {
			case "discard":
				continue
			case "fail":
				return cmdError(13113, "MergeStageNoMatchingDocument",
					"$merge could not find a matching document in the target collection for at least one document in the source collection")
			}
			if _, err := ops.Insert(m.into, d); err != nil {
				return err
			}
			continue
		}
		var update any
		switch m.whenMatched {
		case "keepExisting":
			continue
		case "fail":
			return cmdError(11000, "DuplicateKey",
				"$merge with whenMatched: fail found an existing document with the same values for the 'on' field(s)")
		case "replace":
			update = d
		case "merge":
			set := bson.D{}
			for _, e := range d {
				if e.Key != "_id" {
					set = append(set, e)
				}
			}
			if len(set) == 0 {
				continue
			}
			update = bson.D{{Key: "$set", Value: set}}
		}
		if _, err := ops.Update(m.into, engine.UpdateArgs{Filter: filter, Update: update}); err != nil {
			return err
		}
	}
	return nil
}

// checkMergeOn requires, as MongoDB does, a unique index on the "on" fields
// (other than the default _id) so that a match is unambiguous.
func (s *Server) checkMergeOn(m mergeSpec) error {
	if len(m.on) == 1 && m.on[0] == "_id" {
		return nil
	}
	specs, _ := s.engine.ListIndexes(m.into)
	for _, ix := range specs {
		if !ix.Unique || len(ix.Key) != len(m.on) || len(ix.PartialFilterExpression) > 0 {
			continue
		}
		all := true
		for _, f := range m.on {
			found := false
			for _, k := range ix.Key {
				if k.Key == f {
					found = true
				}
			}
			all = all && found
		}
		if all {
			return nil
		}
	}
	return cmdError(51183, "Location51183",
		"Cannot find index to verify that join fields will be unique")
}

// lookupTop returns a dotted path's value in d (no array traversal).
func lookupTop(d bson.D, path string) (any, bool) {
	var cur any = d
	for _, seg := range splitDotted(path) {
		doc, ok := cur.(bson.D)
		if !ok {
			return nil, false
		}
		found := false
		for _, e := range doc {
			if e.Key == seg {
				cur, found = e.Value, true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return cur, true
}
