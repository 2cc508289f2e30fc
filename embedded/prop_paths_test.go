package embedded_test

import (
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Update paths for the property test, drawn from the document they will be
// applied to so that most of them address something that exists.

// propPath is an addressable path of a document and the value there.
type propPath struct {
	path  string
	value any
}

// propPaths lists the paths an update can address in d: every field whose
// name has no dot and no $ prefix (those cannot be addressed), and every
// array element by index, to depth 4.
func propPaths(d bson.D) []propPath {
	var out []propPath
	var walk func(prefix string, v any, depth int)
	walk = func(prefix string, v any, depth int) {
		if depth > 4 {
			return
		}
		switch x := v.(type) {
		case bson.D:
			for _, e := range x {
				if e.Key == "" || strings.Contains(e.Key, ".") || strings.HasPrefix(e.Key, "$") {
					continue
				}
				p := join(prefix, e.Key)
				out = append(out, propPath{p, e.Value})
				if p != "_id" {
					// An update may not change _id; a $inc of 0.0 to a
					// field of it is allowed (equal values) but changes
					// its bytes, and so the key of the model.
					walk(p, e.Value, depth+1)
				}
			}
		case bson.A:
			for i, el := range x {
				p := join(prefix, strconv.Itoa(i))
				out = append(out, propPath{p, el})
				walk(p, el, depth+1)
			}
		}
	}
	walk("", d, 0)
	return out
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// pathSet tracks the paths one update already uses: MongoDB refuses two
// operators on the same path or on a path and its prefix (40).
type pathSet []string

func (s pathSet) conflicts(p string) bool {
	for _, q := range s {
		if p == q || strings.HasPrefix(p, q+".") || strings.HasPrefix(q, p+".") {
			return true
		}
	}
	return false
}

// path returns an existing path of d (most of the time) or a new one:
// a new field at the top or under an existing document.
func (g *propGen) path(paths []propPath) string {
	if len(paths) > 0 && g.chance(0.65) {
		p := paths[g.pick(len(paths))]
		// Not _id: see operatorUpdate.
		if p.path != "_id" {
			return p.path
		}
	}
	var docs []string
	for _, p := range paths {
		if _, ok := p.value.(bson.D); ok && p.path != "_id" {
			docs = append(docs, p.path)
		}
	}
	if len(docs) > 0 && g.chance(0.4) {
		return docs[g.pick(len(docs))] + "." + g.name()
	}
	return g.name()
}

// arrayPath returns the path of an array of d, or a random path.
func (g *propGen) arrayPath(paths []propPath) (string, bson.A) {
	var arrs []propPath
	for _, p := range paths {
		if _, ok := p.value.(bson.A); ok {
			arrs = append(arrs, p)
		}
	}
	if len(arrs) > 0 && g.chance(0.85) {
		p := arrs[g.pick(len(arrs))]
		return p.path, p.value.(bson.A)
	}
	return g.path(paths), nil
}

// numericPath prefers a path holding a number ($inc, $mul, $bit).
func (g *propGen) numericPath(paths []propPath) string {
	var nums []string
	for _, p := range paths {
		switch p.value.(type) {
		case int32, int64, float64, bson.Decimal128:
			if p.path != "_id" { // see path
				nums = append(nums, p.path)
			}
		}
	}
	if len(nums) > 0 && g.chance(0.8) {
		return nums[g.pick(len(nums))]
	}
	return g.path(paths)
}

// matchable reports whether v equals only itself in a query (a regex
// matches strings, null matches missing, NaN and arrays have their own
// rules): such values make good positional filters.
func matchable(v any) bool {
	switch x := v.(type) {
	case string, int32, int64, bool, bson.ObjectID, bson.DateTime:
		return true
	case float64:
		return x == x
	}
	return false
}
