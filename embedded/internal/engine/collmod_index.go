package engine

import (
	"go.mongodb.org/mongo-driver/v2/bson"
)

// IndexMod is collMod's index option: the index, by Name or KeyPattern,
// and its new expireAfterSeconds (making a single-field index a TTL index,
// as since MongoDB 5.1).
type IndexMod struct {
	Name       string
	KeyPattern bson.D
	// SetTTL says ExpireAfterSeconds is given.
	SetTTL             bool
	ExpireAfterSeconds int64
	// Hidden, when not nil, hides or unhides the index.
	Hidden *bool
	// PrepareUnique, when not nil, sets prepareUnique; Unique, when
	// true, converts a prepareUnique index to a unique one.
	PrepareUnique *bool
	Unique        bool
}

// IndexModResult reports the index's previous expireAfterSeconds (nil when
// it was not a TTL index).
type IndexModResult struct {
	OldExpireAfterSeconds *int32
	// OldHidden is the index's hidden flag before a Hidden change.
	OldHidden bool
}

// ModifyIndex applies collMod's index option: one OpCollMod entry whose
// Object carries {options, uuid, old, index: {name, expireAfterSeconds}}. A missing
// collection fails with 26, a missing index with 27 IndexNotFound, a
// compound or _id index with 72 InvalidOptions.
func (e *Engine) ModifyIndex(ns Namespace, m IndexMod) (res IndexModResult, err error) {
	err = e.catalogOp(func() error {
		c := e.colls[ns]
		if c == nil {
			return nsNotFound(ns)
		}
		var ix *index
		for _, x := range c.indexes {
			if (m.Name != "" && x.spec.Name == m.Name) || (m.Name == "" && sameKey(x.spec.Key, m.KeyPattern)) {
				ix = x
			}
		}
		if ix == nil {
			what := m.Name
			if what == "" {
				what = fmtDoc(m.KeyPattern)
			}
			return errorf(CodeIndexNotFound, "IndexNotFound", "cannot find index %s for ns %s", what, ns)
		}
		if m.SetTTL && len(ix.spec.Key) != 1 {
			return errorf(CodeInvalidOptions, "InvalidOptions", "TTL indexes are single-field indexes, compound indexes do not support TTL. Index: %s", ix.spec.Name)
		}
		if m.SetTTL && (m.ExpireAfterSeconds < 0 || m.ExpireAfterSeconds > 1<<31-1) {
			return errorf(CodeInvalidOptions, "InvalidOptions", "invalid expireAfterSeconds %d: must be within [0, 2147483647]", m.ExpireAfterSeconds)
		}
		res.OldExpireAfterSeconds, res.OldHidden = ix.spec.ExpireAfterSeconds, ix.spec.Hidden
		change := bson.D{{Key: "name", Value: ix.spec.Name}}
		if m.SetTTL {
			v := int32(m.ExpireAfterSeconds)
			ix.spec.ExpireAfterSeconds = &v // a new value: copies share the old one
			change = append(change, bson.E{Key: "expireAfterSeconds", Value: v})
		}
		if m.Hidden != nil {
			ix.spec.Hidden = *m.Hidden
			change = append(change, bson.E{Key: "hidden", Value: *m.Hidden})
		}
		saved := *ix
		if m.PrepareUnique != nil {
			if err := c.setPrepareUnique(ix, *m.PrepareUnique); err != nil {
				*ix = saved
				return err
			}
			change = append(change, bson.E{Key: "prepareUnique", Value: *m.PrepareUnique})
		}
		if m.Unique {
			if err := c.makeUnique(ix); err != nil {
				*ix = saved
				ix.spec.ExpireAfterSeconds, ix.spec.Hidden = res.OldExpireAfterSeconds, res.OldHidden
				return err
			}
			change = append(change, bson.E{Key: "unique", Value: true})
		}
		// options, uuid and old as collMod's entries carry them (modify
		// events: no collection option changed), then the index change.
		obj, _ := bson.Marshal(bson.D{{Key: "options", Value: c.opts.Doc()}, {Key: "uuid", Value: c.uuid},
			{Key: "old", Value: c.opts.Doc()}, {Key: "index", Value: change}})
		_, err := e.commit([]Entry{{Op: OpCollMod, NS: ns, Object: obj}})
		if err != nil {
			*ix = saved
			ix.spec.ExpireAfterSeconds, ix.spec.Hidden = res.OldExpireAfterSeconds, res.OldHidden
		}
		return err
	})
	return res, err
}

// replayIndexMod applies the index part of an OpCollMod entry (absent in
// entries without one, which change nothing here).
func (c *collection) replayIndexMod(object bson.Raw) error {
	var obj struct {
		Index *struct {
			Name               string `bson:"name"`
			ExpireAfterSeconds *int32 `bson:"expireAfterSeconds"`
			Hidden             *bool  `bson:"hidden"`
			PrepareUnique      *bool  `bson:"prepareUnique"`
			Unique             bool   `bson:"unique"`
		} `bson:"index"`
	}
	if err := bson.Unmarshal(object, &obj); err != nil || obj.Index == nil {
		return err
	}
	for _, ix := range c.indexes {
		if ix.spec.Name == obj.Index.Name && obj.Index.ExpireAfterSeconds != nil {
			v := *obj.Index.ExpireAfterSeconds
			ix.spec.ExpireAfterSeconds = &v
		}
		if ix.spec.Name == obj.Index.Name && obj.Index.Hidden != nil {
			ix.spec.Hidden = *obj.Index.Hidden
		}
		if ix.spec.Name == obj.Index.Name && obj.Index.PrepareUnique != nil {
			if err := c.setPrepareUnique(ix, *obj.Index.PrepareUnique); err != nil {
				return err
			}
		}
		if ix.spec.Name == obj.Index.Name && obj.Index.Unique {
			ix.spec.Unique = true
		}
	}
	return nil
}

func fmtDoc(d bson.D) string {
	b, err := bson.MarshalExtJSON(d, false, false)
	if err != nil {
		return "?"
	}
	return string(b)
}
