package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// handleSnapshot pages a collection's current documents by _id for an
// initial sync. The first page (no after) captures the collection's stream
// position before reading and returns it as a pull cursor: every change
// committed after the snapshot's reads is after that cursor, so a client
// that stores the pages and then pulls from the cursor misses nothing (a
// change may arrive twice: once in a page, once pulled; apply changes as
// upserts and deletes by _id).
func (g *Gateway) handleSnapshot(w http.ResponseWriter, r *http.Request, p Principal) {
	q := r.URL.Query()
	f, ok := g.readable(w, p, q.Get("collection"))
	if !ok {
		return
	}
	limit, ok := parseLimit(w, q.Get("limit"), g.cfg.DefaultPageSize, g.cfg.MaxPageSize)
	if !ok {
		return
	}
	mode, ok := parseJSONMode(w, r)
	if !ok {
		return
	}
	var cur string
	filter := f.scopedFilter(p.Owner, bson.D{})
	if after := q.Get("after"); after != "" {
		id, err := parseID(after)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		filter = f.idScopedFilter(p.Owner, bson.D{{Key: "$gt", Value: id}})
	} else {
		pos, err := f.now(r.Context())
		if err == nil {
			cur, err = g.cursorFor(p.Owner, []string{f.name}, []position{pos})
		}
		if err != nil {
			g.pageError(w, err)
			return
		}
	}
	c, err := f.coll.Find(r.Context(), filter,
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		g.dbError(w, err)
		return
	}
	defer c.Close(r.Context())
	var buf bytes.Buffer
	buf.WriteString(`{"documents":[`)
	var last bson.RawValue
	var versions []string
	n, err := appendDocsJSON(r.Context(), &buf, c, mode, func(d bson.Raw) {
		last = d.Lookup("_id")
		versions = append(versions, versionOf(d))
	})
	if err != nil {
		g.dbError(w, err)
		return
	}
	buf.WriteString(`]`)
	appendVersions(&buf, versions)
	buf.WriteString(`,"next":`)
	if n == limit {
		// next is the last _id as extended JSON (in the answer's mode, so
		// that an int64 _id stays one), ready to be sent back as after=.
		b, err := mode.value(last)
		if err != nil {
			g.dbError(w, err)
			return
		}
		next, _ := json.Marshal(string(b))
		buf.Write(next)
	} else {
		buf.WriteString("null")
	}
	if cur != "" {
		buf.WriteString(`,"cursor":`)
		b, _ := json.Marshal(cur)
		buf.Write(b)
	}
	buf.WriteString("}")
	g.served.Add(int64(n))
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, buf.Bytes())
}
