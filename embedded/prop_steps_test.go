package embedded_test

import (
	"go.mongodb.org/mongo-driver/v2/bson"
)

// genStep draws the next write of the property test from the current
// state: single writes of every kind, insertMany, bulkWrite (ordered and
// unordered), findAndModify, and transactions that commit or abort.
func (h *propHarness) genStep() propStep {
	g := h.gen
	switch n := g.pick(100); {
	case n < 55:
		return single(h.genWrite())
	case n < 62:
		var docs []any
		for range 1 + g.pick(4) {
			docs = append(docs, g.storedDoc(h.newID(), true))
		}
		return insertMany(docs, g.chance(0.5))
	case n < 72:
		return bulkWrite(h.genWrites(2+g.pick(4)), g.chance(0.5))
	case n < 86:
		id := g.id()
		doc := h.docOf(id)
		upsert, after := g.chance(0.3), g.chance(0.5)
		switch g.pick(4) {
		case 0:
			u := g.pipelineUpdate(id, doc)
			return findAndModify(id, &u, nil, upsert, after)
		case 1:
			u := g.operatorUpdate(id, doc, upsert)
			return findAndModify(id, &u, nil, upsert, after)
		case 2:
			return findAndModify(id, nil, g.storedDoc(id, g.chance(0.5)), upsert, after)
		default:
			return findAndModify(id, nil, nil, false, false)
		}
	default:
		return transaction(h.genWrites(1+g.pick(4)), g.chance(0.7))
	}
}

func (h *propHarness) genWrites(n int) []propWrite {
	ws := make([]propWrite, n)
	for i := range ws {
		ws[i] = h.genWrite()
	}
	return ws
}

// genWrite draws one write statement.
func (h *propHarness) genWrite() propWrite {
	g := h.gen
	id := g.id()
	doc := h.docOf(id)
	upsert := g.chance(0.2)
	switch n := g.pick(100); {
	case n < 15:
		if g.chance(0.05) {
			return propWrite{kind: "insert", doc: g.storedDoc(nil, false)} // the driver adds an ObjectId
		}
		return propWrite{kind: "insert", doc: g.storedDoc(h.newID(), true)}
	case n < 50:
		return propWrite{kind: "update", upd: g.operatorUpdate(id, doc, upsert), upsert: upsert}
	case n < 58:
		// A multi-document update: the filter picks documents by a field
		// of this one.
		u := g.operatorUpdate(id, doc, false)
		u.filter = h.manyFilter(doc)
		return propWrite{kind: "updateMany", upd: u}
	case n < 70:
		return propWrite{kind: "pipeline", upd: g.pipelineUpdate(id, doc), upsert: upsert}
	case n < 82:
		return propWrite{kind: "replace", filter: bson.D{{Key: "_id", Value: id}}, doc: g.storedDoc(id, g.chance(0.5)), upsert: upsert}
	case n < 93:
		return propWrite{kind: "delete", filter: bson.D{{Key: "_id", Value: id}}}
	default:
		return propWrite{kind: "deleteMany", filter: h.manyFilter(doc)}
	}
}

// manyFilter matches several documents: those having a top-level field of
// doc, or (sometimes) all of them.
func (h *propHarness) manyFilter(doc bson.D) bson.D {
	g := h.gen
	if len(doc) > 1 && g.chance(0.8) {
		e := doc[1+g.pick(len(doc)-1)]
		if matchable(e.Value) && g.chance(0.5) {
			return bson.D{{Key: e.Key, Value: e.Value}}
		}
		return bson.D{{Key: e.Key, Value: bson.D{{Key: "$exists", Value: true}}}}
	}
	if g.chance(0.3) {
		return bson.D{}
	}
	return bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{g.id(), g.id()}}}}}
}

// docOf returns the stored document with _id id, decoded (nil when there
// is none).
func (h *propHarness) docOf(id any) bson.D {
	raw, ok := h.state[idKeyOf(id)]
	if !ok {
		return nil
	}
	var d bson.D
	if err := bson.Unmarshal(raw, &d); err != nil {
		h.t.Fatalf("decode stored document %v: %v", raw, err)
	}
	return d
}

// newID returns an _id no document has, most of the time (an insert of an
// existing one is refused with 11000, also worth a step now and then).
func (h *propHarness) newID() any {
	for range 3 {
		id := h.gen.id()
		if _, taken := h.state[idKeyOf(id)]; !taken || h.gen.chance(0.1) {
			return id
		}
	}
	return h.gen.id()
}
