package embedded

import (
	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// normalizeTextIndex rewrites a text index as mongod stores it: the text
// fields become {_fts: "text", _ftsx: 1} (other fields keep their place
// before or after), their weights (1 unless given) go to weights, and
// default_language, language_override and textIndexVersion get mongod's
// defaults. listIndexes then reports it, and dropIndexes finds it by that
// key, as on mongod. Other indexes are returned unchanged.
func normalizeTextIndex(spec engine.IndexSpec) (engine.IndexSpec, error) {
	isText := func(v any) bool { s, ok := v.(string); return ok && s == "text" }
	first, last := -1, -1
	for i, e := range spec.Key {
		if isText(e.Value) {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 || (len(spec.Key) == 2 && spec.Key[0].Key == "_fts") {
		return spec, nil
	}
	for _, e := range spec.Key[first:last] {
		if !isText(e.Value) {
			return spec, cmdError(codeCannotCreateIndex, "CannotCreateIndex",
				"Error in specification %v :: caused by :: expected the text fields of a text index to be together, found %s", spec.Doc(), e.Key)
		}
	}
	weights := bson.D{}
	for _, e := range spec.Key[first : last+1] {
		weights = append(weights, bson.E{Key: e.Key, Value: int32(1)})
	}
	extra := bson.D{}
	set := map[string]bool{}
	for _, e := range spec.Extra {
		set[e.Key] = true
		if e.Key != "weights" {
			extra = append(extra, e)
			continue
		}
		given, ok := e.Value.(bson.D)
		if !ok {
			return spec, cmdError(codeTypeMismatch, "TypeMismatch", "text index option 'weights' must be an object")
		}
		for _, w := range given {
			found := false
			for i := range weights {
				if weights[i].Key == w.Key {
					weights[i].Value, found = w.Value, true
				}
			}
			if !found {
				weights = append(weights, w)
			}
		}
	}
	key := append(bson.D{}, spec.Key[:first]...)
	key = append(key, bson.E{Key: "_fts", Value: "text"}, bson.E{Key: "_ftsx", Value: int32(1)})
	spec.Key = append(key, spec.Key[last+1:]...)
	out := bson.D{{Key: "weights", Value: weights}}
	for _, d := range []bson.E{
		{Key: "default_language", Value: "english"},
		{Key: "language_override", Value: "language"},
		{Key: "textIndexVersion", Value: int32(3)},
	} {
		if !set[d.Key] {
			extra = append(extra, d)
		}
	}
	spec.Extra = append(out, extra...)
	return spec, nil
}

// checkTextQuery answers a $text filter as mongod does when ns has no text
// index (27 IndexNotFound); with one, it is refused by name, since text
// indexes here serve no query.
func (s *Server) checkTextQuery(ns engine.Namespace, filter bson.D) error {
	text := false
	for _, e := range filter {
		text = text || e.Key == "$text"
	}
	if !text {
		return nil
	}
	specs, _ := s.engine.ListIndexes(ns)
	for _, ix := range specs {
		for _, k := range ix.Key {
			if k.Key == "_fts" {
				return notSupported("$text queries (text indexes are created and listed but serve no query)")
			}
		}
	}
	return cmdError(engine.CodeIndexNotFound, "IndexNotFound", "text index required for $text query")
}
