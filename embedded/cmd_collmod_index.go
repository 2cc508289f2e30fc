package embedded

import (
	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// parseIndexMod parses collMod's index option: {keyPattern | name,
// expireAfterSeconds, hidden, prepareUnique, unique}. forceNonUnique is
// refused by name.
func parseIndexMod(d bson.D) (*engine.IndexMod, error) {
	const cmd = "collMod.index"
	var m engine.IndexMod
	haveTTL := false
	for _, e := range d {
		var err error
		switch e.Key {
		case "name":
			m.Name, err = argString(cmd, e.Key, e.Value)
		case "keyPattern":
			m.KeyPattern, err = argDoc(cmd, e.Key, e.Value)
		case "expireAfterSeconds":
			n, ok := asInt64(e.Value)
			if !ok {
				err = cmdError(codeTypeMismatch, "TypeMismatch", "BSON field 'collMod.index.expireAfterSeconds' is the wrong type '%T', expected a number", e.Value)
			}
			m.ExpireAfterSeconds, haveTTL = n, true
			m.SetTTL = true
		case "hidden":
			var h bool
			h, err = argBool(cmd, e.Key, e.Value)
			m.Hidden = &h
		case "prepareUnique":
			var p bool
			p, err = argBool(cmd, e.Key, e.Value)
			m.PrepareUnique = &p
		case "unique":
			if m.Unique, err = argBool(cmd, e.Key, e.Value); err == nil && !m.Unique {
				err = cmdError(codeBadValue, "BadValue", "collMod.index.unique can only be set to true")
			}
		case "forceNonUnique":
			err = notSupported("BSON field 'collMod.index.%s'", e.Key)
		default:
			err = unknownField(cmd, e.Key)
		}
		if err != nil {
			return nil, err
		}
	}
	if (m.Name == "") == (len(m.KeyPattern) == 0) {
		return nil, cmdError(codeInvalidOptions, "InvalidOptions", "must specify either index name or key pattern in collMod.index")
	}
	if !haveTTL && m.Hidden == nil && m.PrepareUnique == nil && !m.Unique {
		return nil, cmdError(codeInvalidOptions, "InvalidOptions", "no expireAfterSeconds or hidden field in collMod.index")
	}
	return &m, nil
}

// modifyIndex applies a parsed collMod index option and builds mongod's
// reply: expireAfterSeconds_old (when it was a TTL index) and _new.
func (s *Server) modifyIndex(ns engine.Namespace, m engine.IndexMod) (bson.D, error) {
	res, err := s.engine.ModifyIndex(ns, m)
	if err != nil {
		return nil, err
	}
	var reply bson.D
	if m.Hidden != nil {
		reply = append(reply, bson.E{Key: "hidden_old", Value: res.OldHidden}, bson.E{Key: "hidden_new", Value: *m.Hidden})
	}
	if m.PrepareUnique != nil {
		reply = append(reply, bson.E{Key: "prepareUnique_new", Value: *m.PrepareUnique})
	}
	if m.Unique {
		reply = append(reply, bson.E{Key: "unique_new", Value: true})
	}
	if !m.SetTTL {
		return reply, nil
	}
	if res.OldExpireAfterSeconds != nil {
		reply = append(reply, bson.E{Key: "expireAfterSeconds_old", Value: int64(*res.OldExpireAfterSeconds)})
	}
	return append(reply, bson.E{Key: "expireAfterSeconds_new", Value: m.ExpireAfterSeconds}), nil
}
