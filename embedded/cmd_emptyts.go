package embedded

import (
	"go.mongodb.org/mongo-driver/v2/bson"
)

// fillEmptyTimestamps applies MongoDB's rule for Timestamp(0, 0) to an
// inserted document: a top-level field (other than _id) holding the empty
// timestamp is set to the current time, unless the command has
// bypassEmptyTsReplacement. (Replacements get the same rule from the
// update engine; operator and pipeline updates keep empty timestamps.) doc
// is not modified; a copy is returned when something changes.
func (s *Server) fillEmptyTimestamps(doc bson.D, bypass bool) bson.D {
	if bypass {
		return doc
	}
	var out bson.D
	for i, e := range doc {
		ts, ok := e.Value.(bson.Timestamp)
		if !ok || ts.T != 0 || ts.I != 0 || e.Key == "_id" {
			continue
		}
		if out == nil {
			out = append(bson.D(nil), doc...)
		}
		out[i].Value = s.currentTimestamp()
	}
	if out == nil {
		return doc
	}
	return out
}

// currentTimestamp is the value an empty timestamp is replaced with: the
// cluster time, which is never zero once anything was written.
func (s *Server) currentTimestamp() bson.Timestamp {
	if ts := s.engine.ClusterTime(); ts.T != 0 {
		return ts
	}
	return bson.Timestamp{T: uint32(s.cfg.Clock().Unix()), I: 1}
}
