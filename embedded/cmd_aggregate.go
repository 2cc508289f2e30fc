package embedded

import (
	"context"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// aggregateArgs is a parsed aggregate command.
type aggregateArgs struct {
	// coll is empty for {aggregate: 1} (database or cluster level).
	coll     string
	pipeline []bson.D
	vars     map[string]any
	hint     any
	copts    cursorOptions
	// noDiskUse is an explicit allowDiskUse: false.
	noDiskUse bool
	// collation is the collation option as given (nil: none).
	collation bson.D
	// bypassValidation lets $merge skip the target's validator.
	bypassValidation bool
}

func parseAggregate(req *request) (aggregateArgs, error) {
	const cmd = "aggregate"
	a := aggregateArgs{copts: cursorOptions{BatchSize: -1}}
	if len(req.Body) == 0 {
		return a, cmdError(codeFailedToParse, "FailedToParse", "empty command document")
	}
	switch v := req.Body[0].Value.(type) {
	case string:
		if err := validCollectionName(req.DB, v); err != nil {
			return a, err
		}
		a.coll = v
	case int32, int64, float64:
		if n, _ := argInt64(cmd, cmd, v); n != 1 {
			return a, cmdError(codeFailedToParse, "FailedToParse",
				"Invalid command format: the 'aggregate' field must specify a collection name or 1")
		}
	default:
		return a, cmdError(codeFailedToParse, "FailedToParse",
			"Invalid command format: the 'aggregate' field must specify a collection name or 1")
	}
	havePipeline, haveCursor := false, false
	var err error
	for _, e := range req.Body[1:] {
		switch e.Key {
		case "pipeline":
			a.pipeline, err = argDocs(cmd, e.Key, e.Value)
			havePipeline = true
		case "cursor":
			err = parseCursorOption(cmd, e.Value, &a.copts)
			haveCursor = true
		case "explain":
			err = rejectTrue(cmd, e.Key, e.Value)
		case "allowDiskUse":
			a.noDiskUse, err = allowDiskUseArg(cmd, e.Key, e.Value)
		case "bypassDocumentValidation":
			a.bypassValidation, err = argBool(cmd, e.Key, e.Value)
		case "collation":
			a.collation, err = collationArg(cmd, e.Value)
		case "hint":
			a.hint = e.Value
		case "comment":
			a.copts.Comment = e.Value
		case "let":
			a.vars, err = parseLet(cmd, e.Value)
		default:
			if !isGenericField(e.Key) {
				err = unknownField(cmd, e.Key)
			}
		}
		if err != nil {
			return a, err
		}
	}
	if !havePipeline {
		return a, missingField(cmd, "pipeline")
	}
	if !haveCursor {
		return a, cmdError(codeFailedToParse, "FailedToParse",
			"The 'cursor' option is required, except for aggregate with the explain argument")
	}
	if err := checkVariables(a.pipeline, nil, a.vars); err != nil {
		return a, err
	}
	return a, nil
}

// isChangeStream reports whether the pipeline opens a change stream.
func isChangeStream(pipeline []bson.D) bool {
	return len(pipeline) > 0 && len(pipeline[0]) > 0 && pipeline[0][0].Key == "$changeStream"
}

func cmdAggregate(ctx context.Context, s *Server, req *request) (bson.D, error) {
	a, err := parseAggregate(req)
	if err != nil {
		return nil, err
	}
	if isChangeStream(a.pipeline) {
		if isSnapshotRead(req) {
			return nil, cmdError(codeInvalidOptions, "InvalidOptions", "$changeStream does not support { readConcern: { level: \"snapshot\" } }")
		}
		return s.openChangeStream(ctx, req, a)
	}
	if err := checkNoChangeStream(a.pipeline); err != nil {
		return nil, err
	}
	if err := refuseSearchStages(a.pipeline); err != nil {
		return nil, err
	}
	if a.coll == "" {
		stage := "(empty pipeline)"
		if len(a.pipeline) > 0 && len(a.pipeline[0]) > 0 {
			stage = a.pipeline[0][0].Key
		}
		switch stage {
		case "$listLocalSessions":
			docs, err := s.listLocalSessions(a.pipeline)
			if err != nil {
				return nil, err
			}
			return s.newCursor(ctx, req, req.DB+".$cmd.aggregate", newSliceSource(docs), a.copts)
		case "$documents":
			docs, err := runDocuments(a)
			if err != nil {
				return nil, err
			}
			return s.newCursor(ctx, req, req.DB+".$cmd.aggregate", newSliceSource(docs), a.copts)
		case "$listSessions", "$currentOp", "$queryStats", "$listSampledQueries":
			// Collection-less stages MongoDB has: say so, rather than
			// claiming a collection is required.
			return nil, notSupported("aggregation stage %s", stage)
		}
		return nil, cmdError(codeInvalidNamespace, "InvalidNamespace",
			"{aggregate: 1} is not valid for '%s'; a collection is required.", stage)
	}
	ns := nsOf(req, a.coll)
	if err := s.checkHint("aggregate", ns, a.hint); err != nil {
		return nil, err
	}
	stages := a.pipeline
	var (
		out   *engine.Namespace
		merge *mergeSpec
	)
	for i, st := range stages {
		if len(st) == 0 || (st[0].Key != "$out" && st[0].Key != "$merge") {
			continue
		}
		if i != len(stages)-1 {
			return nil, cmdError(40601, "Location40601", "%s can only be the final stage in the pipeline", st[0].Key)
		}
		if err := notInTxn(req); err != nil {
			return nil, err
		}
		if isSnapshotRead(req) {
			return nil, cmdError(codeInvalidOptions, "InvalidOptions", "%s does not support { readConcern: { level: \"snapshot\" } }", st[0].Key)
		}
		if readConcernLevel(req.Body) == "linearizable" {
			return nil, cmdError(codeInvalidOptions, "InvalidOptions", "%s cannot be used with a 'linearizable' read concern level", st[0].Key)
		}
		if st[0].Key == "$out" {
			target, err := parseOut(req.DB, st[0].Value)
			if err != nil {
				return nil, err
			}
			out = &target
		} else {
			m, err := parseMerge(req.DB, st[0].Value)
			if err != nil {
				return nil, err
			}
			m.bypassValidation = a.bypassValidation
			merge = &m
		}
		stages = stages[:i]
	}
	rops, readTime, err := s.readOps(req)
	if err != nil {
		return nil, err
	}
	base, viewPipeline, isView, err := s.resolveView(ns)
	if err != nil {
		return nil, err
	}
	collation, err := s.readCollation(ns, isView, a.collation)
	if err != nil {
		return nil, err
	}
	// The result's namespace stays the view's, as in MongoDB.
	result, err := rops.Aggregate(base, engine.AggregateArgs{Collation: collation, Stages: append(viewPipeline, stages...), Vars: a.vars, Memory: s.mem.forCommand(a.noDiskUse)})
	if err != nil {
		return nil, err
	}
	// $out and $merge return an empty cursor once the target is written.
	switch {
	case out != nil:
		if err := s.writeOut(*out, result); err != nil {
			return nil, err
		}
		result = nil
	case merge != nil:
		if err := s.writeMerge(*merge, result); err != nil {
			return nil, err
		}
		result = nil
	}
	docs, err := toRaw(result)
	if err != nil {
		return nil, err
	}
	reply, err := s.newCursor(ctx, req, ns.String(), newSliceSource(docs), a.copts)
	if err != nil {
		return nil, err
	}
	return snapshotReply(req, reply, readTime), nil
}

// readConcernLevel is the command's readConcern.level, or "".
func readConcernLevel(body bson.D) string {
	for _, e := range body {
		if e.Key != "readConcern" {
			continue
		}
		rc, _ := e.Value.(bson.D)
		for _, f := range rc {
			if f.Key == "level" {
				level, _ := f.Value.(string)
				return level
			}
		}
	}
	return ""
}
