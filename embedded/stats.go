package embedded

import (
	"sort"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// commandStats counts executed commands for serverStatus
// (metrics.commands.<name>.{total, failed}, as MongoDB reports them).
// The map is built once from the handler registry; only the counters
// change.
type commandStats struct {
	byName  map[string]*commandCounter
	unknown atomic.Int64
}

type commandCounter struct {
	total, failed atomic.Int64
}

func newCommandStats(handlers map[string]handler) *commandStats {
	st := &commandStats{byName: make(map[string]*commandCounter, len(handlers))}
	for name := range handlers {
		st.byName[name] = &commandCounter{}
	}
	return st
}

func (st *commandStats) count(name string, res result) {
	c, ok := st.byName[name]
	if !ok {
		st.unknown.Add(1)
		return
	}
	c.total.Add(1)
	if res.closeConn || (len(res.body) > 0 && res.body[0].Key == "ok" && res.body[0].Value == 0.0) {
		c.failed.Add(1)
	}
}

// doc is metrics.commands: commands that ran at least once, by name.
func (st *commandStats) doc() bson.D {
	names := make([]string, 0, len(st.byName))
	for name, c := range st.byName {
		if c.total.Load() > 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	d := bson.D{{Key: "<UNKNOWN>", Value: st.unknown.Load()}}
	for _, name := range names {
		c := st.byName[name]
		d = append(d, bson.E{Key: name, Value: bson.D{{Key: "failed", Value: c.failed.Load()}, {Key: "total", Value: c.total.Load()}}})
	}
	return d
}
