package changestream

import (
	"strconv"
	"strings"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Expanded events (showExpandedEvents, MongoDB 6.0+): the catalog events
// create, createIndexes, dropIndexes and modify; collectionUUID on events
// whose oplog entry names the collection's UUID (catalog events, drop and
// rename); operationDescription; and updateDescription.disambiguatedPaths.

// isExpandedOp reports the entries only expanded streams report.
func isExpandedOp(op engine.OpType) bool {
	switch op {
	case engine.OpCreate, engine.OpCreateIndexes, engine.OpDropIndexes, engine.OpCollMod:
		return true
	}
	return false
}

// matchEntry reports whether e produces an event on this stream and
// whether that event invalidates it.
func (s *Stream) matchEntry(e *engine.Entry) (match, invalidates bool) {
	if !isExpandedOp(e.Op) {
		return s.scope.matches(s.kind, e)
	}
	if !s.spec.showExpandedEvents {
		return false, false
	}
	// A catalog event is seen where a write to its collection would be.
	m, _ := s.scope.matches(s.kind, &engine.Entry{Op: engine.OpInsert, NS: e.NS})
	return m, false
}

// entryObject decodes the Object of a catalog entry (nil when absent).
func entryObject(e *engine.Entry) bson.Raw {
	if len(e.Object) == 0 {
		return nil
	}
	if err := bson.Raw(e.Object).Validate(); err != nil {
		return nil
	}
	return bson.Raw(e.Object)
}

// appendCollectionUUID appends collectionUUID when the entry carries it.
func appendCollectionUUID(dst []byte, e *engine.Entry) []byte {
	if e.Op == engine.OpDropDatabase {
		return dst
	}
	obj := entryObject(e)
	if obj == nil {
		return dst
	}
	v, err := obj.LookupErr("uuid")
	if err != nil || v.Type != bson.TypeBinary {
		return dst
	}
	return bsoncore.AppendValueElement(dst, "collectionUUID", bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value})
}

// appendOperationDescription appends what the catalog change was, as
// MongoDB's oplog entry for it says (create: the options and idIndex;
// indexes: their specs; modify: the changed options and the state before;
// rename: the target and the dropped target's UUID).
func appendOperationDescription(dst []byte, op engine.OpType, e *engine.Entry) []byte {
	obj := entryObject(e)
	switch op {
	case engine.OpCreate:
		idx, d := bsoncore.AppendDocumentElementStart(dst, "operationDescription")
		opts, _ := lookupDoc(obj, "options")
		special := false
		if opts != nil {
			elems, _ := opts.Elements()
			for _, el := range elems {
				k := el.Key()
				special = special || k == "clusteredIndex" || k == "timeseries"
				d = bsoncore.AppendValueElement(d, k, bsoncore.Value{Type: bsoncore.Type(el.Value().Type), Data: el.Value().Value})
			}
		}
		if !special {
			id, dd := bsoncore.AppendDocumentElementStart(d, "idIndex")
			dd = bsoncore.AppendInt32Element(dd, "v", 2)
			dd = bsoncore.AppendDocumentElement(dd, "key", bsoncore.NewDocumentBuilder().AppendInt32("_id", 1).Build())
			dd = bsoncore.AppendStringElement(dd, "name", "_id_")
			d, _ = bsoncore.AppendDocumentEnd(dd, id)
		}
		dst, _ = bsoncore.AppendDocumentEnd(d, idx)
	case engine.OpCreateIndexes, engine.OpDropIndexes:
		idx, d := bsoncore.AppendDocumentElementStart(dst, "operationDescription")
		if v, err := obj.LookupErr("indexes"); err == nil && v.Type == bson.TypeArray {
			d = bsoncore.AppendArrayElement(d, "indexes", v.Value)
		} else {
			d = bsoncore.AppendArrayElement(d, "indexes", bsoncore.NewArrayBuilder().Build())
		}
		dst, _ = bsoncore.AppendDocumentEnd(d, idx)
	case engine.OpCollMod:
		now, _ := lookupDoc(obj, "options")
		old, _ := lookupDoc(obj, "old")
		idx, d := bsoncore.AppendDocumentElementStart(dst, "operationDescription")
		if now != nil {
			elems, _ := now.Elements()
			for _, el := range elems {
				if prev, err := old.LookupErr(el.Key()); err == nil && prev.Equal(el.Value()) {
					continue
				}
				d = bsoncore.AppendValueElement(d, el.Key(), bsoncore.Value{Type: bsoncore.Type(el.Value().Type), Data: el.Value().Value})
			}
		}
		dst, _ = bsoncore.AppendDocumentEnd(d, idx)
		sidx, sd := bsoncore.AppendDocumentElementStart(dst, "stateBeforeChange")
		if old == nil {
			old = bson.Raw(bsoncore.NewDocumentBuilder().Build())
		}
		sd = bsoncore.AppendDocumentElement(sd, "collectionOptions", old)
		dst, _ = bsoncore.AppendDocumentEnd(sd, sidx)
	case engine.OpRename:
		idx, d := bsoncore.AppendDocumentElementStart(dst, "operationDescription")
		d = appendNS(d, "to", e.To)
		if v, err := obj.LookupErr("dropTargetUUID"); err == nil && v.Type == bson.TypeBinary {
			d = bsoncore.AppendValueElement(d, "dropTarget", bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value})
		}
		dst, _ = bsoncore.AppendDocumentEnd(d, idx)
	}
	return dst
}

func lookupDoc(obj bson.Raw, key string) (bson.Raw, bool) {
	if obj == nil {
		return nil, false
	}
	v, err := obj.LookupErr(key)
	if err != nil || v.Type != bson.TypeEmbeddedDocument {
		return nil, false
	}
	return v.Document(), true
}

// appendDisambiguatedPaths appends updateDescription.disambiguatedPaths:
// for every path of the description that names a field whose name is
// numeric (in a document, not an array index) or contains a dot, the
// path's components, array indexes as numbers, resolved against the
// post-image as MongoDB resolves them.
func appendDisambiguatedPaths(dst []byte, u *mql.UpdateDescription, post bson.Raw) []byte {
	idx, dst := bsoncore.AppendDocumentElementStart(dst, "disambiguatedPaths")
	seen := map[string]bool{}
	add := func(path string) {
		if seen[path] {
			return
		}
		seen[path] = true
		comps, ambiguous := resolvePath(post, path)
		if !ambiguous {
			return
		}
		aidx, d := bsoncore.AppendArrayElementStart(dst, path)
		for i, c := range comps {
			key := strconv.Itoa(i)
			if n, ok := c.(int32); ok {
				d = bsoncore.AppendInt32Element(d, key, n)
			} else {
				d = bsoncore.AppendStringElement(d, key, c.(string))
			}
		}
		dst, _ = bsoncore.AppendArrayEnd(d, aidx)
	}
	for _, f := range u.UpdatedFields {
		add(f.Path)
	}
	for _, p := range u.RemovedFields {
		add(p)
	}
	for _, t := range u.TruncatedArrays {
		add(t.Field)
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// resolvePath splits a dotted path into the field names and array indexes
// it denotes in doc. Within a document the longest run of segments that is
// a field name wins (field names may contain dots); a field name that is
// numeric or contains a dot makes the path ambiguous.
func resolvePath(doc bson.Raw, path string) (comps []any, ambiguous bool) {
	segs := strings.Split(path, ".")
	cur := bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: doc}
	for i := 0; i < len(segs); {
		switch cur.Type {
		case bson.TypeEmbeddedDocument:
			d := cur.Document()
			j := len(segs)
			var next bson.RawValue
			for ; j > i+1; j-- {
				if v, err := d.LookupErr(strings.Join(segs[i:j], ".")); err == nil {
					next = v
					break
				}
			}
			if j == i+1 {
				next, _ = d.LookupErr(segs[i])
			}
			name := strings.Join(segs[i:j], ".")
			if _, numeric := arrayIndexSeg(name); numeric || strings.Contains(name, ".") {
				ambiguous = true
			}
			comps = append(comps, name)
			cur, i = next, j
		case bson.TypeArray:
			if n, ok := arrayIndexSeg(segs[i]); ok {
				comps = append(comps, int32(n))
				cur, _ = bson.Raw(cur.Value).LookupErr(segs[i])
			} else {
				comps = append(comps, segs[i])
				cur = bson.RawValue{}
			}
			i++
		default:
			// Past the post-image (a removed field): the rest as named.
			for _, s := range segs[i:] {
				if _, numeric := arrayIndexSeg(s); numeric {
					ambiguous = true
				}
				comps = append(comps, s)
			}
			return comps, ambiguous
		}
	}
	return comps, ambiguous
}

// arrayIndexSeg reports a path segment that is a non-negative decimal
// number, which can be an array index or a numeric field name.
func arrayIndexSeg(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}
