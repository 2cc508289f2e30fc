package changestream

import (
	"bytes"
	"sort"

	"github.com/mongotide/mongotide/internal/bsonx"
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Size limits, as MongoDB defines them.
const (
	// maxInternalSize is BSONObjMaxInternalSize (16 MiB + 16 KiB): a bigger
	// event cannot be serialized (code 10334).
	maxInternalSize = 16*1024*1024 + 16*1024
	// maxChangeEventSize is the size above which $changeStreamSplitLargeEvent
	// splits an event (BSONObjMaxInternalSize - 8 KiB).
	maxChangeEventSize = maxInternalSize - 8*1024
	// maxBatchBytes bounds the documents of one batch with their array
	// element headers (BSONObjMaxUserSize); the reply's envelope fits in
	// the 16 KiB above it.
	maxBatchBytes = 16 * 1024 * 1024
	// batchElemOverhead is what one batch element adds to the reply beside
	// its document, at most: type byte, index key of up to 7 digits, NUL
	// (rounded up, as the cursor batches of find do).
	batchElemOverhead = 16
)

// userStages are the stages after $changeStream.
type userStages struct {
	// pipe runs the per-event stages; nil when there are none.
	pipe *mql.Pipeline
	// split is set when the pipeline ends with $changeStreamSplitLargeEvent.
	split bool
	// filterOnly is set when every per-event stage is a $match: a kept
	// event is then returned as built, without re-encoding.
	filterOnly bool
}

// stageAllowed reports the stages MongoDB allows after $changeStream
// (besides $changeStreamSplitLargeEvent, which is handled here).
func stageAllowed(name string) bool {
	switch name {
	case "$match", "$project", "$addFields", "$set", "$unset", "$replaceRoot", "$replaceWith", "$redact":
		return true
	}
	return false
}

// stageKnown reports aggregation stages MongoDB knows but does not allow in
// a change stream (IllegalOperation rather than "unrecognized").
func stageKnown(name string) bool {
	switch name {
	case "$group", "$sort", "$limit", "$skip", "$lookup", "$unwind", "$facet", "$bucket", "$bucketAuto",
		"$count", "$out", "$merge", "$geoNear", "$graphLookup", "$sample", "$sortByCount", "$unionWith",
		"$densify", "$fill", "$setWindowFields", "$documents", "$collStats", "$indexStats", "$currentOp",
		"$listSessions", "$listLocalSessions", "$planCacheStats", "$search", "$searchMeta", "$vectorSearch",
		"$listSearchIndexes", "$shardedDataDistribution", "$queryStats", "$listSampledQueries", "$listCatalog":
		return true
	}
	return false
}

// liteParseStages is the first look MongoDB takes at a pipeline, before the
// $changeStream spec is parsed: stage documents must have one field and name
// a known stage.
func liteParseStages(stages []bson.D) error {
	for _, st := range stages {
		if len(st) != 1 {
			return location(40323, "A pipeline stage specification object must contain exactly one field.")
		}
		name := st[0].Key
		if !stageAllowed(name) && !stageKnown(name) && name != "$changeStream" && name != "$changeStreamSplitLargeEvent" {
			return location(CodeUnrecognizedStage, "Unrecognized pipeline stage name: '%s'", name)
		}
	}
	return nil
}

// parseStages validates the stages after $changeStream in MongoDB's order:
// each stage's own spec, then whether the stage may run in a change stream,
// then stage positions.
func parseStages(stages []bson.D) (userStages, error) {
	var u userStages
	var perEvent []bson.D
	for _, st := range stages {
		name := st[0].Key
		switch {
		case name == "$changeStreamSplitLargeEvent":
			if d, ok := asDoc(st[0].Value); !ok || len(d) != 0 {
				return u, location(CodeSplitSpecNotEmpty, "$changeStreamSplitLargeEvent spec should be an empty object")
			}
		case stageAllowed(name):
			// Compile one by one so that the first bad stage is reported.
			if _, err := mql.NewPipeline([]bson.D{st}, mql.PipelineOptions{}); err != nil {
				return u, err
			}
			perEvent = append(perEvent, st)
		}
	}
	for _, st := range stages {
		name := st[0].Key
		if name != "$changeStream" && name != "$changeStreamSplitLargeEvent" && !stageAllowed(name) {
			return u, errorf(CodeIllegalOperation, "IllegalOperation", "%s is not permitted in a $changeStream pipeline", name)
		}
	}
	for i, st := range stages {
		switch st[0].Key {
		case "$changeStream":
			return u, location(CodeNotFirstStage, "$changeStream is only valid as the first stage in a pipeline")
		case "$changeStreamSplitLargeEvent":
			if i != len(stages)-1 {
				return u, location(CodeSplitNotLast, "$changeStreamSplitLargeEvent must be the last stage in the pipeline")
			}
			u.split = true
		}
	}
	if len(perEvent) > 0 {
		p, err := mql.NewPipeline(perEvent, mql.PipelineOptions{})
		if err != nil {
			return u, err
		}
		u.pipe = p
		u.filterOnly = true
		for _, st := range perEvent {
			u.filterOnly = u.filterOnly && st[0].Key == "$match"
		}
	}
	return u, nil
}

// apply runs the user's per-event stages over one event. keep is false when
// a $match dropped it. The event's _id must come out unchanged: a stream
// whose events cannot be resumed from is a fatal error, as in MongoDB.
func (u *userStages) apply(event bson.Raw, tok token) (out bson.Raw, keep bool, err error) {
	if u.pipe == nil {
		return event, true, nil
	}
	// Aliasing is safe: event is never modified once built, and doc is
	// dropped (or re-encoded into a new buffer) before apply returns.
	doc, err := bsonx.DecodeAliased(event)
	if err != nil {
		return nil, false, errorf(CodeBadValue, "BadValue", "cannot decode change event: %v", err)
	}
	res, keep, err := u.pipe.ApplyOne(doc)
	if err != nil || !keep {
		return nil, false, err
	}
	if u.filterOnly {
		return event, true, nil
	}
	if res == nil {
		res = bson.D{}
	}
	b, err := bson.Marshal(res)
	if err != nil {
		return nil, false, errorf(CodeBadValue, "BadValue", "cannot encode change event: %v", err)
	}
	out = bson.Raw(b)
	id, idErr := out.LookupErr("_id")
	want := tok.raw()
	if idErr != nil || id.Type != bson.TypeEmbeddedDocument || !bytes.Equal(id.Value, want) {
		modified := "<missing>"
		if idErr == nil {
			modified = id.String()
		}
		return nil, false, errFatal("Encountered an event whose _id field, which contains the resume token, "+
			"was modified by the pipeline. Modifying the _id field of an event makes it impossible to resume "+
			"the stream from that point. Only transformations that retain the unmodified _id field are allowed. "+
			"(Original _id: %s, modified _id: %s)", want.String(), modified)
	}
	return out, true, nil
}

// checkSize enforces the BSON size limit on an event that is not split.
func checkSize(event bson.Raw, tok token) error {
	if len(event) > maxInternalSize {
		return errorf(CodeBSONObjectTooLarge, "BSONObjectTooLarge",
			"BSONObj size: %d (0x%X) is invalid. Size must be between 0 and %d(16MB) First element: _id: %s",
			len(event), len(event), maxInternalSize, tok.raw().String())
	}
	return nil
}

// splitEvent cuts an oversized event into fragments the way MongoDB's
// splitChangeEvent does: the fields other than _id, ordered by (encoded
// size, name), are packed greedily; each fragment carries its own resume
// token (the event's token with a fragment number) and
// splitEvent: {fragment, of}. The first skip fragments are not returned
// (resuming from a fragment token).
func splitEvent(event bson.Raw, tok token, skip uint32) ([]output, error) {
	elems, err := event.Elements()
	if err != nil {
		return nil, errorf(CodeBadValue, "BadValue", "cannot split change event: %v", err)
	}
	type field struct {
		key  string
		elem []byte
	}
	fields := make([]field, 0, len(elems))
	for _, el := range elems {
		if el.Key() == "_id" {
			continue
		}
		fields = append(fields, field{key: el.Key(), elem: el})
	}
	if len(fields) == 0 {
		return nil, location(7182502, "Cannot split an empty event or an event containing solely '_id' field")
	}
	sort.SliceStable(fields, func(i, j int) bool {
		if len(fields[i].elem) != len(fields[j].elem) {
			return len(fields[i].elem) < len(fields[j].elem)
		}
		return fields[i].key < fields[j].key
	})
	maxFragment := maxChangeEventSize - len(tok.raw())

	// Group the fields first: the total count is part of every fragment.
	var groups [][]field
	for i := 0; i < len(fields); {
		ft := tok
		ft.frag = uint32(len(groups) + 1)
		size := len(fragmentHeader(ft, len(groups)+1, 0)) + 1
		start := i
		for {
			size += len(fields[i].elem)
			i++
			if i == len(fields) || size+len(fields[i].elem) > maxFragment {
				break
			}
		}
		if size > maxFragment {
			return nil, location(7182500,
				"Splitting change event failed: fragment size %d is greater than maximum allowed fragment size %d",
				size, maxFragment)
		}
		groups = append(groups, fields[start:i])
	}
	if int(skip) > len(groups) {
		return nil, errFatal("Attempted to resume from a split event, but the resumed stream produced a different " +
			"split. Ensure that the pipeline used to resume is the same as the original")
	}
	out := make([]output, 0, len(groups)-int(skip))
	for gi := int(skip); gi < len(groups); gi++ {
		ft := tok
		ft.frag = uint32(gi + 1)
		doc := fragmentHeader(ft, gi+1, len(groups))
		for _, f := range groups[gi] {
			doc = append(doc, f.elem...)
		}
		doc = append(doc, 0)
		bsoncore.UpdateLength(doc, 0, int32(len(doc)))
		out = append(out, output{doc: bson.Raw(doc), tok: ft})
	}
	return out, nil
}

// fragmentHeader starts a fragment document: length placeholder, _id and
// splitEvent.
func fragmentHeader(ft token, n, of int) []byte {
	doc := make([]byte, 4, 128)
	doc = bsoncore.AppendHeader(doc, bsoncore.TypeEmbeddedDocument, "_id")
	doc = ft.appendDoc(doc)
	idx, doc := bsoncore.AppendDocumentElementStart(doc, "splitEvent")
	doc = bsoncore.AppendInt32Element(doc, "fragment", int32(n))
	doc = bsoncore.AppendInt32Element(doc, "of", int32(of))
	doc, _ = bsoncore.AppendDocumentEnd(doc, idx)
	return doc
}
