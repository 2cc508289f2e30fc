package embedded_test

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The property test's own reading of an update event, independent of the
// server's code: applying updateDescription to the pre-image must give the
// post-image. Following the change-streams documentation, updatedFields
// are applied first (in the order listed; a path into an array element
// past its end pads the array with nulls, as $set does), then
// removedFields, then truncatedArrays.
//
// Paths are dotted. A document may hold field names that contain dots
// (allowed in stored documents since MongoDB 5.0), and then a path is
// ambiguous: that is what showExpandedEvents' disambiguatedPaths resolves,
// which embedded does not support. The applier reads a path in two ways
// and the test accepts either: one field per segment (every path an
// update operator writes), or, for a run of segments, the longest field
// name that exists in the document or, for a new field, in the post-image
// at the same place (standing in for disambiguatedPaths: only the field's
// name is taken from it; pipeline updates and replacements write those).
//
// updatedFields does not say where a new field goes, so the result is
// compared with the post-image as an unordered document (fields sorted by
// name at every level, arrays kept in order). Every other comparison of
// the test (pre- and post-images, fullDocument, find results, the oplog
// before and after a restart) is of the exact bytes.

// applyUpdateDescription applies ud to pre and returns the result; dotted
// selects the reading of paths through dotted field names.
func applyUpdateDescription(pre, ud, post bson.Raw, dotted bool) (bson.D, error) {
	var doc, hint bson.D
	if err := bson.Unmarshal(pre, &doc); err != nil {
		return nil, err
	}
	if err := bson.Unmarshal(post, &hint); err != nil {
		return nil, err
	}
	var v any = doc
	fields, err := ud.LookupErr("updatedFields")
	if err != nil {
		return nil, fmt.Errorf("no updatedFields: %w", err)
	}
	elems, err := fields.Document().Elements()
	if err != nil {
		return nil, err
	}
	for _, e := range elems {
		var val any
		if err := e.Value().Unmarshal(&val); err != nil {
			return nil, fmt.Errorf("updatedFields.%s: %w", e.Key(), err)
		}
		if v, err = setPath(v, strings.Split(e.Key(), "."), val, hint, dotted); err != nil {
			return nil, fmt.Errorf("updatedFields %q: %w", e.Key(), err)
		}
	}
	removed, err := ud.LookupErr("removedFields")
	if err != nil {
		return nil, fmt.Errorf("no removedFields: %w", err)
	}
	rvals, err := removed.Array().Values()
	if err != nil {
		return nil, err
	}
	for _, r := range rvals {
		p, ok := r.StringValueOK()
		if !ok {
			return nil, fmt.Errorf("removedFields holds %v, not a string", r)
		}
		if v, err = unsetPath(v, strings.Split(p, "."), dotted); err != nil {
			return nil, fmt.Errorf("removedFields %q: %w", p, err)
		}
	}
	truncated, err := ud.LookupErr("truncatedArrays")
	if err != nil {
		return nil, fmt.Errorf("no truncatedArrays: %w", err)
	}
	tvals, err := truncated.Array().Values()
	if err != nil {
		return nil, err
	}
	for _, tv := range tvals {
		td, ok := tv.DocumentOK()
		if !ok {
			return nil, fmt.Errorf("truncatedArrays holds %v", tv)
		}
		field, ok1 := td.Lookup("field").StringValueOK()
		size, ok2 := td.Lookup("newSize").AsInt64OK()
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("truncatedArrays entry %v", td)
		}
		if v, err = truncatePath(v, strings.Split(field, "."), int(size), dotted); err != nil {
			return nil, fmt.Errorf("truncatedArrays %q: %w", field, err)
		}
	}
	return v.(bson.D), nil
}

// fieldRun finds the field of d named by the longest run of segs joined by
// dots (only the first segment unless dotted); -1 when none exists.
func fieldRun(d bson.D, segs []string, dotted bool) (idx, used int) {
	longest := 1
	if dotted {
		longest = len(segs)
	}
	for n := longest; n >= 1; n-- {
		name := strings.Join(segs[:n], ".")
		for i, e := range d {
			if e.Key == name {
				return i, n
			}
		}
	}
	return -1, 0
}

func arrayIndex(seg string) (int, error) {
	i, err := strconv.Atoi(seg)
	if err != nil || i < 0 || strconv.Itoa(i) != seg {
		return 0, fmt.Errorf("array index %q", seg)
	}
	return i, nil
}

// setPath sets segs in v to val, creating documents on the way; hint is
// the post-image's value at v's place (names new fields).
func setPath(v any, segs []string, val, hint any, dotted bool) (any, error) {
	switch x := v.(type) {
	case bson.D:
		i, n := fieldRun(x, segs, dotted)
		hd, _ := hint.(bson.D)
		if j, m := fieldRun(hd, segs, dotted); j >= 0 && m > n {
			// A new field whose dotted name is longer than an existing
			// one's ("a.b" next to "a").
			i, n = -1, 0
		}
		if i < 0 {
			name, n := segs[0], 1
			if j, m := fieldRun(hd, segs, dotted); j >= 0 {
				name, n = hd[j].Key, m
			}
			if n == len(segs) {
				return append(x, bson.E{Key: name, Value: val}), nil
			}
			nv, err := setPath(bson.D{}, segs[n:], val, hintOf(hint, name), dotted)
			return append(x, bson.E{Key: name, Value: nv}), err
		}
		if n == len(segs) {
			x[i].Value = val
			return x, nil
		}
		nv, err := setPath(x[i].Value, segs[n:], val, hintOf(hint, x[i].Key), dotted)
		x[i].Value = nv
		return x, err
	case bson.A:
		i, err := arrayIndex(segs[0])
		if err != nil {
			return nil, err
		}
		for len(x) <= i {
			x = append(x, nil)
		}
		if len(segs) == 1 {
			x[i] = val
			return x, nil
		}
		el := x[i]
		if el == nil {
			el = bson.D{}
		}
		var h any
		if ha, ok := hint.(bson.A); ok && i < len(ha) {
			h = ha[i]
		}
		x[i], err = setPath(el, segs[1:], val, h, dotted)
		return x, err
	}
	return nil, fmt.Errorf("cannot traverse a %T at %q", v, segs[0])
}

// hintOf returns field name of hint when hint is a document.
func hintOf(hint any, name string) any {
	if hd, ok := hint.(bson.D); ok {
		for _, e := range hd {
			if e.Key == name {
				return e.Value
			}
		}
	}
	return nil
}

// unsetPath removes the field segs names (removedFields name fields only).
func unsetPath(v any, segs []string, dotted bool) (any, error) {
	switch x := v.(type) {
	case bson.D:
		i, n := fieldRun(x, segs, dotted)
		if i < 0 {
			return nil, fmt.Errorf("removed field %q does not exist", segs[0])
		}
		if n == len(segs) {
			return slices.Delete(x, i, i+1), nil
		}
		nv, err := unsetPath(x[i].Value, segs[n:], dotted)
		x[i].Value = nv
		return x, err
	case bson.A:
		i, err := arrayIndex(segs[0])
		if err != nil || i >= len(x) || len(segs) == 1 {
			return nil, fmt.Errorf("removedFields names array element %q (an unset element is an updated null)", segs[0])
		}
		x[i], err = unsetPath(x[i], segs[1:], dotted)
		return x, err
	}
	return nil, fmt.Errorf("cannot traverse a %T at %q", v, segs[0])
}

// truncatePath shortens the array at segs to size.
func truncatePath(v any, segs []string, size int, dotted bool) (any, error) {
	if len(segs) == 0 {
		a, ok := v.(bson.A)
		if !ok || size > len(a) || size < 0 {
			return nil, fmt.Errorf("cannot truncate %T of %v to %d", v, v, size)
		}
		return a[:size], nil
	}
	switch x := v.(type) {
	case bson.D:
		i, n := fieldRun(x, segs, dotted)
		if i < 0 {
			return nil, fmt.Errorf("truncated field %q does not exist", segs[0])
		}
		nv, err := truncatePath(x[i].Value, segs[n:], size, dotted)
		x[i].Value = nv
		return x, err
	case bson.A:
		i, err := arrayIndex(segs[0])
		if err != nil || i >= len(x) {
			return nil, fmt.Errorf("no element %q", segs[0])
		}
		x[i], err = truncatePath(x[i], segs[1:], size, dotted)
		return x, err
	}
	return nil, fmt.Errorf("cannot traverse a %T at %q", v, segs[0])
}

// unordered returns d's canonical unordered form as bytes: fields sorted by
// name at every level of nested documents (arrays keep their order).
func unordered(d bson.D) ([]byte, error) {
	return bson.Marshal(sortFields(d))
}

func sortFields(v any) any {
	switch x := v.(type) {
	case bson.D:
		out := make(bson.D, len(x))
		for i, e := range x {
			out[i] = bson.E{Key: e.Key, Value: sortFields(e.Value)}
		}
		slices.SortStableFunc(out, func(a, b bson.E) int { return cmp.Compare(a.Key, b.Key) })
		return out
	case bson.A:
		out := make(bson.A, len(x))
		for i, e := range x {
			out[i] = sortFields(e)
		}
		return out
	}
	return v
}

// sameUnordered reports whether got (applied) and want (a post-image) are
// equal as unordered documents.
func sameUnordered(got bson.D, want bson.Raw) (bool, error) {
	var wd bson.D
	if err := bson.Unmarshal(want, &wd); err != nil {
		return false, err
	}
	a, err := unordered(got)
	if err != nil {
		return false, err
	}
	b, err := unordered(wd)
	if err != nil {
		return false, err
	}
	return bytes.Equal(a, b), nil
}
