package mql

import (
	"math"
	"regexp"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// $jsonSchema: MongoDB's subset of JSON Schema draft 4 (bsonType, type,
// required, properties, patternProperties, additionalProperties, items,
// additionalItems, min/maxItems, uniqueItems, min/maxLength, pattern,
// minimum/maximum with exclusive*, multipleOf, enum, min/maxProperties,
// dependencies, allOf/anyOf/oneOf/not; title and description are
// annotations). As on MongoDB, a keyword constrains only values of the
// type it is about (minLength says nothing about a number), and mistakes
// fail with 9 FailedToParse or 14 TypeMismatch.

type jsonSchema struct {
	// types are accepted BSON type numbers (nil: any); number accepts the
	// four numeric types.
	types  []int
	number bool

	required      []string
	properties    []schemaProp
	patternProps  []schemaPattern
	additional    *jsonSchema // additionalProperties as a schema
	noAdditional  bool        // additionalProperties: false
	minProps      int64
	maxProps      int64
	dependencies  []schemaDep
	items         *jsonSchema   // items as one schema for every element
	tupleItems    []*jsonSchema // items as an array
	addItems      *jsonSchema
	noAddItems    bool
	minItems      int64
	maxItems      int64
	uniqueItems   bool
	minLength     int64
	maxLength     int64
	pattern       *regexp.Regexp
	minimum       any
	maximum       any
	exclMin       bool
	exclMax       bool
	multipleOf    any
	enum          []any
	allOf, anyOf  []*jsonSchema
	oneOf         []*jsonSchema
	not           *jsonSchema
	spec          bson.D
	hasMaxProps   bool
	hasMaxItems   bool
	hasMaxLength  bool
	hasProperties bool
}

type schemaProp struct {
	name string
	s    *jsonSchema
}

type schemaPattern struct {
	re *regexp.Regexp
	s  *jsonSchema
}

type schemaDep struct {
	name   string
	fields []string    // property dependency
	s      *jsonSchema // schema dependency
}

func schemaParseErr(format string, args ...any) *Error {
	return Errorf(CodeFailedToParse, "FailedToParse", format, args...)
}

func schemaTypeErr(kw, want string) *Error {
	return Errorf(CodeTypeMismatch, "TypeMismatch", "$jsonSchema keyword '%s' must be %s", kw, want)
}

// compileJSONSchema compiles the argument of $jsonSchema.
func compileJSONSchema(v any, depth int) (*jsonSchema, error) {
	if depth > maxDepth {
		return nil, badValue("exceeded depth limit of %d when parsing $jsonSchema", maxDepth)
	}
	d, ok := asDoc(v)
	if !ok {
		return nil, Errorf(CodeTypeMismatch, "TypeMismatch", "$jsonSchema must be an object")
	}
	s := &jsonSchema{spec: d}
	seen := map[string]bool{}
	for _, e := range d {
		if seen[e.Key] {
			return nil, schemaParseErr("Duplicate $jsonSchema keyword: %s", e.Key)
		}
		seen[e.Key] = true
		if err := s.keyword(e, depth); err != nil {
			return nil, err
		}
	}
	if s.exclMin && s.minimum == nil {
		return nil, schemaParseErr("$jsonSchema keyword 'minimum' must be a present if exclusiveMinimum is present")
	}
	if s.exclMax && s.maximum == nil {
		return nil, schemaParseErr("$jsonSchema keyword 'maximum' must be a present if exclusiveMaximum is present")
	}
	if seen["type"] && seen["bsonType"] {
		return nil, schemaParseErr("Cannot specify both $jsonSchema keywords 'type' and 'bsonType'")
	}
	return s, nil
}

func (s *jsonSchema) keyword(e bson.E, depth int) error {
	kw, v := e.Key, e.Value
	sub := func(x any) (*jsonSchema, error) {
		if _, ok := asDoc(x); !ok {
			return nil, schemaTypeErr(kw, "an object")
		}
		return compileJSONSchema(x, depth+1)
	}
	subs := func() ([]*jsonSchema, error) {
		arr, ok := asArray(v)
		if !ok || len(arr) == 0 {
			return nil, schemaParseErr("$jsonSchema keyword '%s' must be a nonempty array", kw)
		}
		out := make([]*jsonSchema, len(arr))
		for i, x := range arr {
			var err error
			if out[i], err = sub(x); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	count := func() (int64, error) {
		n, ok := ToInt64(v)
		if !ok || !IsIntegral(v) || n < 0 {
			return 0, schemaParseErr("$jsonSchema keyword '%s' must be a non-negative integer", kw)
		}
		return n, nil
	}
	boolean := func() (bool, error) {
		b, ok := v.(bool)
		if !ok {
			return false, schemaTypeErr(kw, "a boolean")
		}
		return b, nil
	}
	var err error
	switch kw {
	case "title", "description":
		if _, ok := v.(string); !ok {
			return schemaTypeErr(kw, "of type string")
		}
	case "bsonType", "type":
		err = s.parseTypes(kw, v)
	case "required":
		arr, ok := asArray(v)
		if !ok || len(arr) == 0 {
			return schemaParseErr("$jsonSchema keyword 'required' must be a nonempty array")
		}
		for _, x := range arr {
			name, ok := x.(string)
			if !ok {
				return schemaTypeErr(kw, "an array of strings")
			}
			s.required = append(s.required, name)
		}
	case "properties":
		d, ok := asDoc(v)
		if !ok {
			return schemaTypeErr(kw, "an object")
		}
		s.hasProperties = true
		for _, p := range d {
			ps, err := sub(p.Value)
			if err != nil {
				return err
			}
			s.properties = append(s.properties, schemaProp{name: p.Key, s: ps})
		}
	case "patternProperties":
		d, ok := asDoc(v)
		if !ok {
			return schemaTypeErr(kw, "an object")
		}
		for _, p := range d {
			re, err := compileRegex(p.Key, "")
			if err != nil {
				return err
			}
			ps, err := sub(p.Value)
			if err != nil {
				return err
			}
			s.patternProps = append(s.patternProps, schemaPattern{re: re, s: ps})
		}
	case "additionalProperties":
		if b, ok := v.(bool); ok {
			s.noAdditional = !b
		} else {
			s.additional, err = sub(v)
		}
	case "minProperties":
		s.minProps, err = count()
	case "maxProperties":
		s.maxProps, err = count()
		s.hasMaxProps = true
	case "dependencies":
		err = s.parseDependencies(v, sub)
	case "items":
		if arr, ok := asArray(v); ok {
			for _, x := range arr {
				is, err := sub(x)
				if err != nil {
					return err
				}
				s.tupleItems = append(s.tupleItems, is)
			}
		} else {
			s.items, err = sub(v)
		}
	case "additionalItems":
		if b, ok := v.(bool); ok {
			s.noAddItems = !b
		} else {
			s.addItems, err = sub(v)
		}
	case "minItems":
		s.minItems, err = count()
	case "maxItems":
		s.maxItems, err = count()
		s.hasMaxItems = true
	case "uniqueItems":
		s.uniqueItems, err = boolean()
	case "minLength":
		s.minLength, err = count()
	case "maxLength":
		s.maxLength, err = count()
		s.hasMaxLength = true
	case "pattern":
		p, ok := v.(string)
		if !ok {
			return schemaTypeErr(kw, "a string")
		}
		s.pattern, err = compileRegex(p, "")
	case "minimum", "maximum", "multipleOf":
		if !IsNumber(v) {
			return schemaTypeErr(kw, "a number")
		}
		switch kw {
		case "minimum":
			s.minimum = v
		case "maximum":
			s.maximum = v
		default:
			if f, _ := ToFloat(v); f <= 0 {
				return schemaParseErr("$jsonSchema keyword 'multipleOf' must have a positive value")
			}
			s.multipleOf = v
		}
	case "exclusiveMinimum":
		s.exclMin, err = boolean()
	case "exclusiveMaximum":
		s.exclMax, err = boolean()
	case "enum":
		arr, ok := asArray(v)
		if !ok || len(arr) == 0 {
			return schemaParseErr("$jsonSchema keyword 'enum' must be a nonempty array")
		}
		s.enum = arr
	case "allOf":
		s.allOf, err = subs()
	case "anyOf":
		s.anyOf, err = subs()
	case "oneOf":
		s.oneOf, err = subs()
	case "not":
		s.not, err = sub(v)
	case "$ref", "$schema", "default", "definitions", "format", "id", "encrypt", "encryptMetadata":
		return schemaParseErr("$jsonSchema keyword '%s' is not currently supported", kw)
	default:
		return schemaParseErr("Unknown $jsonSchema keyword: %s", kw)
	}
	return err
}

func (s *jsonSchema) parseTypes(kw string, v any) error {
	var names []string
	switch x := v.(type) {
	case string:
		names = []string{x}
	default:
		arr, ok := asArray(v)
		if !ok || len(arr) == 0 {
			return schemaTypeErr(kw, "a string or an array of strings")
		}
		for _, n := range arr {
			name, ok := n.(string)
			if !ok {
				return schemaTypeErr(kw, "a string or an array of strings")
			}
			names = append(names, name)
		}
	}
	for _, n := range names {
		if kw == "type" {
			// JSON Schema's own type names.
			switch n {
			case "object", "array", "string", "null":
			case "boolean":
				n = "bool"
			case "number":
			case "integer":
				return schemaParseErr("$jsonSchema type 'integer' is not currently supported.")
			default:
				return schemaParseErr("Unknown type name alias: %s", n)
			}
		}
		if n == "number" {
			s.number = true
			continue
		}
		code, ok := typeNames[n]
		if !ok {
			return schemaParseErr("Unknown type name alias: %s", n)
		}
		s.types = append(s.types, code)
	}
	return nil
}

func (s *jsonSchema) parseDependencies(v any, sub func(any) (*jsonSchema, error)) error {
	d, ok := asDoc(v)
	if !ok {
		return schemaTypeErr("dependencies", "an object")
	}
	for _, e := range d {
		dep := schemaDep{name: e.Key}
		if arr, ok := asArray(e.Value); ok {
			if len(arr) == 0 {
				return schemaParseErr("property '%s' in $jsonSchema keyword 'dependencies' must be a nonempty array", e.Key)
			}
			for _, x := range arr {
				f, ok := x.(string)
				if !ok {
					return schemaTypeErr("dependencies", "an object of arrays of strings or schemas")
				}
				dep.fields = append(dep.fields, f)
			}
		} else {
			var err error
			if dep.s, err = sub(e.Value); err != nil {
				return err
			}
		}
		s.dependencies = append(s.dependencies, dep)
	}
	return nil
}

// valid reports whether v satisfies the schema.
func (s *jsonSchema) valid(v any) bool { return len(s.failures(v, true)) == 0 }

// failures returns the keywords v does not satisfy, as MongoDB's
// schemaRulesNotSatisfied details describe them; first stops at one.
func (s *jsonSchema) failures(v any, first bool) []bson.D {
	var out []bson.D
	fail := func(kw string, extra ...bson.E) bool {
		d := bson.D{{Key: "operatorName", Value: kw}, {Key: "specifiedAs", Value: bson.D{{Key: kw, Value: lookupSpec(s.spec, kw)}}}}
		out = append(out, append(d, extra...))
		return first
	}
	if (s.types != nil || s.number) && !s.typeOK(v) {
		kw := "bsonType"
		if _, ok := lookupKey(s.spec, "type"); ok {
			kw = "type"
		}
		if fail(kw, bson.E{Key: "reason", Value: "type did not match"}, bson.E{Key: "consideredValue", Value: v},
			bson.E{Key: "consideredType", Value: TypeName(v)}) {
			return out
		}
	}
	if s.enum != nil && !containsValue(s.enum, v) {
		if fail("enum", bson.E{Key: "reason", Value: "value was not found in enum"}, bson.E{Key: "consideredValue", Value: v}) {
			return out
		}
	}
	switch {
	case TypeNumber(v) == TypeObject:
		d, _ := asDoc(v)
		if s.objectFailures(d, first, fail) {
			return out
		}
	case TypeNumber(v) == TypeArray:
		a, _ := asArray(v)
		if s.arrayFailures(a, fail) {
			return out
		}
	case TypeNumber(v) == TypeString:
		str := v.(string)
		n := int64(utf8.RuneCountInString(str))
		if n < s.minLength && fail("minLength", bson.E{Key: "reason", Value: "specified string length was not satisfied"}) {
			return out
		}
		if s.hasMaxLength && n > s.maxLength && fail("maxLength", bson.E{Key: "reason", Value: "specified string length was not satisfied"}) {
			return out
		}
		if s.pattern != nil && !s.pattern.MatchString(str) && fail("pattern", bson.E{Key: "reason", Value: "regular expression did not match"}) {
			return out
		}
	case IsNumber(v):
		if s.numberFailures(v, fail) {
			return out
		}
	}
	for _, a := range s.allOf {
		if !a.valid(v) && fail("allOf", bson.E{Key: "reason", Value: "at least one clause did not match"}) {
			return out
		}
	}
	if s.anyOf != nil && !anyValid(s.anyOf, v) && fail("anyOf", bson.E{Key: "reason", Value: "no clause matched"}) {
		return out
	}
	if s.oneOf != nil && countValid(s.oneOf, v) != 1 && fail("oneOf", bson.E{Key: "reason", Value: "not exactly one clause matched"}) {
		return out
	}
	if s.not != nil && s.not.valid(v) && fail("not", bson.E{Key: "reason", Value: "child expression matched"}) {
		return out
	}
	return out
}

func (s *jsonSchema) typeOK(v any) bool {
	t := TypeNumber(v)
	if s.number && IsNumber(v) {
		return true
	}
	for _, x := range s.types {
		if x == t {
			return true
		}
	}
	return false
}

func (s *jsonSchema) objectFailures(d bson.D, first bool, fail func(string, ...bson.E) bool) bool {
	var missing bson.A
	for _, r := range s.required {
		if _, ok := lookupKey(d, r); !ok {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 && fail("required", bson.E{Key: "missingProperties", Value: missing}) {
		return true
	}
	n := int64(len(d))
	if n < s.minProps && fail("minProperties", bson.E{Key: "reason", Value: "specified number of properties was not satisfied"}) {
		return true
	}
	if s.hasMaxProps && n > s.maxProps && fail("maxProperties", bson.E{Key: "reason", Value: "specified number of properties was not satisfied"}) {
		return true
	}
	var bad bson.A
	for _, p := range s.properties {
		if v, ok := lookupKey(d, p.name); ok {
			if f := p.s.failures(v, first); len(f) > 0 {
				bad = append(bad, bson.D{{Key: "propertyName", Value: p.name}, {Key: "details", Value: toBSONArray(f)}})
				if first {
					break
				}
			}
		}
	}
	if len(bad) > 0 && fail("properties", bson.E{Key: "propertiesNotSatisfied", Value: bad}) {
		return true
	}
	for _, e := range d {
		if !s.additionalOK(e) && fail("additionalProperties", bson.E{Key: "reason", Value: "at least one additional property did not match the subschema"},
			bson.E{Key: "additionalProperties", Value: bson.A{e.Key}}) {
			return true
		}
	}
	for _, dep := range s.dependencies {
		if _, ok := lookupKey(d, dep.name); !ok {
			continue
		}
		okDep := true
		for _, f := range dep.fields {
			if _, has := lookupKey(d, f); !has {
				okDep = false
			}
		}
		if dep.s != nil && !dep.s.valid(d) {
			okDep = false
		}
		if !okDep && fail("dependencies", bson.E{Key: "reason", Value: "dependency of '" + dep.name + "' was not satisfied"}) {
			return true
		}
	}
	return false
}

// additionalOK applies patternProperties and additionalProperties to one
// field.
func (s *jsonSchema) additionalOK(e bson.E) bool {
	matched := false
	for _, p := range s.properties {
		if p.name == e.Key {
			matched = true
		}
	}
	for _, p := range s.patternProps {
		if p.re.MatchString(e.Key) {
			matched = true
			if !p.s.valid(e.Value) {
				return false
			}
		}
	}
	if matched {
		return true
	}
	if s.noAdditional {
		return false
	}
	return s.additional == nil || s.additional.valid(e.Value)
}

func (s *jsonSchema) arrayFailures(a bson.A, fail func(string, ...bson.E) bool) bool {
	n := int64(len(a))
	if n < s.minItems && fail("minItems", bson.E{Key: "reason", Value: "array did not match specified length"}) {
		return true
	}
	if s.hasMaxItems && n > s.maxItems && fail("maxItems", bson.E{Key: "reason", Value: "array did not match specified length"}) {
		return true
	}
	if s.uniqueItems {
		for i := range a {
			for j := i + 1; j < len(a); j++ {
				if Equal(a[i], a[j]) && fail("uniqueItems", bson.E{Key: "reason", Value: "found a duplicate item"}) {
					return true
				}
			}
		}
	}
	for i, x := range a {
		var is *jsonSchema
		switch {
		case s.items != nil:
			is = s.items
		case i < len(s.tupleItems):
			is = s.tupleItems[i]
		case s.tupleItems != nil && s.noAddItems:
			if fail("additionalItems", bson.E{Key: "reason", Value: "found additional items"}) {
				return true
			}
			continue
		case s.tupleItems != nil:
			is = s.addItems
		}
		if is != nil && !is.valid(x) && fail("items", bson.E{Key: "reason", Value: "At least one item did not match the sub-schema"}, bson.E{Key: "itemIndex", Value: int32(i)}) {
			return true
		}
	}
	return false
}

func (s *jsonSchema) numberFailures(v any, fail func(string, ...bson.E) bool) bool {
	if s.minimum != nil {
		c := Compare(v, s.minimum)
		if (c < 0 || (s.exclMin && c == 0)) && fail("minimum", bson.E{Key: "reason", Value: "comparison failed"}, bson.E{Key: "consideredValue", Value: v}) {
			return true
		}
	}
	if s.maximum != nil {
		c := Compare(v, s.maximum)
		if (c > 0 || (s.exclMax && c == 0)) && fail("maximum", bson.E{Key: "reason", Value: "comparison failed"}, bson.E{Key: "consideredValue", Value: v}) {
			return true
		}
	}
	if s.multipleOf != nil {
		f, _ := ToFloat(v)
		m, _ := ToFloat(s.multipleOf)
		if r := math.Mod(f, m); (r != 0 || math.IsNaN(r)) && fail("multipleOf", bson.E{Key: "reason", Value: "considered value is not a multiple of the specified value"}, bson.E{Key: "consideredValue", Value: v}) {
			return true
		}
	}
	return false
}

func containsValue(list []any, v any) bool {
	for _, x := range list {
		if Equal(x, v) {
			return true
		}
	}
	return false
}

func anyValid(list []*jsonSchema, v any) bool {
	for _, s := range list {
		if s.valid(v) {
			return true
		}
	}
	return false
}

func countValid(list []*jsonSchema, v any) int {
	n := 0
	for _, s := range list {
		if s.valid(v) {
			n++
		}
	}
	return n
}

func lookupSpec(spec bson.D, kw string) any {
	v, _ := lookupKey(spec, kw)
	return v
}

func toBSONArray(ds []bson.D) bson.A {
	out := make(bson.A, len(ds))
	for i, d := range ds {
		out[i] = d
	}
	return out
}

// schemaNode is a compiled {$jsonSchema: ...} clause.
type schemaNode struct{ s *jsonSchema }

func (n schemaNode) match(doc bson.D, _ *position) bool { return n.s.valid(doc) }

// ValidationDetails explains why doc fails validator, in the shape of
// MongoDB's errInfo.details for code 121 DocumentValidationFailure:
// {operatorName: "$jsonSchema", schemaRulesNotSatisfied: [...]} for a
// schema, {operatorName: "$and", clausesNotSatisfied: [...]} otherwise.
func ValidationDetails(validator, doc bson.D) bson.D {
	var clauses bson.A
	for i, e := range validator {
		m, err := NewMatcher(bson.D{e})
		if err != nil || m.Match(doc) {
			continue
		}
		if e.Key == "$jsonSchema" {
			s, err := compileJSONSchema(e.Value, 0)
			if err != nil {
				continue
			}
			d := bson.D{{Key: "operatorName", Value: "$jsonSchema"}, {Key: "schemaRulesNotSatisfied", Value: toBSONArray(s.failures(doc, false))}}
			if len(validator) == 1 {
				return d
			}
			clauses = append(clauses, bson.D{{Key: "index", Value: int32(i)}, {Key: "details", Value: d}})
			continue
		}
		op := e.Key
		if !strings.HasPrefix(op, "$") {
			op = "$eq"
			if ops, isOps := isOperatorDoc(e.Value); isOps {
				op = ops[0].Key
			}
		}
		clauses = append(clauses, bson.D{{Key: "index", Value: int32(i)}, {Key: "details", Value: bson.D{
			{Key: "operatorName", Value: op},
			{Key: "specifiedAs", Value: bson.D{e}},
			{Key: "reason", Value: "expression did not match"},
		}}})
	}
	return bson.D{{Key: "operatorName", Value: "$and"}, {Key: "clausesNotSatisfied", Value: clauses}}
}
