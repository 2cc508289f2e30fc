package unified

import (
	"context"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// checkRequirements returns nil when reqs is empty or any one of them is met,
// otherwise a skip naming why each was not met.
func (r *Runner) checkRequirements(ctx context.Context, level string, reqs []bson.D) error {
	if len(reqs) == 0 {
		return nil
	}
	var why []string
	for _, req := range reqs {
		reason, err := r.unmet(ctx, req)
		if err != nil {
			return err
		}
		if reason == "" {
			return nil
		}
		why = append(why, reason)
	}
	return skipf("%s runOnRequirements not met: %s", level, strings.Join(why, "; or "))
}

// unmet returns "" when req is satisfied, else the first unmet condition.
func (r *Runner) unmet(ctx context.Context, req bson.D) (string, error) {
	for _, e := range req {
		switch e.Key {
		case "minServerVersion", "maxServerVersion":
			s, _ := e.Value.(string)
			v, err := parseVersion(s)
			if err != nil {
				return "", fmt.Errorf("runOnRequirements %s: %w", e.Key, err)
			}
			c := compareVersions(r.version, v)
			if e.Key == "minServerVersion" && c < 0 {
				return fmt.Sprintf("server %s < minServerVersion %s", r.versionS, s), nil
			}
			if e.Key == "maxServerVersion" && c > 0 {
				return fmt.Sprintf("server %s > maxServerVersion %s", r.versionS, s), nil
			}
		case "topologies":
			ok := false
			var names []string
			for _, x := range asArray(e.Value) {
				t, _ := x.(string)
				names = append(names, t)
				// "sharded" accepts any sharded cluster; since 3.6 all shards
				// are replica sets, so "sharded-replicaset" is the same here.
				if t == r.topology || (r.topology == "sharded" && t == "sharded-replicaset") {
					ok = true
				}
			}
			if !ok {
				return fmt.Sprintf("topology %s not in %v", r.topology, names), nil
			}
		case "serverless":
			s, _ := e.Value.(string)
			if s == "require" && !r.cfg.Serverless {
				return "requires serverless", nil
			}
			if s == "forbid" && r.cfg.Serverless {
				return "forbids serverless", nil
			}
		case "auth":
			b, _ := e.Value.(bool)
			if b != r.auth {
				if b {
					return "requires authentication", nil
				}
				return "requires no authentication", nil
			}
		case "serverParameters":
			params, _ := e.Value.(bson.D)
			for _, p := range params {
				got, ok := r.serverParameter(ctx, p.Key)
				if !ok {
					return fmt.Sprintf("server parameter %s unavailable", p.Key), nil
				}
				if (&matcher{ents: newEntityMap()}).match(p.Value, got, true, false, p.Key) != nil {
					return fmt.Sprintf("server parameter %s is %s, want %s", p.Key, jsonString(got), jsonString(p.Value)), nil
				}
			}
		case "csfle":
			if b, _ := e.Value.(bool); b {
				return "requires client-side field level encryption", nil
			}
		default:
			return fmt.Sprintf("unsupported requirement %q", e.Key), nil
		}
	}
	return "", nil
}

// serverParameter fetches (and caches) one getParameter value; a server that
// does not know the parameter, or refuses getParameter, reports !ok.
func (r *Runner) serverParameter(ctx context.Context, name string) (any, bool) {
	if v, ok := r.params[name]; ok {
		return v, v != nil
	}
	var reply bson.D
	err := r.internal.Database("admin").RunCommand(ctx, bson.D{{Key: "getParameter", Value: 1}, {Key: name, Value: 1}}).Decode(&reply)
	var v any
	if err == nil {
		v, _ = lookup(reply, name)
	}
	r.params[name] = v
	return v, v != nil
}
