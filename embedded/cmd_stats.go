package embedded

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// parseScale reads the optional scale factor of dbStats and collStats.
func parseScale(cmd string, body bson.D) (int64, error) {
	scale := int64(1)
	for _, e := range body[1:] {
		switch e.Key {
		case "scale":
			n, err := argInt64(cmd, e.Key, e.Value)
			if err != nil {
				return 0, err
			}
			if n < 1 {
				return 0, cmdError(codeBadValue, "BadValue", "Scale factor must be greater than zero")
			}
			scale = n
		case "freeStorage":
			if _, err := argBool(cmd, e.Key, e.Value); err != nil {
				return 0, err
			}
		default:
			if !isGenericField(e.Key) {
				return 0, unknownField(cmd, e.Key)
			}
		}
	}
	return scale, nil
}

// cmdDBStats reports what the engine knows: counts and summed document
// sizes. There is no disk layout, so storage sizes equal data sizes.
func cmdDBStats(_ context.Context, s *Server, req *request) (bson.D, error) {
	if err := notInTxn(req); err != nil {
		return nil, err
	}
	scale, err := parseScale("dbStats", req.Body)
	if err != nil {
		return nil, err
	}
	var colls, indexes int
	var objects, size int64
	for _, c := range s.engine.ListCollections(req.DB) {
		colls++
		indexes += c.NIndexes
		objects += c.Count
		size += c.Size
	}
	views, err := s.listViews(req.DB)
	if err != nil {
		return nil, err
	}
	avg := 0.0
	if objects > 0 {
		avg = float64(size) / float64(objects)
	}
	return bson.D{
		{Key: "db", Value: req.DB},
		{Key: "collections", Value: int64(colls)},
		{Key: "views", Value: int64(len(views))},
		{Key: "objects", Value: objects},
		{Key: "avgObjSize", Value: avg},
		{Key: "dataSize", Value: float64(size / scale)},
		{Key: "storageSize", Value: float64(size / scale)},
		{Key: "indexes", Value: int64(indexes)},
		{Key: "indexSize", Value: float64(0)},
		{Key: "totalSize", Value: float64(size / scale)},
		{Key: "scaleFactor", Value: scale},
	}, nil
}

func cmdCollStats(_ context.Context, s *Server, req *request) (bson.D, error) {
	coll, err := collectionArgOutsideTxn(req)
	if err != nil {
		return nil, err
	}
	scale, err := parseScale("collStats", req.Body)
	if err != nil {
		return nil, err
	}
	ns := nsOf(req, coll)
	info, ok := s.engine.Collection(ns)
	if !ok {
		return nil, cmdError(codeNamespaceNotFound, "NamespaceNotFound", "Collection [%s] not found.", ns)
	}
	avg := int64(0)
	if info.Count > 0 {
		avg = info.Size / info.Count
	}
	sizes := bson.D{}
	if specs, err := s.engine.ListIndexes(ns); err == nil {
		for _, ix := range specs {
			sizes = append(sizes, bson.E{Key: ix.Name, Value: int64(0)})
		}
	}
	out := bson.D{
		{Key: "ns", Value: ns.String()},
		{Key: "size", Value: info.Size / scale},
		{Key: "count", Value: info.Count},
		{Key: "avgObjSize", Value: avg},
		{Key: "storageSize", Value: info.Size / scale},
		{Key: "capped", Value: info.Options.Capped},
	}
	if o := info.Options; o.Capped {
		// As mongod reports them: max is 0 without a document limit.
		out = append(out, bson.E{Key: "max", Value: o.CappedMax}, bson.E{Key: "maxSize", Value: o.CappedSize / scale})
	}
	return append(out,
		bson.E{Key: "nindexes", Value: int64(info.NIndexes)},
		bson.E{Key: "indexSizes", Value: sizes},
		bson.E{Key: "totalIndexSize", Value: int64(0)},
		bson.E{Key: "totalSize", Value: info.Size / scale},
		bson.E{Key: "scaleFactor", Value: scale},
	), nil
}

// cmdExplain answers explain with a clear refusal: the engine has no query
// planner whose choices it could report.
func cmdExplain(context.Context, *Server, *request) (bson.D, error) {
	return nil, notSupported("explain")
}
