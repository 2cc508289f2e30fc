package embedded

import (
	"context"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func cmdFind(ctx context.Context, s *Server, req *request) (bson.D, error) {
	const cmd = "find"
	coll, err := collectionArg(req)
	if err != nil {
		return nil, err
	}
	var (
		args  engine.FindArgs
		hint  any
		copts = cursorOptions{BatchSize: -1}
		limit int64
		vars  map[string]any
		tail  tailOptions
	)
	var noDiskUse bool // an explicit allowDiskUse: false
	var minDoc, maxDoc bson.D
	for _, e := range req.Body[1:] {
		switch e.Key {
		case "filter":
			args.Filter, err = argOptDoc(cmd, e.Key, e.Value)
		case "sort":
			args.Sort, err = argOptDoc(cmd, e.Key, e.Value)
		case "projection":
			args.Projection, err = argOptDoc(cmd, e.Key, e.Value)
		case "skip":
			args.Skip, err = argNonNegative(cmd, e.Key, e.Value)
		case "limit":
			// A negative limit is the legacy way to ask for a
			// single batch of at most -limit documents.
			limit, err = argInt64(cmd, e.Key, e.Value)
		case "batchSize":
			var n int64
			n, err = argNonNegative(cmd, e.Key, e.Value)
			copts.BatchSize = int(min(n, 1<<31-1))
		case "singleBatch":
			copts.SingleBatch, err = argBool(cmd, e.Key, e.Value)
		case "hint":
			hint = e.Value
		case "collation":
			args.Collation, err = collationArg(cmd, e.Value)
		case "let":
			vars, err = parseLet(cmd, e.Value)
		case "comment":
			copts.Comment = e.Value
		case "allowDiskUse":
			noDiskUse, err = allowDiskUseArg(cmd, e.Key, e.Value)
		case "noCursorTimeout", "allowPartialResults", "readOnce", "oplogReplay":
			// They tune resource use, never the result.
			_, err = argBool(cmd, e.Key, e.Value)
		case "tailable":
			tail.tailable, err = argBool(cmd, e.Key, e.Value)
		case "awaitData":
			tail.awaitData, err = argBool(cmd, e.Key, e.Value)
		case "returnKey", "showRecordId":
			err = rejectTrue(cmd, e.Key, e.Value)
		case "min":
			minDoc, err = argOptDoc(cmd, e.Key, e.Value)
		case "max":
			maxDoc, err = argOptDoc(cmd, e.Key, e.Value)
		default:
			if !isGenericField(e.Key) {
				err = unknownField(cmd, e.Key)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if limit < 0 {
		limit = -limit
		copts.SingleBatch = true
		// The whole result comes in that one batch, not just the
		// default 101 documents.
		if copts.BatchSize < 0 || int64(copts.BatchSize) > limit {
			copts.BatchSize = int(min(limit, 1<<31-1))
		}
	}
	args.Limit = limit
	if err := checkVariables(nil, args.Filter, vars); err != nil {
		return nil, err
	}
	args.Memory = s.mem.forCommand(noDiskUse)
	ns := nsOf(req, coll)
	if err := s.checkHint(cmd, ns, hint); err != nil {
		return nil, err
	}
	if bounds, err := s.minMaxFilter(ns, hint, minDoc, maxDoc); err != nil {
		return nil, err
	} else if bounds != nil {
		args.Filter = bson.D{{Key: "$and", Value: bson.A{append(bson.D{}, args.Filter...), bounds}}}
	}
	if err := s.checkTextQuery(ns, args.Filter); err != nil {
		return nil, err
	}
	if tail.tailable || tail.awaitData {
		return s.findTailable(ctx, req, ns, args, tail, copts)
	}
	rops, readTime, err := s.readOps(req)
	if err != nil {
		return nil, err
	}
	base, viewPipeline, isView, err := s.resolveView(ns)
	if err != nil {
		return nil, err
	}
	var docs []bson.Raw
	// Variables only reach expressions through the pipeline evaluator, so a
	// find with "let" runs as the equivalent aggregation, as views do.
	if isView || len(vars) > 0 {
		// Without variables the find projection is applied as find
		// applies it ($elemMatch, $slice and positional projections
		// have no $project equivalent).
		stagesArgs := args
		aggColl, err := s.readCollation(ns, isView, args.Collation)
		if err != nil {
			return nil, err
		}
		var proj *mql.Projection
		if len(vars) == 0 && len(args.Projection) > 0 {
			if proj, err = mql.NewProjection(args.Projection); err != nil {
				return nil, err
			}
			if proj.NeedsPosition() {
				return nil, notSupported("positional projection on a view")
			}
			stagesArgs.Projection = nil
		}
		out, err := rops.Aggregate(base, engine.AggregateArgs{Collation: aggColl, Stages: append(viewPipeline, findPipeline(stagesArgs)...), Vars: vars, Memory: args.Memory})
		if err != nil {
			return nil, err
		}
		if proj != nil {
			for i, d := range out {
				if out[i], err = proj.Apply(d); err != nil {
					return nil, err
				}
			}
		}
		if docs, err = toRaw(out); err != nil {
			return nil, err
		}
	} else if docs, err = rops.Find(ns, args); err != nil {
		return nil, err
	}
	reply, err := s.newCursor(ctx, req, ns.String(), newSliceSource(docs), copts)
	if err != nil {
		return nil, err
	}
	return snapshotReply(req, reply, readTime), nil
}
