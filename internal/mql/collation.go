package mql

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"unicode"

	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/text/collate"
	"golang.org/x/text/language"
)

// Collation is a parsed, non-simple MongoDB collation: string comparison by
// the rules of a locale (golang.org/x/text/collate, CLDR tables like ICU's)
// at a strength, with MongoDB's caseLevel, caseFirst, numericOrdering,
// alternate/maxVariable and backwards options. Everything else (numbers,
// field names, regexes) compares as without a collation. A nil *Collation is
// the simple collation (binary string comparison) and costs nothing. It is
// immutable and safe for concurrent use.
type Collation struct {
	spec CollationSpec
	tag  language.Tag
	// collators pools *collator values: an x/text Collator keeps iteration
	// state and serves one comparison at a time.
	collators sync.Pool
}

// CollationSpec is a collation document with every field filled in, as
// listCollections and listIndexes report it.
type CollationSpec struct {
	Locale          string
	CaseLevel       bool
	CaseFirst       string // "upper", "lower" or "off"
	Strength        int    // 1 (primary) .. 5 (identical)
	NumericOrdering bool
	Alternate       string // "non-ignorable" or "shifted"
	MaxVariable     string // "punct" or "space"
	Normalization   bool
	Backwards       bool
}

// icuVersion is the collation "version" MongoDB reports (its bundled ICU).
const icuVersion = "57.1"

type collator struct {
	c   *collate.Collator
	buf collate.Buffer
}

// ParseCollation parses a collation document as the collation option of a
// command, a collection or an index. It returns nil for {locale: "simple"}.
// Mistakes fail with the server's codes: 14 TypeMismatch for a field of the
// wrong type, 40414 for a missing locale, 40415 for an unknown field, 9
// FailedToParse for a bad option value and 2 BadValue for an unknown locale.
func ParseCollation(v any) (*Collation, error) {
	d, ok := asDoc(v)
	if !ok {
		return nil, Errorf(CodeTypeMismatch, "TypeMismatch", "BSON field 'collation' is the wrong type '%s', expected type 'object'", TypeName(v))
	}
	spec := CollationSpec{CaseFirst: "off", Strength: 3, Alternate: "non-ignorable", MaxVariable: "punct"}
	hasLocale := false
	for _, e := range d {
		if err := spec.set(e, &hasLocale); err != nil {
			return nil, err
		}
	}
	if !hasLocale {
		return nil, Errorf(40414, "Location40414", "BSON field 'collation.locale' is missing but a required field")
	}
	if spec.Locale == "simple" {
		if len(d) > 1 {
			return nil, Errorf(CodeFailedToParse, "FailedToParse", "If locale=simple, no other fields should be present in: %s", docString(d))
		}
		return nil, nil
	}
	tag, err := localeTag(spec.Locale)
	if err != nil {
		return nil, Errorf(CodeBadValue, "BadValue", "Field 'locale' is invalid in: %s", docString(d))
	}
	return newCollation(spec, tag), nil
}

// IsSimpleCollation reports whether v is {locale: "simple"}: the explicit
// binary collation, which overrides a collection's default.
func IsSimpleCollation(v any) bool {
	d, ok := asDoc(v)
	if !ok {
		return false
	}
	loc, _ := lookupKey(d, "locale")
	return loc == "simple"
}

func (s *CollationSpec) set(e bson.E, hasLocale *bool) error {
	wrongType := func(want string) error {
		return Errorf(CodeTypeMismatch, "TypeMismatch", "BSON field 'collation.%s' is the wrong type '%s', expected type '%s'", e.Key, TypeName(e.Value), want)
	}
	str := func(allowed ...string) (string, error) {
		x, ok := e.Value.(string)
		if !ok {
			return "", wrongType("string")
		}
		for _, a := range allowed {
			if x == a {
				return x, nil
			}
		}
		return "", Errorf(CodeFailedToParse, "FailedToParse", "Field '%s' must be '%s'. Got: %s", e.Key, strings.Join(allowed, "' or '"), x)
	}
	boolean := func(dst *bool) error {
		b, ok := e.Value.(bool)
		if !ok {
			return wrongType("bool")
		}
		*dst = b
		return nil
	}
	var err error
	switch e.Key {
	case "locale":
		x, ok := e.Value.(string)
		if !ok {
			return wrongType("string")
		}
		s.Locale, *hasLocale = x, true
	case "strength":
		n, ok := intValue(e.Value)
		if !ok {
			if f, isNum := ToFloat(e.Value); isNum && f == float64(int64(f)) {
				n, ok = int64(f), true
			}
		}
		if !ok {
			return wrongType("int")
		}
		if n < 1 || n > 5 {
			return Errorf(CodeFailedToParse, "FailedToParse", "Field 'strength' must be an integer 1 through 5. Got: %d", n)
		}
		s.Strength = int(n)
	case "caseLevel":
		err = boolean(&s.CaseLevel)
	case "numericOrdering":
		err = boolean(&s.NumericOrdering)
	case "normalization":
		err = boolean(&s.Normalization)
	case "backwards":
		err = boolean(&s.Backwards)
	case "caseFirst":
		s.CaseFirst, err = str("upper", "lower", "off")
	case "alternate":
		s.Alternate, err = str("non-ignorable", "shifted")
	case "maxVariable":
		s.MaxVariable, err = str("punct", "space")
	case "version":
		// Reported by the server and accepted back (a listCollections
		// round trip); there is only one version here.
		if _, ok := e.Value.(string); !ok {
			return wrongType("string")
		}
	default:
		return Errorf(40415, "Location40415", "BSON field 'collation.%s' is an unknown field.", e.Key)
	}
	return err
}

// localeTag maps an ICU locale id (en_US, de@collation=phonebook) to a BCP
// 47 tag that x/text's collation tables know.
func localeTag(locale string) (language.Tag, error) {
	id, keyword, _ := strings.Cut(locale, "@")
	id = strings.ReplaceAll(id, "_", "-")
	if id == "root" {
		id = "und"
	}
	if keyword != "" {
		k, val, ok := strings.Cut(keyword, "=")
		if !ok || k != "collation" {
			return language.Und, fmt.Errorf("unknown keyword %q", keyword)
		}
		id += "-u-co-" + icuCollationType(val)
	}
	tag, err := language.Parse(id)
	if err != nil {
		return language.Und, err
	}
	if _, _, conf := language.NewMatcher(collate.Supported()).Match(tag); conf == language.No {
		return language.Und, fmt.Errorf("unsupported locale %q", locale)
	}
	return tag, nil
}

// icuCollationType maps ICU's long collation type names to BCP 47's.
func icuCollationType(v string) string {
	switch v {
	case "phonebook":
		return "phonebk"
	case "traditional":
		return "trad"
	case "dictionary":
		return "dict"
	case "gb2312han":
		return "gb2312"
	}
	return v
}

func newCollation(spec CollationSpec, tag language.Tag) *Collation {
	c := &Collation{spec: spec, tag: tag}
	c.collators.New = func() any { return &collator{c: c.build()} }
	return c
}

// build makes an x/text collator for the spec. caseLevel below tertiary
// strength, caseFirst and maxVariable "space" have no x/text option and are
// emulated in CompareStrings.
func (c *Collation) build() *collate.Collator {
	t := c.tag
	level := [...]string{1: "level1", 2: "level2", 3: "level3", 4: "level4", 5: "identic"}[c.spec.Strength]
	set := func(k, v string) {
		if nt, err := t.SetTypeForKey(k, v); err == nil {
			t = nt
		}
	}
	set("ks", level)
	if c.spec.Backwards {
		set("kb", "true")
	}
	if c.spec.Alternate == "shifted" && c.spec.MaxVariable == "punct" {
		set("ka", "shifted")
	}
	var opts []collate.Option
	if c.spec.NumericOrdering {
		opts = append(opts, collate.Numeric)
	}
	return collate.New(t, opts...)
}

// Spec returns the full collation specification.
func (c *Collation) Spec() CollationSpec { return c.spec }

// Doc renders the collation as listCollections and listIndexes report it:
// every option filled in, plus the ICU version.
func (c *Collation) Doc() bson.D {
	s := c.spec
	return bson.D{
		{Key: "locale", Value: s.Locale},
		{Key: "caseLevel", Value: s.CaseLevel},
		{Key: "caseFirst", Value: s.CaseFirst},
		{Key: "strength", Value: int32(s.Strength)},
		{Key: "numericOrdering", Value: s.NumericOrdering},
		{Key: "alternate", Value: s.Alternate},
		{Key: "maxVariable", Value: s.MaxVariable},
		{Key: "normalization", Value: s.Normalization},
		{Key: "backwards", Value: s.Backwards},
		{Key: "version", Value: icuVersion},
	}
}

// SameCollation reports whether a and b collate identically (nil is simple).
func SameCollation(a, b *Collation) bool {
	switch {
	case a == nil || b == nil:
		return a == b
	}
	return a.spec == b.spec
}

// Compare is mql.Compare with strings (also inside documents and arrays)
// compared under the collation.
func (c *Collation) Compare(a, b any) int { return compareColl(a, b, c) }

// Equal is Compare(a, b) == 0.
func (c *Collation) Equal(a, b any) bool { return compareColl(a, b, c) == 0 }

// CompareStrings orders two strings under the collation.
func (c *Collation) CompareStrings(a, b string) int {
	if c == nil {
		return strings.Compare(a, b)
	}
	x := c.collators.Get().(*collator)
	defer c.collators.Put(x)
	s := &c.spec
	if s.CaseFirst == "upper" && (s.Strength >= 3 || s.CaseLevel) {
		// x/text always sorts lower case first at the tertiary level;
		// swapping case turns that into upper first.
		a, b = swapCase(a), swapCase(b)
	}
	if s.Alternate == "shifted" && s.MaxVariable == "space" {
		// Only spaces are variable: ignoring them at the first three
		// levels is comparing without them.
		if r := x.compare(stripSpaces(a), stripSpaces(b), false); r != 0 || s.Strength < 4 {
			return r
		}
	}
	if r := x.compare(a, b, s.Alternate == "shifted" && s.MaxVariable == "punct"); r != 0 {
		return r
	}
	if s.CaseLevel && s.Strength < 3 {
		return compareCaseLevel(a, b)
	}
	return 0
}

// Key returns a string that is equal for two strings exactly when
// CompareStrings finds them equal: grouping and $addToSet hash by it.
func (c *Collation) Key(s string) string {
	x := c.collators.Get().(*collator)
	defer c.collators.Put(x)
	sp := &c.spec
	var out []byte
	if sp.Alternate == "shifted" && sp.MaxVariable == "space" {
		out = append(out, x.key(stripSpaces(s))...)
		if sp.Strength < 4 {
			return string(out)
		}
		out = append(out, 0xff)
	}
	out = append(out, x.key(s)...)
	if sp.CaseLevel && sp.Strength < 3 {
		out = append(append(out, 0xff), caseBits(s)...)
	}
	if sp.Strength == 5 {
		// x/text keys stop before the identical level; CompareString
		// breaks ties on the bytes.
		out = append(append(out, 0xff), s...)
	}
	return string(out)
}

func (x *collator) key(s string) []byte {
	x.buf.Reset()
	return x.c.KeyFromString(&x.buf, s)
}

// compare orders a and b with the collator; shifted uses sort keys,
// because x/text's direct comparison skips the primary level when variables
// are shifted.
func (x *collator) compare(a, b string, shifted bool) int {
	if !shifted {
		return x.c.CompareString(a, b)
	}
	x.buf.Reset()
	ka := x.c.KeyFromString(&x.buf, a)
	kb := x.c.KeyFromString(&x.buf, b)
	return bytes.Compare(ka, kb)
}

// compareCaseLevel is ICU's case level: between the secondary and tertiary
// levels, lower case (and uncased) letters before upper case ones.
func compareCaseLevel(a, b string) int {
	ca, cb := caseBits(a), caseBits(b)
	return strings.Compare(ca, cb)
}

func caseBits(s string) string {
	var sb strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsUpper(r):
			sb.WriteByte('1')
		case unicode.IsLetter(r):
			sb.WriteByte('0')
		}
	}
	return sb.String()
}

func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsUpper(r):
			return unicode.ToLower(r)
		case unicode.IsLower(r):
			return unicode.ToUpper(r)
		}
		return r
	}, s)
}

func stripSpaces(s string) string {
	if strings.IndexFunc(s, unicode.IsSpace) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

// docString renders a small document for an error message.
func docString(d bson.D) string {
	var sb strings.Builder
	sb.WriteString("{ ")
	for i, e := range d {
		if i > 0 {
			sb.WriteString(", ")
		}
		if s, ok := e.Value.(string); ok {
			fmt.Fprintf(&sb, "%s: %q", e.Key, s)
		} else {
			fmt.Fprintf(&sb, "%s: %v", e.Key, e.Value)
		}
	}
	sb.WriteString(" }")
	return sb.String()
}
