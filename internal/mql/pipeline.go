package mql

import (
	"maps"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// CodeCommandNotSupported is the code of the error returned for aggregation
// stages that MongoDB has but the embedded server cannot run ($lookup, $out,
// $merge, $geoNear, ...): 115 CommandNotSupported, so clients can tell "we
// know this stage and refuse it" from a misspelt stage (40324).
const CodeCommandNotSupported int32 = 115

// PipelineOptions configure a Pipeline.
type PipelineOptions struct {
	// Vars are variables visible to every expression as $$name, for example
	// an aggregate command's "let" values, NOW or CLUSTER_TIME. When NOW or
	// CLUSTER_TIME are not given they are taken once per Run or ApplyOne
	// call.
	Vars map[string]any
	// Collation orders and compares strings in every stage ($match, $sort,
	// $group keys, expressions); nil is the simple collation.
	Collation *Collation
	// Memory bounds what Run may hold (see MemoryLimits); the zero value
	// sets no limit.
	Memory MemoryLimits
}

// Pipeline is a compiled aggregation pipeline. It is immutable and safe for
// concurrent use.
type Pipeline struct {
	stages    []agStage
	streaming bool
	vars      map[string]any
	coll      *Collation
	mem       MemoryLimits
}

// agStage is one compiled stage. Per-document stages implement agOne; the
// others see the whole input.
type agStage interface {
	all(docs []bson.D, c *xCtx) ([]bson.D, error)
}

type agOne interface {
	one(doc bson.D, c *xCtx) (bson.D, bool, error)
}

// agOneAll adapts a per-document stage to whole-input execution.
func agOneAll(s agOne, docs []bson.D, c *xCtx) ([]bson.D, error) {
	out := make([]bson.D, 0, len(docs))
	for _, d := range docs {
		r, keep, err := s.one(d, c)
		if err != nil {
			return nil, err
		}
		if keep {
			out = append(out, r)
		}
	}
	return out, nil
}

func agUnknownStage(name string) *Error {
	return Errorf(CodeLocation40324, "Location40324", "Unrecognized pipeline stage name: '%s'", name)
}

// agUnsupportedStages are stages MongoDB has that the embedded server does
// not run.
func agUnsupportedStage(name string) bool {
	switch name {
	case "$lookup", "$graphLookup", "$unionWith", "$out", "$merge", "$geoNear", "$search",
		"$searchMeta", "$vectorSearch", "$indexStats", "$collStats", "$currentOp", "$listSessions",
		"$listLocalSessions", "$planCacheStats", "$changeStream", "$changeStreamSplitLargeEvent",
		"$documents", "$bucketAuto", "$densify", "$fill", "$setWindowFields", "$listSearchIndexes", "$shardedDataDistribution", "$queryStats", "$listSampledQueries":
		return true
	}
	return false
}

func agKnownStage(name string) bool {
	switch name {
	case "$match", "$sort", "$skip", "$limit", "$project", "$addFields", "$set", "$unset",
		"$replaceRoot", "$replaceWith", "$group", "$count", "$unwind", "$sortByCount", "$facet", "$redact",
		"$bucket", "$sample":
		return true
	}
	return agUnsupportedStage(name)
}

// NewPipeline compiles an aggregation pipeline. Supported stages: $match,
// $sort, $skip, $limit, $project, $addFields/$set, $unset,
// $replaceRoot/$replaceWith, $group, $count, $unwind, $sortByCount, $facet,
// $redact, $bucket, $sample.
// An unknown stage is error 40324; a stage MongoDB has but we do not run is
// error 115 (CodeCommandNotSupported).
func NewPipeline(stages []bson.D, opts PipelineOptions) (*Pipeline, error) {
	p := &Pipeline{streaming: true, vars: opts.Vars, coll: opts.Collation, mem: opts.Memory}
	for _, st := range stages {
		s, err := agCompileStage(st, false, opts.Vars, opts.Collation)
		if err != nil {
			return nil, err
		}
		if _, ok := s.(agOne); !ok {
			p.streaming = false
		}
		p.stages = append(p.stages, s)
	}
	agCoalesceSortLimit(p.stages)
	return p, nil
}

func agCompileStage(st bson.D, inFacet bool, vars map[string]any, coll *Collation) (agStage, error) {
	if len(st) != 1 {
		return nil, Errorf(40323, "Location40323", "A pipeline stage specification object must contain exactly one field.")
	}
	name, spec := st[0].Key, st[0].Value
	switch name {
	case "$match":
		return agCompileMatch(spec, vars, coll)
	case "$sort":
		return agCompileSort(spec, coll)
	case "$skip", "$limit":
		return agCompileSkipLimit(name, spec)
	case "$project":
		return agCompileProject(spec)
	case "$addFields", "$set":
		return agCompileAddFields(name, spec)
	case "$unset":
		return agCompileUnset(spec)
	case "$replaceRoot", "$replaceWith":
		return agCompileReplaceRoot(name, spec)
	case "$group":
		return agCompileGroup(spec)
	case "$count":
		return agCompileCount(spec)
	case "$unwind":
		return agCompileUnwind(spec)
	case "$sortByCount":
		return agCompileSortByCount(spec, coll)
	case "$redact":
		return agCompileRedact(spec)
	case "$bucket":
		return agCompileBucket(spec)
	case "$sample":
		return agCompileSample(spec)
	case "$facet":
		if inFacet {
			return nil, Errorf(40600, "Location40600", "$facet is not allowed to be used within a $facet stage")
		}
		return agCompileFacet(spec, vars, coll)
	}
	if agUnsupportedStage(name) {
		return nil, Errorf(CodeCommandNotSupported, "CommandNotSupported",
			"The %s aggregation stage is not supported by the mongotide embedded server", name)
	}
	return nil, agUnknownStage(name)
}

// Streaming reports whether every stage works on one document at a time
// ($match, $project, $addFields/$set, $unset, $replaceRoot/$replaceWith,
// $redact),
// so that ApplyOne can run the pipeline per document.
func (p *Pipeline) Streaming() bool { return p.streaming }

func (p *Pipeline) ctx(extra map[string]any) *xCtx {
	vars := p.vars
	if len(extra) > 0 {
		vars = maps.Clone(p.vars)
		if vars == nil {
			vars = map[string]any{}
		}
		maps.Copy(vars, extra)
	}
	return &xCtx{vars: vars, now: time.Now(), coll: p.coll}
}

// Run executes the pipeline over docs. The documents are not modified, but
// with Memory limits set a $sort that spills to disk clears the entries of
// docs it has written out, so that they can be freed: callers hand docs over.
func (p *Pipeline) Run(docs []bson.D) ([]bson.D, error) {
	c := p.ctx(nil)
	c.mem = newMemGuard(p.mem)
	return p.run(docs, c)
}

func (p *Pipeline) run(docs []bson.D, c *xCtx) ([]bson.D, error) {
	var err error
	for _, s := range p.stages {
		docs, err = s.all(docs, c)
		if err != nil {
			return nil, err
		}
	}
	return docs, nil
}

// ApplyOne runs the pipeline on a single document: keep is false when a
// stage dropped it. For a non-streaming pipeline the document is run as a
// one-document input and more than one output is an error.
func (p *Pipeline) ApplyOne(doc bson.D) (out bson.D, keep bool, err error) {
	return p.applyOneVars(doc, nil)
}

func (p *Pipeline) applyOneVars(doc bson.D, vars map[string]any) (bson.D, bool, error) {
	c := p.ctx(vars)
	if !p.streaming {
		res, err := p.run([]bson.D{doc}, c)
		if err != nil {
			return nil, false, err
		}
		switch len(res) {
		case 0:
			return nil, false, nil
		case 1:
			return res[0], true, nil
		}
		return nil, false, Errorf(CodeBadValue, "BadValue", "pipeline produced %d documents from one input document", len(res))
	}
	for _, s := range p.stages {
		var keep bool
		var err error
		doc, keep, err = s.(agOne).one(doc, c)
		if err != nil || !keep {
			return nil, false, err
		}
	}
	return doc, true, nil
}

// rootCtx returns the evaluation context for one document.
func (c *xCtx) forDoc(doc bson.D) *xCtx {
	return &xCtx{root: doc, vars: c.vars, scope: c.scope, now: c.now, coll: c.coll, mem: c.mem}
}
