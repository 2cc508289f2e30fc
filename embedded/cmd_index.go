package embedded

import (
	"context"
	"fmt"
	"math"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// parseIndexSpec reads one element of createIndexes.indexes.
func parseIndexSpec(i int, d bson.D) (engine.IndexSpec, error) {
	const cmd = "createIndexes"
	var spec engine.IndexSpec
	path := func(f string) string { return fmt.Sprintf("indexes.%d.%s", i, f) }
	haveKey, haveName := false, false
	var err error
	for _, e := range d {
		switch e.Key {
		case "key":
			if spec.Key, err = argDoc(cmd, path("key"), e.Value); err == nil {
				err = checkIndexKey(d, spec.Key)
			}
			haveKey = true
		case "name":
			spec.Name, err = argString(cmd, path("name"), e.Value)
			haveName = true
		case "unique":
			spec.Unique, err = argBool(cmd, path("unique"), e.Value)
		case "sparse":
			spec.Sparse, err = argBool(cmd, path("sparse"), e.Value)
		case "hidden":
			spec.Hidden, err = argBool(cmd, path("hidden"), e.Value)
		case "partialFilterExpression":
			if spec.PartialFilterExpression, err = argDoc(cmd, path("partialFilterExpression"), e.Value); err == nil {
				_, err = mql.NewMatcher(spec.PartialFilterExpression)
			}
		case "expireAfterSeconds":
			var n int64
			if n, err = argInt64(cmd, path("expireAfterSeconds"), e.Value); err == nil {
				if n < 0 || n > math.MaxInt32 {
					err = cmdError(codeInvalidOptions, "InvalidOptions",
						"TTL index 'expireAfterSeconds' option must be within an acceptable range, try a lower number")
				}
				v := int32(n)
				spec.ExpireAfterSeconds = &v
			}
		case "v", "background", "ns", "storageEngine", "commitQuorum":
			// Version and build tuning: no effect on results.
		case "collation":
			spec.Collation, err = normalizedCollation(cmd, e.Value)
			if err == nil && spec.Collation == nil {
				// An explicit simple collation overrides the
				// collection's default.
				spec.Collation = simpleCollation()
			}
		case "weights", "default_language", "language_override", "textIndexVersion",
			"2dsphereIndexVersion", "bits", "min", "max", "wildcardProjection":
			// Stored and reported; text and wildcard indexes serve no query.
			spec.Extra = append(spec.Extra, e)
		case "bucketSize", "clustered", "prepareUnique":
			err = notSupported("index option '%s'", e.Key)
		default:
			err = cmdError(codeInvalidOptions, "InvalidIndexSpecificationOption",
				"The field '%s' is not valid for an index specification. Specification: %v", e.Key, d)
		}
		if err != nil {
			return spec, err
		}
	}
	if !haveKey {
		return spec, cmdError(codeFailedToParse, "FailedToParse",
			"Error in specification %v :: caused by :: The 'key' field is a required property of an index specification", d)
	}
	if !haveName {
		return spec, cmdError(codeFailedToParse, "FailedToParse",
			"Error in specification %v :: caused by :: The 'name' field is a required property of an index specification", d)
	}
	if spec.Name == "" {
		return spec, cmdError(codeCannotCreateIndex, "CannotCreateIndex", "Index name cannot be empty.")
	}
	return normalizeTextIndex(spec)
}

const codeCannotCreateIndex int32 = 67

// checkIndexKey accepts ascending/descending keys only: special index types
// (text, geo, hashed, wildcard) change query semantics.
func checkIndexKey(spec, key bson.D) error {
	if len(key) == 0 {
		return cmdError(codeCannotCreateIndex, "CannotCreateIndex",
			"Error in specification %v :: caused by :: Index keys cannot be an empty object.", spec)
	}
	for _, e := range key {
		if e.Key == "" {
			return cmdError(codeCannotCreateIndex, "CannotCreateIndex", "Index key contains an illegal field name: field name is empty.")
		}
		switch v := e.Value.(type) {
		case string:
			if v != "text" {
				return notSupported("index type '%s' (field %s)", v, e.Key)
			}
		default:
			f, ok := mql.ToFloat(v)
			if !ok || f == 0 || math.IsNaN(f) {
				return cmdError(codeCannotCreateIndex, "CannotCreateIndex",
					"Error in specification %v :: caused by :: Values in the index key pattern can only be numbers or strings, got %v", spec, v)
			}
		}
	}
	return nil
}

func cmdCreateIndexes(_ context.Context, s *Server, req *request) (bson.D, error) {
	const cmd = "createIndexes"
	coll, err := collectionArg(req) // allowed in transactions since 4.4
	if err != nil {
		return nil, err
	}
	var specs []engine.IndexSpec
	haveIndexes := false
	for _, e := range req.Body[1:] {
		switch e.Key {
		case "indexes":
			var docs []bson.D
			if docs, err = argDocs(cmd, e.Key, e.Value); err != nil {
				return nil, err
			}
			for i, d := range docs {
				spec, err := parseIndexSpec(i, d)
				if err != nil {
					return nil, err
				}
				specs = append(specs, spec)
			}
			haveIndexes = true
		case "commitQuorum":
			// A single node: every quorum is met at once.
		default:
			if !isGenericField(e.Key) {
				return nil, unknownField(cmd, e.Key)
			}
		}
	}
	if !haveIndexes {
		return nil, missingField(cmd, "indexes")
	}
	if len(specs) == 0 {
		return nil, cmdError(codeBadValue, "BadValue", "Must specify at least one index to create")
	}
	if err := s.refuseView(nsOf(req, coll)); err != nil {
		return nil, err
	}
	for i := range specs {
		if specs[i].Collation == nil {
			// As on MongoDB, an index inherits the collection's default.
			specs[i].Collation = s.collectionCollation(nsOf(req, coll))
		}
	}
	res, err := s.createIndexes(req, nsOf(req, coll), specs)
	if err != nil {
		return nil, err
	}
	if res.Note != "" {
		return bson.D{
			{Key: "numIndexesBefore", Value: int32(res.NumIndexesBefore)},
			{Key: "numIndexesAfter", Value: int32(res.NumIndexesAfter)},
			{Key: "note", Value: res.Note},
		}, nil
	}
	return bson.D{
		{Key: "numIndexesBefore", Value: int32(res.NumIndexesBefore)},
		{Key: "numIndexesAfter", Value: int32(res.NumIndexesAfter)},
		{Key: "createdCollectionAutomatically", Value: res.CreatedCollectionAutomatically},
		{Key: "commitQuorum", Value: "votingMembers"},
	}, nil
}

// indexEntry is an index as listIndexes reports it.
func indexEntry(ix engine.IndexSpec) bson.D {
	d := bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: ix.Key}, {Key: "name", Value: ix.Name}}
	if ix.Unique {
		d = append(d, bson.E{Key: "unique", Value: true})
	}
	if ix.Sparse {
		d = append(d, bson.E{Key: "sparse", Value: true})
	}
	if len(ix.PartialFilterExpression) > 0 {
		d = append(d, bson.E{Key: "partialFilterExpression", Value: ix.PartialFilterExpression})
	}
	if ix.ExpireAfterSeconds != nil {
		d = append(d, bson.E{Key: "expireAfterSeconds", Value: *ix.ExpireAfterSeconds})
	}
	if ix.Hidden {
		d = append(d, bson.E{Key: "hidden", Value: true})
	}
	d = append(d, ix.Extra...)
	if ix.PrepareUnique {
		d = append(d, bson.E{Key: "prepareUnique", Value: true})
	}
	if len(ix.Collation) > 0 && !mql.IsSimpleCollation(ix.Collation) {
		d = append(d, bson.E{Key: "collation", Value: ix.Collation})
	}
	return d
}

func cmdListIndexes(ctx context.Context, s *Server, req *request) (bson.D, error) {
	if err := notInTxn(req); err != nil {
		return nil, err
	}
	const cmd = "listIndexes"
	coll, err := collectionArg(req)
	if err != nil {
		return nil, err
	}
	copts := cursorOptions{BatchSize: -1}
	for _, e := range req.Body[1:] {
		switch e.Key {
		case "cursor":
			err = parseCursorOption(cmd, e.Value, &copts)
		case "comment":
			copts.Comment = e.Value
		case "includeBuildUUIDs", "includeIndexBuildInfo":
			_, err = argBool(cmd, e.Key, e.Value)
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
	if err := s.refuseView(ns); err != nil {
		return nil, err
	}
	specs, err := s.engine.ListIndexes(ns)
	if err != nil {
		return nil, err
	}
	out := make([]bson.D, len(specs))
	for i, ix := range specs {
		out[i] = indexEntry(ix)
	}
	if info, ok := s.engine.Collection(ns); ok && len(info.Options.ClusteredIndex) > 0 && len(out) > 0 {
		out[0] = clusteredIndexEntry(info.Options.ClusteredIndex)
	}
	docs, err := toRaw(out)
	if err != nil {
		return nil, err
	}
	return s.newCursor(ctx, req, ns.String(), newSliceSource(docs), copts)
}

func cmdDropIndexes(_ context.Context, s *Server, req *request) (bson.D, error) {
	const cmd = "dropIndexes"
	coll, err := collectionArgOutsideTxn(req)
	if err != nil {
		return nil, err
	}
	var (
		index     any
		haveIndex bool
	)
	for _, e := range req.Body[1:] {
		switch e.Key {
		case "index":
			index, haveIndex = e.Value, true
		default:
			if !isGenericField(e.Key) {
				return nil, unknownField(cmd, e.Key)
			}
		}
	}
	if !haveIndex {
		return nil, missingField(cmd, "index")
	}
	ns := nsOf(req, coll)
	if err := s.refuseView(ns); err != nil {
		return nil, err
	}
	var was int
	switch v := index.(type) {
	case string:
		was, err = s.engine.DropIndexes(ns, []string{v})
	case bson.A:
		names := make([]string, len(v))
		for i, n := range v {
			if names[i], err = argString(cmd, fmt.Sprintf("index.%d", i), n); err != nil {
				return nil, err
			}
		}
		was, err = s.engine.DropIndexes(ns, names)
	case bson.D:
		was, err = s.engine.DropIndexByKey(ns, v)
	default:
		return nil, wrongType(cmd, "index", index, "string or array or object")
	}
	if err != nil {
		return nil, err
	}
	reply := bson.D{{Key: "nIndexesWas", Value: int32(was)}}
	if index == "*" {
		reply = append(reply, bson.E{Key: "msg", Value: "non-_id indexes dropped for collection"})
	}
	return reply, nil
}
