package mql

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// FuzzMatch feeds arbitrary BSON as a filter and a document: compiling must
// fail only with *Error, matching must not panic, and the match entry points
// must agree. The same bytes are also tried as a sort and a projection
// specification, which share the path code. The seed corpus is in
// testdata/fuzz/FuzzMatch.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]bson.D{
		{{{Key: "a", Value: int32(1)}}, {{Key: "a", Value: bson.A{int32(1), "x"}}}},
		{{{Key: "a.b", Value: bson.D{{Key: "$gt", Value: 1.5}}}}, {{Key: "a", Value: bson.A{bson.D{{Key: "b", Value: int64(2)}}}}}},
		{{{Key: "$or", Value: bson.A{bson.D{{Key: "x", Value: nil}}, bson.D{{Key: "y", Value: bson.D{{Key: "$exists", Value: true}}}}}}}, {{Key: "y", Value: "s"}}},
		{{{Key: "a", Value: bson.D{{Key: "$elemMatch", Value: bson.D{{Key: "b", Value: bson.D{{Key: "$in", Value: bson.A{int32(1), bson.Regex{Pattern: "^x", Options: "i"}}}}}}}}}}, {{Key: "a", Value: bson.A{bson.D{{Key: "b", Value: "XY"}}}}}},
		{{{Key: "a", Value: bson.D{{Key: "$not", Value: bson.D{{Key: "$size", Value: int32(2)}}}}}, {Key: "b", Value: bson.D{{Key: "$mod", Value: bson.A{int32(3), int32(1)}}}}}, {{Key: "a", Value: bson.A{}}, {Key: "b", Value: int32(4)}}},
		{{{Key: "a", Value: bson.D{{Key: "$all", Value: bson.A{bson.D{{Key: "$elemMatch", Value: bson.D{{Key: "$gt", Value: int32(0)}}}}}}}}}, {{Key: "a", Value: bson.A{bson.A{int32(1)}}}}},
		{{{Key: "a", Value: bson.D{{Key: "$type", Value: bson.A{"number", int32(2)}}}}, {Key: "$comment", Value: "c"}}, {{Key: "a", Value: bson.Decimal128{}}}},
		{{{Key: "a", Value: bson.D{{Key: "$regex", Value: "a b #c"}, {Key: "$options", Value: "x"}}}}, {{Key: "a", Value: bson.Symbol("ab")}}},
	} {
		fb, err := bson.Marshal(s[0])
		if err != nil {
			f.Fatal(err)
		}
		db, err := bson.Marshal(s[1])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(fb, db)
	}
	f.Fuzz(func(t *testing.T, filterBytes, docBytes []byte) {
		var filter, doc bson.D
		if bson.Unmarshal(filterBytes, &filter) != nil || bson.Unmarshal(docBytes, &doc) != nil {
			return
		}
		checkErr := func(what string, err error) {
			t.Helper()
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("%s(%v) returned %T %v, want *Error", what, filter, err, err)
			}
			if me.Code == 0 || me.CodeName == "" || me.Message == "" {
				t.Fatalf("%s(%v) returned an incomplete error %#v", what, filter, me)
			}
		}
		if s, err := NewSort(filter); err != nil {
			checkErr("NewSort", err)
		} else if s.Compare(doc, doc) != 0 || s.CompareKeys(s.Key(doc), s.Key(doc)) != 0 {
			t.Fatalf("sort %v: a document does not tie with itself: %v", filter, doc)
		}
		if p, err := NewProjection(filter); err != nil {
			checkErr("NewProjection", err)
		} else if _, err := p.ApplyPositional(doc, 0, true); err != nil {
			checkErr("Projection.Apply", err)
		}
		m, err := NewMatcher(filter)
		if err != nil {
			checkErr("NewMatcher", err)
			return
		}
		got := m.Match(doc)
		if ok, err := m.MatchErr(doc); err != nil {
			checkErr("MatchErr", err)
		} else if ok != got {
			t.Fatalf("filter %v on %v: Match = %v, MatchErr = %v", filter, doc, got, ok)
		}
		ok, idx, hasIdx := m.MatchArrayIndex(doc)
		if ok != got {
			t.Fatalf("filter %v on %v: Match = %v, MatchArrayIndex = %v", filter, doc, got, ok)
		}
		if hasIdx && (!ok || idx < 0) {
			t.Fatalf("filter %v on %v: MatchArrayIndex = (%v, %d, %v)", filter, doc, ok, idx, hasIdx)
		}
		if Compare(doc, doc) != 0 {
			t.Fatalf("Compare(doc, doc) != 0 for %v", doc)
		}
		if c1, c2 := Compare(filter, doc), Compare(doc, filter); c1 != -c2 {
			t.Fatalf("Compare is not antisymmetric: %d, %d for %v and %v", c1, c2, filter, doc)
		}
	})
}

// FuzzRegex checks that translating PCRE patterns and options for RE2
// never panics and fails only with *Error.
func FuzzRegex(f *testing.F) {
	for _, s := range [][2]string{{"^a.c$", ""}, {"a b # c\n$", "xm"}, {`[]$]\Z`, "i"}, {`(?<n>x)\$`, "s"}, {"[^]a]$", "u"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, options string) {
		re, err := compileRegex(pattern, options)
		if err != nil {
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("compileRegex(%q, %q) = %T %v, want *Error", pattern, options, err, err)
			}
			return
		}
		re.MatchString(pattern)
	})
}
