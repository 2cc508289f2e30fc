package mql

// Parsing and validation of update documents, with the server's error codes
// and messages.

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func newOperatorUpdate(doc bson.D, opts UpdateOptions) (*Update, error) {
	u := &Update{kind: uKindOperators}
	for _, e := range doc {
		if !strings.HasPrefix(e.Key, "$") {
			return nil, uFailedToParse("Unknown modifier: %s. Expected a valid update modifier or pipeline-style update specified as an array", e.Key)
		}
		if !uKnownOperator(e.Key) {
			return nil, uFailedToParse("Unknown modifier: %s. Expected a valid update modifier or pipeline-style update specified as an array", e.Key)
		}
		spec, ok := asDoc(e.Value)
		if !ok {
			return nil, uFailedToParse("Modifiers operate on fields but we found type %s instead. For example: {$mod: {<field>: ...}} not {%s: %s}",
				uTypeName(e.Value), e.Key, uShort(e.Value))
		}
		for _, f := range spec {
			m, err := parseMod(e.Key, f.Key, f.Value)
			if err != nil {
				return nil, err
			}
			u.mods = append(u.mods, m)
		}
	}
	if err := u.checkConflicts(); err != nil {
		return nil, err
	}
	if err := u.parseArrayFilters(opts.ArrayFilters); err != nil {
		return nil, err
	}
	sort.SliceStable(u.mods, func(i, j int) bool { return uCmpSegs(u.mods[i].segs, u.mods[j].segs) < 0 })
	return u, nil
}

// uCmpSegs orders paths as the server applies them: segment by segment,
// numeric segments numerically, others bytewise.
func uCmpSegs(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] == b[i] {
			continue
		}
		ai, aerr := strconv.Atoi(a[i])
		bi, berr := strconv.Atoi(b[i])
		if aerr == nil && berr == nil && ai != bi {
			if ai < bi {
				return -1
			}
			return 1
		}
		return strings.Compare(a[i], b[i])
	}
	return len(a) - len(b)
}

func uShort(v any) string {
	s := fmt.Sprint(v)
	if str, ok := v.(string); ok {
		s = strconv.Quote(str)
	}
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}

// uSplitPath validates an update path and splits it into segments.
func uSplitPath(path string) ([]string, error) {
	if path == "" {
		return nil, Errorf(56, "EmptyFieldName", "An empty update path is not valid.")
	}
	segs := strings.Split(path, ".")
	positional := 0
	for i, s := range segs {
		if s == "" {
			return nil, Errorf(56, "EmptyFieldName", "The update path '%s' contains an empty field name, which is not allowed.", path)
		}
		if s == "$" {
			positional++
			if i == 0 {
				return nil, uBadValue("Cannot have positional (i.e. '$') element in the first position in path '%s'", path)
			}
			continue
		}
		if strings.HasPrefix(s, "$[") && strings.HasSuffix(s, "]") {
			if i == 0 {
				return nil, uBadValue("Cannot have array filter identifier (i.e. '$[<id>]') element in the first position in path '%s'", path)
			}
			continue
		}
		if strings.HasPrefix(s, "$") {
			return nil, Errorf(CodeDollarPrefixedField, "DollarPrefixedFieldName",
				"The dollar ($) prefixed field '%s' in '%s' is not valid for storage.", s, path)
		}
	}
	if positional > 1 {
		return nil, uBadValue("Too many positional (i.e. '$') elements found in path '%s'", path)
	}
	return segs, nil
}

func parseMod(op, path string, arg any) (*uMod, error) {
	segs, err := uSplitPath(path)
	if err != nil {
		return nil, err
	}
	m := &uMod{op: op, path: path, segs: segs, arg: xNormalizeNumber(arg)}
	switch op {
	case "$inc", "$mul":
		if !IsNumber(arg) {
			verb := "increment"
			if op == "$mul" {
				verb = "multiply"
			}
			return nil, Errorf(CodeTypeMismatch, "TypeMismatch", "Cannot %s with non-numeric argument: {%s: %s}", verb, path, uShort(arg))
		}
	case "$currentDate":
		switch x := arg.(type) {
		case bool:
		default:
			d, ok := asDoc(x)
			if !ok {
				return nil, uBadValue("%s is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({$type: 'timestamp/date'}).", uTypeName(arg))
			}
			if len(d) != 1 || d[0].Key != "$type" {
				return nil, uBadValue("The only valid field of the option is '$type': {$currentDate: {field : {$type: 'date/timestamp'}}}")
			}
			switch d[0].Value {
			case "date":
			case "timestamp":
				m.timestamp = true
			default:
				return nil, uBadValue("The '$type' string field is required to be 'date' or 'timestamp': {$currentDate: {field : {$type: 'date'}}}")
			}
		}
	case "$rename":
		to, ok := arg.(string)
		if !ok {
			return nil, uBadValue("The 'to' field for $rename must be a string: %s: %s", path, uShort(arg))
		}
		toSegs, err := uSplitPath(to)
		if err != nil {
			return nil, err
		}
		for _, s := range append(append([]string(nil), segs...), toSegs...) {
			if strings.HasPrefix(s, "$") {
				return nil, uBadValue("The source and target field for $rename must not contain positional or array filter operators: %s", path)
			}
		}
		if to == path {
			return nil, uBadValue("The source and target field for $rename must differ: %s: %q", path, to)
		}
		if strings.HasPrefix(to, path+".") || strings.HasPrefix(path, to+".") {
			return nil, uBadValue("The source and target field for $rename must not be on the same path: %s: %q", path, to)
		}
		m.toSegs, m.toPath = toSegs, to
	case "$push", "$addToSet":
		if err := m.parseEach(); err != nil {
			return nil, err
		}
	case "$pull":
		if err := m.parsePull(); err != nil {
			return nil, err
		}
	case "$pullAll":
		if _, ok := asArray(arg); !ok {
			return nil, uBadValue("$pullAll requires an array argument but was given a %s", uTypeName(arg))
		}
	case "$bit":
		bits, err := parseBit(arg)
		if err != nil {
			return nil, err
		}
		m.bits = bits
	case "$pop":
		f, ok := ToFloat(arg)
		if !ok || (f != 1 && f != -1) {
			return nil, uFailedToParse("$pop expects 1 or -1, found: %s", uShort(arg))
		}
	}
	return m, nil
}

func (m *uMod) parseEach() error {
	d, ok := asDoc(m.arg)
	if !ok {
		m.each = bson.A{uClone(m.arg)}
		return nil
	}
	if _, has := uGetField(d, "$each"); !has {
		m.each = bson.A{uClone(m.arg)}
		return nil
	}
	m.hasEach = true
	for _, e := range d {
		switch {
		case e.Key == "$each":
			arr, ok := asArray(e.Value)
			if !ok {
				return uBadValue("The argument to $each in %s must be an array but it was of type: %s", m.op, uTypeName(e.Value))
			}
			m.each = uClone(arr).(bson.A)
		case m.op == "$addToSet":
			return uBadValue("Found unexpected fields after $each in $addToSet: %s", uShort(m.arg))
		case e.Key == "$slice":
			if !IsIntegral(e.Value) {
				return uBadValue("The value for $slice must be an integer value but was given type: %s", uTypeName(e.Value))
			}
			n, _ := ToInt64(e.Value)
			m.slice = &n
		case e.Key == "$position":
			if !IsIntegral(e.Value) {
				return uBadValue("The value for $position must be an integer value, not of type: %s", uTypeName(e.Value))
			}
			n, _ := ToInt64(e.Value)
			m.position = &n
		case e.Key == "$sort":
			if err := m.parsePushSort(e.Value); err != nil {
				return err
			}
		default:
			return uBadValue("Unrecognized clause in $push: %s", e.Key)
		}
	}
	return nil
}

func (m *uMod) parsePushSort(v any) error {
	const bad = "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields"
	if d, ok := asDoc(v); ok {
		if len(d) == 0 {
			return uBadValue("The $sort pattern is empty when it should be a set of fields.")
		}
		for _, e := range d {
			f, ok := ToFloat(e.Value)
			if !ok || (f != 1 && f != -1) {
				return uBadValue("The $sort element value must be either 1 or -1")
			}
			if strings.HasPrefix(e.Key, "$") || e.Key == "" {
				return uBadValue("The $sort field is a dotted field but has an empty part: %s", e.Key)
			}
		}
		s, err := NewSort(d)
		if err != nil {
			return err
		}
		m.sortSpec = s
		return nil
	}
	f, ok := ToFloat(v)
	if !ok || (f != 1 && f != -1) {
		return uBadValue(bad)
	}
	m.sortDir = int(f)
	return nil
}

func (m *uMod) parsePull() error {
	if re, isRegex := m.arg.(bson.Regex); isRegex {
		mt, err := NewMatcher(bson.D{{Key: "x", Value: re}})
		if err != nil {
			return err
		}
		m.pullMatcher, m.pullWrapped = mt, true
		return nil
	}
	d, ok := asDoc(m.arg)
	if !ok {
		return nil // equality with the value
	}
	if len(d) > 0 && strings.HasPrefix(d[0].Key, "$") && !uIsQueryLogical(d[0].Key) {
		// An operator expression such as {$gte: 6} applies to the element
		// value itself.
		mt, err := NewMatcher(bson.D{{Key: "x", Value: d}})
		if err != nil {
			return err
		}
		m.pullMatcher, m.pullWrapped = mt, true
		return nil
	}
	mt, err := NewMatcher(d)
	if err != nil {
		return err
	}
	m.pullMatcher, m.pullDocOnly = mt, true
	return nil
}

func uIsQueryLogical(k string) bool {
	switch k {
	case "$and", "$or", "$nor", "$expr", "$where", "$text", "$comment":
		return true
	}
	return false
}

// checkConflicts rejects two modifications of the same path or of a path and
// one of its prefixes, as the server does when it builds its update tree.
func (u *Update) checkConflicts() error {
	type entry struct {
		segs []string
		path string
	}
	var seen []entry
	add := func(segs []string, path string) error {
		for _, s := range seen {
			n := min(len(s.segs), len(segs))
			same := true
			for i := 0; i < n; i++ {
				if s.segs[i] != segs[i] {
					same = false
					break
				}
			}
			if same {
				at := s.path
				if len(segs) < len(s.segs) {
					at = path
				}
				return Errorf(CodeConflictingUpdateOps, "ConflictingUpdateOperators",
					"Updating the path '%s' would create a conflict at '%s'", path, at)
			}
		}
		seen = append(seen, entry{segs, path})
		return nil
	}
	for _, m := range u.mods {
		if err := add(m.segs, m.path); err != nil {
			return err
		}
		if m.op == "$rename" {
			if err := add(m.toSegs, m.toPath); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseArrayFilters compiles the arrayFilters and checks that the set of
// identifiers declared equals the set used in paths.
func (u *Update) parseArrayFilters(filters []bson.D) error {
	u.filters = map[string]*Matcher{}
	for _, f := range filters {
		if len(f) == 0 {
			return uFailedToParse("Cannot use an expression without a top-level field name in arrayFilters")
		}
		id := ""
		for _, e := range f {
			name, err := uFilterIdentifier(e)
			if err != nil {
				return err
			}
			if id != "" && name != id {
				return uFailedToParse("Error parsing array filter :: caused by :: Expected a single top-level field name, found '%s' and '%s'", id, name)
			}
			id = name
		}
		if id == "" {
			return uFailedToParse("Cannot use an expression without a top-level field name in arrayFilters")
		}
		if _, dup := u.filters[id]; dup {
			return uFailedToParse("Found multiple array filters with the same top-level field name %s", id)
		}
		m, err := NewMatcher(f)
		if err != nil {
			return err
		}
		u.filters[id] = m
	}
	used := map[string]bool{}
	for _, m := range u.mods {
		for _, s := range m.segs {
			if s == "$" || strings.HasPrefix(s, "$[") {
				u.hasArrayOps = true
			}
			if strings.HasPrefix(s, "$[") && s != "$[]" {
				id := s[2 : len(s)-1]
				if _, ok := u.filters[id]; !ok {
					return uBadValue("No array filter found for identifier '%s' in path '%s'", id, m.path)
				}
				used[id] = true
			}
		}
	}
	for _, f := range filters {
		id, _ := uFilterIdentifier(f[0])
		if !used[id] {
			return uFailedToParse("The array filter for identifier '%s' was not used in the update %s", id, uShort(u.describe()))
		}
	}
	return nil
}

func (u *Update) describe() bson.D {
	var d bson.D
	for _, m := range u.mods {
		d = append(d, bson.E{Key: m.op, Value: bson.D{{Key: m.path, Value: m.arg}}})
	}
	return d
}

// uFilterIdentifier returns the identifier a top-level array-filter entry
// refers to: the first path segment, or for $and/$or/$nor the identifier of
// their clauses.
func uFilterIdentifier(e bson.E) (string, error) {
	if uIsQueryLogical(e.Key) {
		arr, ok := asArray(e.Value)
		if !ok || len(arr) == 0 {
			return "", uBadValue("%s argument must be a non-empty array", e.Key)
		}
		id := ""
		for _, c := range arr {
			d, ok := asDoc(c)
			if !ok {
				return "", uBadValue("%s argument's entries must be objects", e.Key)
			}
			for _, ce := range d {
				n, err := uFilterIdentifier(ce)
				if err != nil {
					return "", err
				}
				if id != "" && n != id {
					return "", uFailedToParse("Error parsing array filter :: caused by :: Expected a single top-level field name, found '%s' and '%s'", id, n)
				}
				id = n
			}
		}
		return id, nil
	}
	name, _, _ := strings.Cut(e.Key, ".")
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		return "", uBadValue("Error parsing array filter :: caused by :: The top-level field name must be an alphanumeric string beginning with a lowercase letter, found '%s'", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return "", uBadValue("Error parsing array filter :: caused by :: The top-level field name must be an alphanumeric string beginning with a lowercase letter, found '%s'", name)
		}
	}
	return name, nil
}

func newReplacementUpdate(doc bson.D, opts UpdateOptions) (*Update, error) {
	if len(opts.ArrayFilters) > 0 {
		return nil, uFailedToParse("arrayFilters may not be specified for a replacement-style update")
	}
	for _, e := range doc {
		if strings.HasPrefix(e.Key, "$") {
			return nil, Errorf(CodeDollarPrefixedField, "DollarPrefixedFieldName",
				"The dollar ($) prefixed field '%s' in '%s' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith.", e.Key, e.Key)
		}
	}
	if id, ok := uGetField(doc, "_id"); ok {
		if _, isArr := id.(bson.A); isArr {
			return nil, Errorf(53, "InvalidIdField", "The '_id' value cannot be of type array")
		}
	}
	return &Update{kind: uKindReplacement, replacement: uCloneD(doc), keepEmptyTs: opts.KeepEmptyTimestamps}, nil
}

func newPipelineUpdate(stages []bson.D, opts UpdateOptions) (*Update, error) {
	if len(opts.ArrayFilters) > 0 {
		return nil, Errorf(CodeFailedToParse, "FailedToParse", "arrayFilters may not be specified for pipeline-style updates")
	}
	for _, st := range stages {
		if len(st) != 1 {
			return nil, Errorf(40323, "Location40323", "A pipeline stage specification object must contain exactly one field.")
		}
		switch st[0].Key {
		case "$addFields", "$set", "$project", "$unset", "$replaceRoot", "$replaceWith":
		default:
			if !agKnownStage(st[0].Key) {
				return nil, agUnknownStage(st[0].Key)
			}
			return nil, Errorf(CodeInvalidOptions, "InvalidOptions", "%s is not allowed to be used within an update", st[0].Key)
		}
	}
	p, err := NewPipeline(stages, PipelineOptions{Vars: opts.Let})
	if err != nil {
		return nil, err
	}
	return &Update{kind: uKindPipeline, pipeline: p}, nil
}
