package mql

import (
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// uOrderFields puts updatedFields in the order a server change event lists
// them. The server serializes its $v:2 oplog diff per document level as
// updates of existing fields, then inserted fields, then sub-document diffs
// (each recursively in the same order); array diffs list their entries by
// index. Change streams flatten that diff depth-first, so the same order is
// reproduced here from the flat list. created[i] says whether
// fields[i] was inserted rather than updated in place.
func uOrderFields(doc bson.D, fields []Field, created []bool) []Field {
	if len(fields) < 2 {
		return fields
	}
	type node struct {
		name    string
		kids    []*node
		field   int // index into fields, -1 for an interior node
		created bool
	}
	root := &node{field: -1}
	for i, f := range fields {
		cur := root
		segs := strings.Split(f.Path, ".")
		for j, s := range segs {
			var next *node
			for _, k := range cur.kids {
				if k.name == s {
					next = k
					break
				}
			}
			if next == nil {
				next = &node{name: s, field: -1}
				cur.kids = append(cur.kids, next)
			}
			if j == len(segs)-1 {
				next.field, next.created = i, created[i]
			}
			cur = next
		}
	}
	out := make([]Field, 0, len(fields))
	var emit func(n *node, path string)
	emit = func(n *node, path string) {
		if n.field >= 0 {
			out = append(out, fields[n.field])
			return
		}
		container, _ := uGetConcrete(doc, path)
		if path == "" {
			container = doc
		}
		kids := slices.Clone(n.kids)
		if _, isArr := container.(bson.A); isArr {
			slices.SortStableFunc(kids, func(a, b *node) int {
				x, _ := strconv.Atoi(a.name)
				y, _ := strconv.Atoi(b.name)
				return x - y
			})
		} else {
			rank := func(k *node) int {
				switch {
				case k.field >= 0 && !k.created:
					return 0
				case k.field >= 0:
					return 1
				}
				return 2
			}
			slices.SortStableFunc(kids, func(a, b *node) int { return rank(a) - rank(b) })
		}
		for _, k := range kids {
			emit(k, uJoinPath(path, k.name))
		}
	}
	emit(root, "")
	return out
}
