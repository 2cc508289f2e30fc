package embedded

import (
	"context"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// cmdCount serves count, which the driver also uses for
// estimatedDocumentCount. A missing collection counts 0.
func cmdCount(_ context.Context, s *Server, req *request) (bson.D, error) {
	const cmd = "count"
	coll, err := collectionArgOutsideTxn(req)
	if err != nil {
		return nil, err
	}
	var (
		args engine.CountArgs
		hint any
	)
	for _, e := range req.Body[1:] {
		switch e.Key {
		case "query":
			args.Filter, err = argOptDoc(cmd, e.Key, e.Value)
		case "skip":
			if e.Value != nil {
				args.Skip, err = argNonNegative(cmd, e.Key, e.Value)
			}
		case "limit":
			if e.Value != nil {
				// As in MongoDB, a negative limit counts like
				// its absolute value.
				args.Limit, err = argInt64(cmd, e.Key, e.Value)
				args.Limit = max(args.Limit, -args.Limit)
			}
		case "hint":
			hint = e.Value
		case "collation":
			args.Collation, err = collationArg(cmd, e.Value)
		case "fields":
			// Legacy and ignored by MongoDB as well.
		default:
			if !isGenericField(e.Key) {
				err = unknownField(cmd, e.Key)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	ns := nsOf(req, coll)
	if err := s.checkHint(cmd, ns, hint); err != nil {
		return nil, err
	}
	var n int64
	base, viewPipeline, isView, err := s.resolveView(ns)
	if err != nil {
		return nil, err
	}
	if isView {
		if args.Collation, err = s.viewCollation(ns, args.Collation); err != nil {
			return nil, err
		}
		out, err := s.ops(req).Aggregate(base, engine.AggregateArgs{Collation: args.Collation, Stages: append(viewPipeline, countPipeline(args)...), Memory: s.mem.forCommand(false)})
		if err != nil {
			return nil, err
		}
		if len(out) > 0 && len(out[0]) > 0 {
			n, _ = mql.ToInt64(out[0][0].Value)
		}
		return bson.D{{Key: "n", Value: int32OrInt64(n)}}, nil
	}
	if len(args.Filter) == 0 && args.Skip == 0 && args.Limit == 0 {
		n = s.engine.EstimatedCount(ns)
	} else if n, err = s.ops(req).Count(ns, args); err != nil {
		return nil, err
	}
	return bson.D{{Key: "n", Value: int32OrInt64(n)}}, nil
}

func cmdDistinct(_ context.Context, s *Server, req *request) (bson.D, error) {
	const cmd = "distinct"
	coll, err := collectionArg(req)
	if err != nil {
		return nil, err
	}
	var (
		key       string
		haveKey   bool
		filter    bson.D
		hint      any
		collation bson.D
	)
	for _, e := range req.Body[1:] {
		switch e.Key {
		case "key":
			key, err = argString(cmd, e.Key, e.Value)
			haveKey = true
		case "query":
			filter, err = argOptDoc(cmd, e.Key, e.Value)
		case "hint":
			hint = e.Value
		case "collation":
			collation, err = collationArg(cmd, e.Value)
		default:
			if !isGenericField(e.Key) {
				err = unknownField(cmd, e.Key)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if !haveKey {
		return nil, missingField(cmd, "key")
	}
	if key == "" {
		return nil, cmdError(40352, "Location40352", "FieldPath cannot be constructed with empty string")
	}
	ns := nsOf(req, coll)
	if err := s.checkHint(cmd, ns, hint); err != nil {
		return nil, err
	}
	rops, readTime, err := s.readOps(req)
	if err != nil {
		return nil, err
	}
	base, viewPipeline, isView, err := s.resolveView(ns)
	if err != nil {
		return nil, err
	}
	var values []any
	if isView {
		if collation, err = s.viewCollation(ns, collation); err != nil {
			return nil, err
		}
		if len(filter) > 0 {
			viewPipeline = append(viewPipeline, bson.D{{Key: "$match", Value: filter}})
		}
		docs, err := rops.Aggregate(base, engine.AggregateArgs{Collation: collation, Stages: viewPipeline, Memory: s.mem.forCommand(false)})
		if err != nil {
			return nil, err
		}
		values = distinctValues(docs, key, collation)
	} else if values, err = distinctWith(rops, ns, key, filter, collation); err != nil {
		return nil, err
	}
	arr := make(bson.A, len(values))
	copy(arr, values)
	return snapshotReply(req, bson.D{{Key: "values", Value: arr}}, readTime), nil
}
