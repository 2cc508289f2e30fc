package engine

import "go.mongodb.org/mongo-driver/v2/bson"

// undoPut reverts put(old, oldDoc, rec, doc) or remove(old, oldDoc) (rec
// nil) on a non-capped collection: used when the journal refused the
// commit.
func (c *collection) undoPut(old *docRec, oldDoc bson.D, rec *docRec, doc bson.D) {
	if rec != nil {
		_ = c.remove(rec, doc)
		if old == nil {
			c.nextRID--
		}
	}
	if old != nil {
		c.restore(old, oldDoc)
	}
}

// restore puts back a record that was removed, with its rid and unique
// index entries.
func (c *collection) restore(rec *docRec, doc bson.D) {
	if c.hasUnique() {
		if doc == nil {
			doc, _ = decodeDoc(rec.raw)
		}
		if keys, err := c.uniqueKeys(doc, rec.id); err == nil {
			for i, ix := range c.indexes {
				for _, k := range keys[i] {
					ix.keys.Set(ikey{vals: k, id: rec.id})
				}
			}
		}
	}
	c.docs.Set(rec)
	c.natural.Set(rec)
	c.size += int64(len(rec.raw))
}
