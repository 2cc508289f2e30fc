package embedded

import (
	"crypto/sha256"
	"sort"
	"time"

	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// listLocalSessions runs an {aggregate: 1} pipeline that starts with
// $listLocalSessions: one document per session in this server's session
// cache, {_id: {id, uid}, lastUse}, through the rest of the pipeline.
func (s *Server) listLocalSessions(pipeline []bson.D) ([]bson.Raw, error) {
	spec, ok := pipeline[0][0].Value.(bson.D)
	if !ok {
		return nil, cmdError(codeTypeMismatch, "TypeMismatch", "$listLocalSessions options must be specified in an object, but found: %s", typeName(pipeline[0][0].Value))
	}
	onlyUsers := false
	for _, e := range spec {
		switch e.Key {
		case "allUsers":
			if _, err := argBool("$listLocalSessions", e.Key, e.Value); err != nil {
				return nil, err
			}
		case "users":
			users, err := argDocs("$listLocalSessions", e.Key, e.Value)
			if err != nil {
				return nil, err
			}
			// Without authentication no session belongs to a named user.
			onlyUsers = len(users) > 0
		default:
			return nil, unknownField("$listLocalSessions", e.Key)
		}
	}
	for _, st := range pipeline[1:] {
		if len(st) > 0 && st[0].Key == "$listLocalSessions" {
			return nil, cmdError(40602, "Location40602", "$listLocalSessions is only valid as the first stage in a pipeline")
		}
	}
	var docs []bson.D
	if !onlyUsers {
		docs = s.sessions.list()
	}
	p, err := mql.NewPipeline(pipeline[1:], mql.PipelineOptions{})
	if err != nil {
		return nil, err
	}
	out, err := p.Run(docs)
	if err != nil {
		return nil, err
	}
	return toRaw(out)
}

// noUserUID is the uid of sessions without an authenticated user: the
// SHA-256 of the empty user name, as mongod computes it.
var noUserUID = func() bson.Binary {
	h := sha256.Sum256(nil)
	return bson.Binary{Subtype: 0, Data: h[:]}
}()

// list describes the cached sessions, oldest use first.
func (t *sessionTable) list() []bson.D {
	t.mu.Lock()
	type entry struct {
		key     string
		lastUse int64
	}
	all := make([]entry, 0, len(t.m))
	for k, s := range t.m {
		all = append(all, entry{k, s.lastUse.Load()})
	}
	t.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].lastUse < all[j].lastUse })
	out := make([]bson.D, len(all))
	for i, e := range all {
		out[i] = bson.D{
			{Key: "_id", Value: bson.D{
				{Key: "id", Value: bson.Binary{Subtype: 4, Data: []byte(e.key)}},
				{Key: "uid", Value: noUserUID},
			}},
			{Key: "lastUse", Value: bson.NewDateTimeFromTime(time.Unix(0, e.lastUse))},
		}
	}
	return out
}
