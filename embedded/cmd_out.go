package embedded

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// parseOut reads the argument of a final $out stage: a collection name in
// the command's database, or {db, coll}.
func parseOut(db string, v any) (engine.Namespace, error) {
	switch x := v.(type) {
	case string:
		if err := validCollectionName(db, x); err != nil {
			return engine.Namespace{}, err
		}
		return engine.Namespace{DB: db, Coll: x}, nil
	case bson.D:
		ns := engine.Namespace{}
		for _, e := range x {
			s, ok := e.Value.(string)
			switch {
			case e.Key == "db" && ok:
				ns.DB = s
			case e.Key == "coll" && ok:
				ns.Coll = s
			case e.Key == "db", e.Key == "coll":
				return ns, wrongType("$out", e.Key, e.Value, "string")
			case e.Key == "timeseries":
				return ns, notSupported("$out to a time-series collection")
			default:
				return ns, unknownField("$out", e.Key)
			}
		}
		if ns.DB == "" || ns.Coll == "" {
			return ns, cmdError(codeFailedToParse, "FailedToParse", "$out requires both 'db' and 'coll'")
		}
		return ns, validCollectionName(ns.DB, ns.Coll)
	}
	return engine.Namespace{}, cmdError(codeFailedToParse, "Location16990",
		"$out only supports a string or object argument, but found %s", typeName(v))
}

// writeOut replaces the contents of target with docs as MongoDB's $out
// does: the documents go to a temporary collection carrying the target's
// options and indexes, which then replaces the target in one rename, so
// readers never see a half-written result. On failure the target is left
// unchanged.
func (s *Server) writeOut(target engine.Namespace, docs []bson.D) (err error) {
	if err := checkWritable(target); err != nil {
		return err
	}
	if err := s.refuseView(target); err != nil {
		return err
	}
	var opts engine.CollectionOptions
	var indexes []engine.IndexSpec
	if info, ok := s.engine.Collection(target); ok {
		opts = info.Options
		specs, err := s.engine.ListIndexes(target)
		if err != nil {
			return err
		}
		for _, ix := range specs {
			if ix.Name != "_id_" {
				indexes = append(indexes, ix)
			}
		}
	}
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	tmp := engine.Namespace{DB: target.DB, Coll: "tmp.agg_out." + hex.EncodeToString(suffix[:])}
	if err := s.engine.CreateCollection(tmp, opts); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = s.engine.DropCollection(tmp)
		}
	}()
	if len(indexes) > 0 {
		if _, err := s.engine.CreateIndexes(tmp, indexes); err != nil {
			return err
		}
	}
	for _, d := range docs {
		if _, err := s.engine.Insert(tmp, d); err != nil {
			return err
		}
	}
	return s.engine.RenameCollection(tmp, target, true)
}
