package mql

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// UpdateOptions are the options of an update statement that change how its
// update document is interpreted.
type UpdateOptions struct {
	// ArrayFilters are the documents of the update's arrayFilters option, one
	// per "$[<identifier>]" used in the update paths. An identifier that is
	// declared but unused, or used but not declared, is an error, as on the
	// server. Default: none.
	ArrayFilters []bson.D
	// Let are variables visible as $$name to the expressions of a
	// pipeline-style update (the update command's "let" option). Default:
	// none.
	Let map[string]any
}

// ApplyContext carries what an update needs from the statement that runs it.
type ApplyContext struct {
	// Insert is true when the update builds a new document for an upsert:
	// $setOnInsert applies and _id may be set.
	Insert bool
	// Now is the value of $currentDate (date) and $$NOW. Zero means time.Now().
	Now time.Time
	// ClusterTime is the value of $currentDate {$type: "timestamp"} and
	// $$CLUSTER_TIME. Zero means a timestamp derived from Now.
	ClusterTime bson.Timestamp
	// PositionalIndex is the array index the query matched, substituted for
	// the positional "$" path segment when HasPositional is true.
	PositionalIndex int
	HasPositional   bool
}

func (c ApplyContext) now() time.Time {
	if c.Now.IsZero() {
		return time.Now()
	}
	return c.Now
}

func (c ApplyContext) clusterTime() bson.Timestamp {
	if c.ClusterTime.IsZero() {
		return bson.Timestamp{T: uint32(c.now().Unix()), I: 1}
	}
	return c.ClusterTime
}

type uKind int

const (
	uKindOperators uKind = iota
	uKindReplacement
	uKindPipeline
)

// Update is a compiled update: operators, a replacement document, or an
// aggregation pipeline. It is immutable and safe for concurrent use.
type Update struct {
	kind        uKind
	replacement bson.D
	pipeline    *Pipeline
	mods        []*uMod
	filters     map[string]*Matcher
	hasArrayOps bool
}

// uMod is one operator applied to one path.
type uMod struct {
	op   string
	path string
	segs []string
	arg  any

	// $push / $addToSet
	each     bson.A
	hasEach  bool
	slice    *int64
	position *int64
	sortDir  int   // 0 none, 1/-1 whole-element sort
	sortSpec *Sort // sort by fields
	// $pull
	pullMatcher *Matcher
	pullWrapped bool // condition on the element value, matched as {"": elem}
	pullDocOnly bool // query on document elements
	// $rename destination
	toSegs []string
	toPath string
	// $currentDate
	timestamp bool
}

// uOperators lists the update operators the server knows, in the order
// used only for validation; application order is by path.
func uKnownOperator(op string) bool {
	switch op {
	case "$set", "$unset", "$inc", "$mul", "$min", "$max", "$rename", "$setOnInsert",
		"$currentDate", "$push", "$addToSet", "$pull", "$pullAll", "$pop":
		return true
	}
	return false
}

func uFailedToParse(format string, args ...any) *Error {
	return Errorf(CodeFailedToParse, "FailedToParse", format, args...)
}

func uBadValue(format string, args ...any) *Error {
	return Errorf(CodeBadValue, "BadValue", format, args...)
}

// NewUpdate compiles an update. update is a bson.D of update operators
// ({$set: {...}}), a bson.D replacement document (no key starts with "$"), or
// an update pipeline given as a bson.A or []bson.D of stages ($set/$addFields,
// $unset, $project, $replaceRoot/$replaceWith).
func NewUpdate(update any, opts UpdateOptions) (*Update, error) {
	switch x := update.(type) {
	case bson.D:
		if len(x) > 0 && strings.HasPrefix(x[0].Key, "$") {
			return newOperatorUpdate(x, opts)
		}
		return newReplacementUpdate(x, opts)
	case bson.M, map[string]any:
		d, _ := asDoc(x)
		return NewUpdate(d, opts)
	case bson.A:
		stages := make([]bson.D, 0, len(x))
		for i, s := range x {
			d, ok := asDoc(s)
			if !ok {
				return nil, uFailedToParse("Each element of the 'pipeline' array must be an object, element %d is %s", i, uTypeName(s))
			}
			stages = append(stages, d)
		}
		return newPipelineUpdate(stages, opts)
	case []any:
		return NewUpdate(bson.A(x), opts)
	case []bson.D:
		return newPipelineUpdate(x, opts)
	case nil:
		return nil, uFailedToParse("the update must be a document or a pipeline, got null")
	}
	return nil, uFailedToParse("the update must be a document or a pipeline, got %s", uTypeName(update))
}

// uTypeName is the server's type name of v, "missing" for an absent value.
func uTypeName(v any) string {
	if _, ok := v.(xMissing); ok {
		return "missing"
	}
	return TypeName(v)
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
	return &Update{kind: uKindReplacement, replacement: uCloneD(doc)}, nil
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

// IsReplacement reports whether the update is a replacement document.
func (u *Update) IsReplacement() bool { return u.kind == uKindReplacement }

// IsPipeline reports whether the update is an aggregation pipeline.
func (u *Update) IsPipeline() bool { return u.kind == uKindPipeline }

// UsesPositional reports whether any update path contains the positional
// "$" segment, which needs ApplyContext.PositionalIndex.
func (u *Update) UsesPositional() bool {
	for _, m := range u.mods {
		for _, s := range m.segs {
			if s == "$" {
				return true
			}
		}
	}
	return false
}

// Apply runs the update on doc (which it does not modify) and returns the new
// document and what changed. An update that changes nothing returns an empty
// description (desc.Empty()): the caller then skips the write, as the server
// does (nModified 0, no oplog entry).
//
// The description follows the server's change events:
//   - operator updates report each modified path as given (after positional
//     substitution): $set of "a.b" reports "a.b"; a field created together
//     with missing parents is reported at the first created parent with the
//     whole new subtree ($set "x.y" on a document without x reports "x");
//     $push that only appends reports each new element ("arr.3"), any other
//     array change ($pull, $pop, $addToSet, $push with $sort/$slice/$position)
//     reports the whole array; $unset and the source of $rename are
//     removedFields, except that unsetting an array element sets it to null
//     and reports it as updated.
//   - pipeline updates and replacements are diffed as the server's document
//     differ does: changed scalars and new fields are updated at their path,
//     sub-documents and arrays are diffed recursively, arrays that shrank are
//     reported in truncatedArrays, fields whose order changed are reported as
//     updated. Unlike the server we never fall back to a replacement event
//     when the diff is larger than the document.
//
// Values in the description share memory with newDoc.
func (u *Update) Apply(doc bson.D, ctx ApplyContext) (bson.D, *UpdateDescription, error) {
	switch u.kind {
	case uKindReplacement:
		out := uCloneD(u.replacement)
		out, err := uKeepID(doc, out, ctx.Insert)
		if err != nil {
			return nil, nil, err
		}
		return out, uDiff(doc, out), nil
	case uKindPipeline:
		vars := map[string]any{"NOW": bson.NewDateTimeFromTime(ctx.now()), "CLUSTER_TIME": ctx.clusterTime()}
		res, keep, err := u.pipeline.applyOneVars(doc, vars)
		if err != nil {
			return nil, nil, err
		}
		if !keep {
			return nil, nil, uBadValue("the update pipeline produced no document")
		}
		res, err = uKeepID(doc, res, ctx.Insert)
		if err != nil {
			return nil, nil, err
		}
		return res, uDiff(doc, res), nil
	}
	return u.applyOperators(doc, ctx)
}

// uKeepID makes the result of a replacement or pipeline carry the original
// _id first, rejecting a changed _id.
func uKeepID(orig, out bson.D, insert bool) (bson.D, error) {
	oldID, hadID := uGetField(orig, "_id")
	newID, hasID := uGetField(out, "_id")
	if hasID {
		if _, isArr := newID.(bson.A); isArr {
			return nil, Errorf(53, "InvalidIdField", "The '_id' value cannot be of type array")
		}
	}
	switch {
	case hadID && hasID && !insert:
		if !Equal(oldID, newID) {
			return nil, Errorf(CodeImmutableField, "ImmutableField",
				"After applying the update, the (immutable) field '_id' was found to have been altered to _id: %s", uShort(newID))
		}
		return uIDFirst(out, oldID), nil
	case hadID && !hasID:
		return uIDFirst(out, oldID), nil
	case hasID:
		return uIDFirst(out, newID), nil
	}
	return out, nil
}

// uIDFirst moves (or inserts) _id to the first position.
func uIDFirst(d bson.D, id any) bson.D {
	if len(d) > 0 && d[0].Key == "_id" {
		d[0].Value = id
		return d
	}
	out := make(bson.D, 0, len(d)+1)
	out = append(out, bson.E{Key: "_id", Value: id})
	for _, e := range d {
		if e.Key != "_id" {
			out = append(out, e)
		}
	}
	return out
}

func uGetField(d bson.D, key string) (any, bool) {
	for _, e := range d {
		if e.Key == key {
			return e.Value, true
		}
	}
	return nil, false
}
