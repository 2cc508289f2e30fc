package gateway

import (
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// patch is a push's set/unset: dotted paths into embedded documents.
type patch struct {
	set   []pathValue
	unset []string
}

type pathValue struct {
	path  string
	value bson.RawValue
}

// check refuses what the gateway cannot apply exactly: empty patches,
// invalid paths, _id, and paths that overlap (a and a.b), as MongoDB
// refuses them in one update.
func (p patch) check() error {
	if len(p.set) == 0 && len(p.unset) == 0 {
		return badQuery("a patch needs set or unset")
	}
	var paths []string
	for _, s := range p.set {
		paths = append(paths, s.path)
	}
	paths = append(paths, p.unset...)
	for _, path := range paths {
		if err := checkPath(path); err != nil {
			return err
		}
		if path == "_id" || strings.HasPrefix(path, "_id.") {
			return badQuery("a patch cannot change _id")
		}
	}
	slices.Sort(paths)
	for i := 1; i < len(paths); i++ {
		if paths[i] == paths[i-1] || strings.HasPrefix(paths[i], paths[i-1]+".") {
			return badQuery("paths %q and %q overlap", paths[i-1], paths[i])
		}
	}
	return nil
}

// errPatchPath is a set through a value that is not an embedded document
// (an array or a scalar): the gateway does not guess what it would mean.
type errPatchPath struct{ path string }

func (e errPatchPath) Error() string {
	return fmt.Sprintf("cannot set %q: a field on its path is not an embedded document", e.path)
}

// apply returns doc with the patch applied. Fields the patch does not
// touch keep their exact bytes and order; new fields are appended in the
// order of the patch. Unsetting a missing field does nothing.
func (p patch) apply(doc bson.Raw) (bson.Raw, error) {
	root := &patchNode{}
	for _, s := range p.set {
		root.add(strings.Split(s.path, "."), s.path, &s.value)
	}
	for _, u := range p.unset {
		root.add(strings.Split(u, "."), u, nil)
	}
	d, err := root.applyTo(doc)
	if err != nil {
		return nil, err
	}
	return bson.Marshal(d)
}

// patchNode is the patch below one embedded document, by field name.
type patchNode struct {
	keys     []string // in patch order
	children map[string]*patchNode
	leaves   map[string]*bson.RawValue // nil value: unset
	paths    map[string]string         // key -> a full path below it, for errors
}

func (n *patchNode) add(parts []string, full string, v *bson.RawValue) {
	if n.children == nil {
		n.children, n.leaves, n.paths = map[string]*patchNode{}, map[string]*bson.RawValue{}, map[string]string{}
	}
	k := parts[0]
	if _, ok := n.paths[k]; !ok {
		n.keys = append(n.keys, k)
		n.paths[k] = full
	}
	if len(parts) == 1 {
		n.leaves[k] = v
		return
	}
	c := n.children[k]
	if c == nil {
		c = &patchNode{}
		n.children[k] = c
	}
	c.add(parts[1:], full, v)
}

// sets reports whether the node sets anything (and would create fields).
func (n *patchNode) sets() bool {
	for _, v := range n.leaves {
		if v != nil {
			return true
		}
	}
	for _, c := range n.children {
		if c.sets() {
			return true
		}
	}
	return false
}

func (n *patchNode) applyTo(doc bson.Raw) (bson.D, error) {
	var out bson.D
	done := map[string]bool{}
	elems, err := doc.Elements()
	if err != nil {
		return nil, err
	}
	for _, el := range elems {
		k, v := el.Key(), el.Value()
		if leaf, ok := n.leaves[k]; ok {
			done[k] = true
			if leaf != nil {
				out = append(out, bson.E{Key: k, Value: *leaf})
			}
			continue
		}
		child, ok := n.children[k]
		if !ok {
			out = append(out, bson.E{Key: k, Value: v})
			continue
		}
		done[k] = true
		sub, isDoc := v.DocumentOK()
		if !isDoc {
			if child.sets() {
				return nil, errPatchPath{n.paths[k]}
			}
			out = append(out, bson.E{Key: k, Value: v}) // unset below a scalar: nothing to do
			continue
		}
		d, err := child.applyTo(sub)
		if err != nil {
			return nil, err
		}
		out = append(out, bson.E{Key: k, Value: d})
	}
	for _, k := range n.keys {
		if done[k] {
			continue
		}
		if leaf, ok := n.leaves[k]; ok {
			if leaf != nil {
				out = append(out, bson.E{Key: k, Value: *leaf})
			}
			continue
		}
		if c := n.children[k]; c.sets() {
			d, err := c.applyTo(emptyDocument)
			if err != nil {
				return nil, err
			}
			out = append(out, bson.E{Key: k, Value: d})
		}
	}
	if out == nil {
		out = bson.D{}
	}
	return out, nil
}

// emptyDocument is {} as BSON.
var emptyDocument = bson.Raw{5, 0, 0, 0, 0}
