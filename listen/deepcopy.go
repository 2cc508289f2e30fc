package listen

import (
	"reflect"
	"time"
)

// With many listeners on one stream, decoding the same document into T once
// per listener dominated the fan-out's CPU. Instead the document is decoded
// once per event and type (a private template no handler ever sees) and each
// listener gets a deep copy, which is several times cheaper than a decode.
// A copy shares nothing mutable with the template or with other listeners'
// copies; values the copier cannot prove it copies fully (channels, funcs,
// unexported reference fields, as custom unmarshalers may set) make it give
// up, and the caller then decodes for that listener as before.

var timeType = reflect.TypeFor[time.Time]()

// deepCopy returns a copy of v that shares no mutable memory with it, and
// false if v holds something it cannot copy safely.
func deepCopy(v reflect.Value) (reflect.Value, bool) {
	t := v.Type()
	if immutable(t) {
		return v, true
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v, true
		}
		e, ok := deepCopy(v.Elem())
		if !ok {
			return v, false
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(e)
		return p, true
	case reflect.Interface:
		if v.IsNil() {
			return v, true
		}
		inner := v.Elem()
		if immutable(inner.Type()) {
			// An interface holding a non-reference value cannot be
			// mutated through: sharing it is a copy.
			return v, true
		}
		e, ok := deepCopy(inner)
		if !ok {
			return v, false
		}
		r := reflect.New(t).Elem()
		r.Set(e)
		return r, true
	case reflect.Slice:
		if v.IsNil() {
			return v, true
		}
		n := v.Len()
		s := reflect.MakeSlice(t, n, n)
		if immutable(t.Elem()) {
			reflect.Copy(s, v)
			return s, true
		}
		for i := 0; i < n; i++ {
			e, ok := deepCopy(v.Index(i))
			if !ok {
				return v, false
			}
			s.Index(i).Set(e)
		}
		return s, true
	case reflect.Array:
		a := reflect.New(t).Elem()
		for i := 0; i < v.Len(); i++ {
			e, ok := deepCopy(v.Index(i))
			if !ok {
				return v, false
			}
			a.Index(i).Set(e)
		}
		return a, true
	case reflect.Map:
		if v.IsNil() {
			return v, true
		}
		if !immutable(t.Key()) {
			return v, false
		}
		m := reflect.MakeMapWithSize(t, v.Len())
		it := v.MapRange()
		for it.Next() {
			e, ok := deepCopy(it.Value())
			if !ok {
				return v, false
			}
			m.SetMapIndex(it.Key(), e)
		}
		return m, true
	case reflect.Struct:
		s := reflect.New(t).Elem()
		s.Set(v) // every field, unexported ones included
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if immutable(f.Type) {
				continue
			}
			if !f.IsExported() {
				return v, false
			}
			e, ok := deepCopy(v.Field(i))
			if !ok {
				return v, false
			}
			s.Field(i).Set(e)
		}
		return s, true
	default: // chan, func, unsafe pointer
		return v, false
	}
}

// immutable reports whether a value of type t reaches no memory that can be
// changed through it, so that a plain assignment copies it fully.
// time.Time's *Location is immutable by convention and shared by every copy
// of a Time in Go.
func immutable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		return true
	case reflect.Array:
		return immutable(t.Elem())
	case reflect.Struct:
		if t == timeType {
			return true
		}
		for i := 0; i < t.NumField(); i++ {
			if !immutable(t.Field(i).Type) {
				return false
			}
		}
		return true
	default:
		return false
	}
}

// docCopier copies *T templates. The shape of T is inspected once, so that
// a copy is a plain assignment plus reflection only for the fields that
// hold references (for a struct T).
type docCopier[T any] struct {
	flat    bool  // T is immutable: assignment is a deep copy
	refs    []int // struct T: indices of fields needing deepCopy
	generic bool  // neither: deepCopy the whole value
}

func newDocCopier[T any]() *docCopier[T] {
	t := reflect.TypeFor[T]()
	c := &docCopier[T]{flat: immutable(t)}
	if c.flat {
		return c
	}
	if t.Kind() != reflect.Struct {
		c.generic = true
		return c
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if immutable(f.Type) {
			continue
		}
		if !f.IsExported() {
			c.generic = true // deepCopy refuses it; keep one code path
			return c
		}
		c.refs = append(c.refs, i)
	}
	return c
}

// copy deep-copies a template document for one listener; ok is false when
// it cannot, and the caller decodes instead.
func (c *docCopier[T]) copy(tmpl *T) (*T, bool) {
	if tmpl == nil {
		return nil, true
	}
	if c.generic {
		v, ok := deepCopy(reflect.ValueOf(tmpl))
		if !ok {
			return nil, false
		}
		return v.Interface().(*T), true
	}
	dst := new(T)
	return dst, c.copyInto(dst, tmpl)
}

// copyInto copies tmpl into dst, which the caller allocated (possibly
// together with other things); only for a copier that is not generic.
func (c *docCopier[T]) copyInto(dst, tmpl *T) bool {
	*dst = *tmpl
	if len(c.refs) == 0 {
		return true
	}
	d, s := reflect.ValueOf(dst).Elem(), reflect.ValueOf(tmpl).Elem()
	for _, i := range c.refs {
		v, ok := deepCopy(s.Field(i))
		if !ok {
			return false
		}
		d.Field(i).Set(v)
	}
	return true
}
