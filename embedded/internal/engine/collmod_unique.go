package engine

import (
	"go.mongodb.org/mongo-driver/v2/bson"
)

// CodeCannotConvertIndexToUnique is collMod's refusal to make an index with
// duplicate keys unique.
const CodeCannotConvertIndexToUnique int32 = 359

// setPrepareUnique turns prepareUnique on or off: on, the index keeps a key
// tree (filled from the documents, duplicates left as they are) that
// refuses new duplicates.
func (c *collection) setPrepareUnique(ix *index, on bool) error {
	ix.spec.PrepareUnique = on
	switch {
	case ix.spec.Unique:
	case on && ix.keys == nil:
		fresh, err := newIndex(ix.spec)
		if err != nil {
			return err
		}
		if err := c.buildIndex(fresh); err != nil {
			return err
		}
		ix.keys = fresh.keys
	case !on:
		ix.keys = nil
	}
	return nil
}

// makeUnique converts a prepareUnique index to a unique one. Duplicates
// fail with 359 and a violations list of the _ids sharing each key, as
// mongod reports them.
func (c *collection) makeUnique(ix *index) error {
	if ix.spec.Unique {
		return nil
	}
	if !ix.spec.PrepareUnique {
		return errorf(CodeInvalidOptions, "InvalidOptions",
			"Cannot make index unique with 'prepareUnique=false'. Run collMod to set it first.")
	}
	groups := map[string]bson.A{}
	var order []string
	var err error
	c.natural.Scan(func(r *docRec) bool {
		var doc bson.D
		if doc, err = decodeDoc(r.raw); err != nil {
			return false
		}
		if ix.partial != nil && !ix.partial.Match(doc) {
			return true
		}
		for _, k := range ix.keysOf(doc) {
			raw, merr := bson.Marshal(bson.D{{Key: "k", Value: bson.A(k)}})
			if merr != nil {
				err = merr
				return false
			}
			key := string(raw)
			if _, seen := groups[key]; !seen {
				order = append(order, key)
			}
			groups[key] = append(groups[key], r.id)
		}
		return true
	})
	if err != nil {
		return err
	}
	var violations bson.A
	for _, key := range order {
		if ids := groups[key]; len(ids) > 1 {
			violations = append(violations, bson.D{{Key: "ids", Value: ids}})
		}
	}
	if len(violations) > 0 {
		e := errorf(CodeCannotConvertIndexToUnique, "CannotConvertIndexToUnique",
			"Cannot convert the index to unique. Please resolve conflicting documents before running collMod again.")
		e.Extra = bson.D{{Key: "violations", Value: violations}}
		return e
	}
	ix.spec.Unique = true
	return nil
}
