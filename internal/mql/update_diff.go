package mql

import (
	"slices"
	"strconv"

	"github.com/mongotide/mongotide/internal/bsonx"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Pipeline updates and replacements are described by diffing the old and
// new document the way the server's document differ does
// (doc_diff::computeOplogDiff), so change events of pipeline updates match
// MongoDB's:
//   - fields are walked in parallel while names line up; a pre field whose
//     name does not line up is deleted unless it reappears later in post,
//     and every post field after the first mismatch is an insert;
//   - two documents, or two arrays, under the same name are diffed
//     recursively; any other change is an update of that path;
//   - arrays are compared index by index, elements past the old length are
//     updates at their index, and an array that got shorter is resized
//     (truncatedArrays);
//   - the server tracks the approximate BSON size of the diff it builds: a
//     sub-diff larger than the new sub-document or array becomes an update
//     of the whole value, and when the whole diff is larger than the new
//     document the server logs a replacement instead, which change streams
//     report as a "replace" event (UpdateDescription.Replaced).

// uDeltaMetadataSize is the room the server reserves for {$v: 2, diff: ...}
// around a delta (update_oplog_entry_serialization.h).
const uDeltaMetadataSize = 15

// Approximate diff sizes, as doc_diff counts them.
const (
	uSizeEmptyDocDiff   = 5
	uSizeEmptyArrayDiff = 9
	uSizeSectionWrap    = 8
	uSizeResize         = 7
)

type uDiffKind int

const (
	uDiffUpdate uDiffKind = iota
	uDiffInsert
	uDiffDelete
	uDiffSub
)

type uDiffEntry struct {
	name  string
	kind  uDiffKind
	value any
	sub   *uDiffNode
}

// uDiffNode is a document or array diff with its approximate size.
type uDiffNode struct {
	array   bool
	size    int
	entries []uDiffEntry // document: in insertion order; array: by index
	index   []int        // array entries' indexes
	resize  int          // array: new size, -1 when not truncated
	has     [3]bool      // document: sections already counted
}

func newDocDiff(padding int) *uDiffNode {
	return &uDiffNode{size: uSizeEmptyDocDiff + padding, resize: -1}
}

func newArrayDiff() *uDiffNode {
	return &uDiffNode{array: true, size: uSizeEmptyArrayDiff, resize: -1}
}

// uValueSize is the BSON size of a value without type byte and name.
func uValueSize(v any) int {
	_, data, err := bsonx.MarshalValue(v)
	if err != nil {
		return 0
	}
	return len(data)
}

func (n *uDiffNode) entrySize(nameLen int, e uDiffEntry) int {
	s := nameLen + 2
	switch e.kind {
	case uDiffSub:
		s += e.sub.size
	case uDiffDelete:
		s++
	default:
		s += uValueSize(e.value)
	}
	return s
}

func (n *uDiffNode) add(e uDiffEntry) {
	n.size += n.entrySize(len(e.name), e)
	if e.kind == uDiffSub {
		n.size++
	} else if !n.has[e.kind] {
		n.has[e.kind] = true
		n.size += uSizeSectionWrap
	}
	n.entries = append(n.entries, e)
}

func (n *uDiffNode) addIndex(idx int, e uDiffEntry) {
	e.name = strconv.Itoa(idx)
	n.size += n.entrySize(1+len(e.name), e)
	n.entries = append(n.entries, e)
	n.index = append(n.index, idx)
}

func uDocSize(d bson.D) int { return uValueSize(d) }

// uDiffDocs diffs two documents; nil when the diff would be larger than
// post (plus padding).
func uDiffDocs(pre, post bson.D, padding int) *uDiffNode {
	n := newDocDiff(padding)
	postSize := uDocSize(post)
	var deletes []string
	i, j := 0, 0
	for i < len(pre) && j < len(post) {
		if postSize < n.size {
			return nil
		}
		if pre[i].Key == post[j].Key {
			if !uIdentical(pre[i].Value, post[j].Value) {
				if sub := uSubDiff(pre[i].Value, post[j].Value); sub != nil {
					n.add(uDiffEntry{name: post[j].Key, kind: uDiffSub, sub: sub})
				} else {
					n.add(uDiffEntry{name: post[j].Key, kind: uDiffUpdate, value: post[j].Value})
				}
			}
			i++
			j++
			continue
		}
		deletes = append(deletes, pre[i].Key)
		i++
	}
	for ; i < len(pre); i++ {
		n.add(uDiffEntry{name: pre[i].Key, kind: uDiffDelete})
	}
	for ; j < len(post); j++ {
		n.add(uDiffEntry{name: post[j].Key, kind: uDiffInsert, value: post[j].Value})
		deletes = slices.DeleteFunc(deletes, func(k string) bool { return k == post[j].Key })
	}
	slices.Sort(deletes)
	for _, k := range slices.Compact(deletes) {
		n.add(uDiffEntry{name: k, kind: uDiffDelete})
	}
	if postSize > n.size {
		return n
	}
	return nil
}

// uSubDiff diffs two documents or two arrays; nil when they are of other
// types or the diff is not smaller than the new value.
func uSubDiff(pre, post any) *uDiffNode {
	switch x := pre.(type) {
	case bson.D:
		if y, ok := post.(bson.D); ok {
			return uDiffDocs(x, y, 0)
		}
	case bson.A:
		if y, ok := post.(bson.A); ok {
			return uDiffArrays(x, y)
		}
	}
	return nil
}

func uDiffArrays(pre, post bson.A) *uDiffNode {
	n := newArrayDiff()
	postSize := uValueSize(post)
	i := 0
	for ; i < len(pre) && i < len(post); i++ {
		if postSize < n.size {
			return nil
		}
		if uIdentical(pre[i], post[i]) {
			continue
		}
		if sub := uSubDiff(pre[i], post[i]); sub != nil {
			n.addIndex(i, uDiffEntry{kind: uDiffSub, sub: sub})
		} else {
			n.addIndex(i, uDiffEntry{kind: uDiffUpdate, value: post[i]})
		}
	}
	for ; i < len(post); i++ {
		n.addIndex(i, uDiffEntry{kind: uDiffUpdate, value: post[i]})
	}
	if len(pre) > len(post) {
		n.resize = len(post)
		n.size += uSizeResize
	}
	if postSize > n.size {
		return n
	}
	return nil
}

// uDiff describes how post differs from pre for a change event.
func uDiff(pre, post bson.D) *UpdateDescription {
	desc := &UpdateDescription{}
	root := uDiffDocs(pre, post, uDeltaMetadataSize)
	if root == nil {
		// The server would log a replacement: report it, and still list the
		// changes (diffed without the size limit) so callers can tell a
		// no-op from a change.
		desc.Replaced = true
		root = uDiffDocsUnlimited(pre, post)
	}
	uFlattenDiff(desc, "", root)
	return desc
}

// uDiffDocsUnlimited is uDiffDocs with sizes ignored.
func uDiffDocsUnlimited(pre, post bson.D) *uDiffNode {
	n := newDocDiff(0)
	var deletes []string
	i, j := 0, 0
	for i < len(pre) && j < len(post) {
		if pre[i].Key == post[j].Key {
			if !uIdentical(pre[i].Value, post[j].Value) {
				n.add(uDiffEntry{name: post[j].Key, kind: uDiffUpdate, value: post[j].Value})
			}
			i++
			j++
			continue
		}
		deletes = append(deletes, pre[i].Key)
		i++
	}
	for ; i < len(pre); i++ {
		n.add(uDiffEntry{name: pre[i].Key, kind: uDiffDelete})
	}
	for ; j < len(post); j++ {
		n.add(uDiffEntry{name: post[j].Key, kind: uDiffInsert, value: post[j].Value})
		deletes = slices.DeleteFunc(deletes, func(k string) bool { return k == post[j].Key })
	}
	slices.Sort(deletes)
	for _, k := range slices.Compact(deletes) {
		n.add(uDiffEntry{name: k, kind: uDiffDelete})
	}
	return n
}

// uFlattenDiff lists a diff as change streams do: per document level the
// deletes, updates and inserts, then sub-diffs; array entries by index.
func uFlattenDiff(desc *UpdateDescription, prefix string, n *uDiffNode) {
	if n.array {
		for _, e := range n.entries {
			p := uJoinPath(prefix, e.name)
			if e.kind == uDiffSub {
				uFlattenDiff(desc, p, e.sub)
			} else {
				desc.UpdatedFields = append(desc.UpdatedFields, Field{Path: p, Value: e.value})
			}
		}
		if n.resize >= 0 {
			desc.TruncatedArrays = append(desc.TruncatedArrays, TruncatedArray{Field: prefix, NewSize: int32(n.resize)})
		}
		return
	}
	for _, kind := range []uDiffKind{uDiffDelete, uDiffUpdate, uDiffInsert, uDiffSub} {
		for _, e := range n.entries {
			if e.kind != kind {
				continue
			}
			p := uJoinPath(prefix, e.name)
			switch kind {
			case uDiffDelete:
				desc.RemovedFields = append(desc.RemovedFields, p)
			case uDiffSub:
				uFlattenDiff(desc, p, e.sub)
			default:
				desc.UpdatedFields = append(desc.UpdatedFields, Field{Path: p, Value: e.value})
			}
		}
	}
}

func uJoinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}
