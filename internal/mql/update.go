package mql

import (
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
	// KeepEmptyTimestamps keeps top-level Timestamp(0, 0) values of a
	// replacement as they are (the bypassEmptyTsReplacement option);
	// otherwise they become the cluster time, as on the server.
	KeepEmptyTimestamps bool
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
	// keepEmptyTs is UpdateOptions.KeepEmptyTimestamps.
	keepEmptyTs bool
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
	// $bit: and/or/xor operations in order
	bits []uBitOp
}

// uOperators lists the update operators the server knows, in the order
// used only for validation; application order is by path.
func uKnownOperator(op string) bool {
	switch op {
	case "$set", "$unset", "$inc", "$mul", "$min", "$max", "$rename", "$setOnInsert",
		"$currentDate", "$push", "$addToSet", "$pull", "$pullAll", "$pop", "$bit":
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
//   - updatedFields are listed in the order of the server's diff: per
//     document level updates of existing fields, then new fields, then
//     changes inside sub-documents; array elements by index.
//   - pipeline updates and replacements are diffed as the server's document
//     differ does (see update_diff.go): changed scalars and new fields are
//     updated at their path, sub-documents and arrays are diffed recursively
//     unless the sub-diff would be larger than the new value, arrays that
//     shrank are reported in truncatedArrays, fields whose order changed are
//     reported as updated, and desc.Replaced is set when the server would log
//     a replacement (a "replace" change event) because the whole diff is
//     larger than the new document.
//
// Values in the description share memory with newDoc.
func (u *Update) Apply(doc bson.D, ctx ApplyContext) (bson.D, *UpdateDescription, error) {
	switch u.kind {
	case uKindReplacement:
		out := uCloneD(u.replacement)
		// Top-level zero timestamps are set to the current cluster time, as
		// the server does for replacement documents (not for pipelines).
		for i, e := range out {
			if ts, ok := e.Value.(bson.Timestamp); ok && e.Key != "_id" && ts.IsZero() && !u.keepEmptyTs {
				out[i].Value = ctx.clusterTime()
			}
		}
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

// uKeepID gives the result of a replacement or pipeline the original _id
// when it has none and rejects a changed _id, as the server's
// ObjectReplaceExecutor does; like the server's update stage
// (ensureIdFieldIsFirst, run after every update) it moves _id first.
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
		// The server compares ignoring numeric type and keeps the new
		// value.
		if !Equal(oldID, newID) {
			return nil, Errorf(CodeImmutableField, "ImmutableField",
				"After applying the update, the (immutable) field '_id' was found to have been altered to _id: %s", uShort(newID))
		}
		return uIDFirst(out, newID), nil
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
