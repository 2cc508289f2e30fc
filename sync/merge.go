package sync

import (
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// The FieldMerge policy merges two concurrent edits of one document against
// the base both sides last agreed on (the base document is kept in the local
// docs entry under FieldMerge). Each side's edit is first turned into a
// change set shaped like a change event's updateDescription: fields set
// (updatedFields) and fields removed (removedFields), as paths into nested
// documents; arrays and values of other types are whole values.
//
// The change sets are computed from the stored base rather than taken from
// change events' updateDescription because the engine is state based: an
// upload reads the document as it is now, which may be the result of
// several coalesced events (or of none, when reconciling after the oplog
// window was exceeded), a redelivered event would describe a change that is
// already applied, and a replace or insert event carries no
// updateDescription at all. Diffing base against current state gives the
// same answer whichever events were seen.

// fieldPath is a path into nested documents, one key per element. Keys may
// themselves contain dots, so a path is only joined for display.
type fieldPath []string

func (p fieldPath) String() string { return strings.Join(p, ".") }

// overlaps reports whether one path is a prefix of the other (or equal):
// changes at such paths touch the same data.
func (p fieldPath) overlaps(q fieldPath) bool {
	n := min(len(p), len(q))
	return slices.Equal(p[:n], q[:n])
}

// fieldChange is one entry of a change set: Path set to Value, or removed.
type fieldChange struct {
	Path    fieldPath
	Value   bson.RawValue
	Removed bool
}

func (c fieldChange) same(d fieldChange) bool {
	return slices.Equal(c.Path, d.Path) && c.Removed == d.Removed && (c.Removed || c.Value.Equal(d.Value))
}

// diffDocs returns the change set that turns base into doc: updated fields
// in doc's order, then removed fields in base's order. Embedded documents
// present on both sides are compared field by field; every other value,
// arrays included, is compared whole, BSON type included (int32 1 and
// int64 1 differ). No two paths of one change set overlap.
func diffDocs(base, doc bson.Raw) ([]fieldChange, error) {
	return diffInto(nil, nil, base, doc)
}

func diffInto(out []fieldChange, prefix fieldPath, base, doc bson.Raw) ([]fieldChange, error) {
	be, err := base.Elements()
	if err != nil {
		return nil, fmt.Errorf("base document: %w", err)
	}
	de, err := doc.Elements()
	if err != nil {
		return nil, fmt.Errorf("document: %w", err)
	}
	inBase := make(map[string]bson.RawValue, len(be))
	for _, e := range be {
		if _, dup := inBase[e.Key()]; !dup {
			inBase[e.Key()] = e.Value()
		}
	}
	inDoc := make(map[string]bool, len(de))
	for _, e := range de {
		k, v := e.Key(), e.Value()
		if inDoc[k] {
			continue
		}
		inDoc[k] = true
		path := append(slices.Clip(prefix), k)
		bv, ok := inBase[k]
		switch {
		case !ok:
			out = append(out, fieldChange{Path: path, Value: v})
		case bv.Equal(v):
		case bv.Type == bson.TypeEmbeddedDocument && v.Type == bson.TypeEmbeddedDocument:
			if out, err = diffInto(out, path, bv.Document(), v.Document()); err != nil {
				return nil, err
			}
		default:
			out = append(out, fieldChange{Path: path, Value: v})
		}
	}
	seen := map[string]bool{}
	for _, e := range be {
		if k := e.Key(); !inDoc[k] && !seen[k] {
			seen[k] = true
			out = append(out, fieldChange{Path: append(slices.Clip(prefix), k), Removed: true})
		}
	}
	return out, nil
}

// mergeResult is the outcome of a three-way merge.
type mergeResult struct {
	Doc bson.Raw
	// Clashes are the paths both sides changed differently, sorted; the
	// side named by localWon decided them.
	Clashes []string
}

// merge3 merges the concurrent edits local and remote of base. A field
// changed on one side only takes that side's change; changed the same way
// on both it is taken once; changed differently on both (including one
// side changing a field inside a document the other replaced or removed)
// takes the change of the side that wins by version: local when localWins.
// The result keeps base's field order; new fields are appended, the
// remote's first (it was committed first), then the local's.
func merge3(base, local, remote bson.Raw, localWins bool) (mergeResult, error) {
	lc, err := diffDocs(base, local)
	if err != nil {
		return mergeResult{}, fmt.Errorf("local edit: %w", err)
	}
	rc, err := diffDocs(base, remote)
	if err != nil {
		return mergeResult{}, fmt.Errorf("remote edit: %w", err)
	}
	lClash := make([]bool, len(lc))
	rClash := make([]bool, len(rc))
	lDup := make([]bool, len(lc)) // the same change as a remote one
	clashes := map[string]bool{}
	for i, l := range lc {
		for j, r := range rc {
			if !l.Path.overlaps(r.Path) {
				continue
			}
			if l.same(r) {
				lDup[i] = true
				continue
			}
			lClash[i], rClash[j] = true, true
			clashes[l.Path.String()] = true
			clashes[r.Path.String()] = true
		}
	}
	var apply []fieldChange
	for j, r := range rc {
		if !rClash[j] || !localWins {
			apply = append(apply, r)
		}
	}
	for i, l := range lc {
		if !lDup[i] && (!lClash[i] || localWins) {
			apply = append(apply, l)
		}
	}
	doc := base
	for _, c := range apply {
		if doc, err = applyChange(doc, c.Path, c); err != nil {
			return mergeResult{}, err
		}
	}
	return mergeResult{Doc: doc, Clashes: slices.Sorted(func(yield func(string) bool) {
		for k := range clashes {
			if !yield(k) {
				return
			}
		}
	})}, nil
}

// applyChange returns doc with c applied at path (relative to doc): an
// existing field keeps its position, a new one is appended.
func applyChange(doc bson.Raw, path fieldPath, c fieldChange) (bson.Raw, error) {
	elems, err := doc.Elements()
	if err != nil {
		return nil, err
	}
	idx, out := bsoncore.AppendDocumentStart(nil)
	found := false
	for _, e := range elems {
		k := e.Key()
		if found || k != path[0] {
			out = append(out, e...)
			continue
		}
		found = true
		v := e.Value()
		switch {
		case len(path) > 1:
			sub := emptyDoc()
			if v.Type == bson.TypeEmbeddedDocument {
				sub = v.Document()
			}
			merged, err := applyChange(sub, path[1:], c)
			if err != nil {
				return nil, err
			}
			out = bsoncore.AppendDocumentElement(out, k, merged)
		case c.Removed:
		default:
			out = appendValue(out, k, c.Value)
		}
	}
	if !found && !c.Removed {
		if len(path) > 1 {
			sub, err := applyChange(emptyDoc(), path[1:], c)
			if err != nil {
				return nil, err
			}
			out = bsoncore.AppendDocumentElement(out, path[0], sub)
		} else {
			out = appendValue(out, path[0], c.Value)
		}
	}
	out, err = bsoncore.AppendDocumentEnd(out, idx)
	return bson.Raw(out), err
}

func appendValue(dst []byte, key string, v bson.RawValue) []byte {
	return bsoncore.AppendValueElement(dst, key, bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value})
}

// emptyDoc is the base of a document that did not exist: a concurrent
// insert/insert of one _id merges field by field.
func emptyDoc() bson.Raw { return bson.Raw{5, 0, 0, 0, 0} }
