package gateway

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	mtsync "github.com/mongotide/mongotide/sync"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// parseID reads a document id from a URL: valid JSON is relaxed extended
// JSON ("abc" with quotes, 42, {"$oid":"..."}, {"$date":...}); otherwise 24
// hex digits are an ObjectId and anything else is a string. A string id
// that is valid JSON or 24 hex digits is written as a JSON string: "\"42\"".
func parseID(s string) (any, error) {
	if json.Valid([]byte(s)) {
		var d bson.D
		if err := bson.UnmarshalExtJSON([]byte(`{"v":`+s+`}`), false, &d); err != nil || len(d) != 1 {
			return nil, badQuery("id %q is not valid extended JSON", s)
		}
		if err := checkLiteral(d[0].Value, 0); err != nil {
			return nil, err
		}
		return d[0].Value, nil
	}
	if len(s) == 24 {
		if _, err := hex.DecodeString(s); err == nil {
			return bson.ObjectIDFromHex(s)
		}
	}
	return s, nil
}

func (g *Gateway) handleGetDocument(w http.ResponseWriter, r *http.Request, p Principal) {
	f, ok := g.readable(w, p, r.PathValue("coll"))
	if !ok {
		return
	}
	mode, ok := parseJSONMode(w, r)
	if !ok {
		return
	}
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	// $eq: an id that is a document is compared, never read as operators.
	filter := f.idScopedFilter(p.Owner, bson.D{{Key: "$eq", Value: id}})
	raw, err := f.coll.FindOne(r.Context(), filter).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		// Another owner's document and a missing one look the same.
		writeError(w, http.StatusNotFound, "not_found", "no such document")
		return
	}
	if err != nil {
		g.dbError(w, err)
		return
	}
	b, err := mode.marshal(raw)
	if err != nil {
		g.dbError(w, err)
		return
	}
	// The document's version (the base of a push that edits it), as a
	// header: the body is the document itself.
	v := versionOf(raw)
	w.Header().Set("Mongotide-Version", v)
	w.Header().Set("ETag", `"`+v+`"`)
	w.Header().Set("Cache-Control", "private, no-cache")
	writeJSON(w, http.StatusOK, b)
}

// queryBody is POST /v1/documents/{coll}/query's body, relaxed or
// canonical extended JSON (whatever the answer's json mode).
type queryBody struct {
	Filter     bson.D `bson:"filter"`
	Sort       bson.D `bson:"sort"`
	Limit      int64  `bson:"limit"`
	Projection bson.D `bson:"projection"`
}

func (g *Gateway) handleQuery(w http.ResponseWriter, r *http.Request, p Principal) {
	f, ok := g.readable(w, p, r.PathValue("coll"))
	if !ok {
		return
	}
	mode, ok := parseJSONMode(w, r)
	if !ok {
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	q, err := parseQuery(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_query", err.Error())
		return
	}
	limit := min(q.Limit, int64(g.cfg.MaxQueryLimit))
	if q.Limit <= 0 {
		limit = int64(min(g.cfg.DefaultPageSize, g.cfg.MaxQueryLimit))
	}
	opts := options.Find().SetLimit(limit)
	if len(q.Sort) > 0 {
		opts.SetSort(q.Sort)
	}
	if len(q.Projection) > 0 {
		opts.SetProjection(q.Projection)
	}
	cur, err := f.coll.Find(r.Context(), f.scopedFilter(p.Owner, q.Filter), opts)
	if err != nil {
		g.dbError(w, err)
		return
	}
	defer cur.Close(r.Context())
	var buf bytes.Buffer
	buf.WriteString(`{"documents":[`)
	var versions []string
	each := func(d bson.Raw) { versions = append(versions, versionOf(d)) }
	if len(q.Projection) > 0 {
		each = nil // a projected document is not the stored content
	}
	if _, err := appendDocsJSON(r.Context(), &buf, cur, mode, each); err != nil {
		g.dbError(w, err)
		return
	}
	buf.WriteString(`]`)
	if each != nil {
		appendVersions(&buf, versions)
	}
	buf.WriteString(`}`)
	w.Header().Set("Cache-Control", "private, no-cache")
	writeJSON(w, http.StatusOK, buf.Bytes())
}

// parseQuery decodes and checks a query body. Unknown fields are refused,
// so that a misspelt "filter" is not a query for everything.
func parseQuery(body []byte) (queryBody, error) {
	var q queryBody
	var d bson.D
	if err := bson.UnmarshalExtJSON(body, false, &d); err != nil {
		return q, badQuery("the body is not a JSON object: %v", err)
	}
	for _, e := range d {
		if !slices.Contains([]string{"filter", "sort", "limit", "projection"}, e.Key) {
			return q, badQuery("unknown field %q (known: filter, sort, limit, projection)", e.Key)
		}
	}
	raw, err := bson.Marshal(d)
	if err == nil {
		err = bson.Unmarshal(raw, &q)
	}
	if err != nil {
		return q, badQuery("%v", err)
	}
	if err := checkFilter(q.Filter, 0); err != nil {
		return q, err
	}
	if err := checkSort(q.Sort); err != nil {
		return q, err
	}
	if err := checkProjection(q.Projection); err != nil {
		return q, err
	}
	return q, nil
}

// dbError answers a failed database call: the database refusing the query
// is the client's mistake (400), anything else is 503 or 500.
func (g *Gateway) dbError(w http.ResponseWriter, err error) {
	var se mongo.ServerError
	switch {
	case mongo.IsNetworkError(err) || mongo.IsTimeout(err):
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the database is not reachable")
	case errors.As(err, &se):
		writeError(w, http.StatusBadRequest, "bad_query", "the database refused the query")
	default:
		g.cfg.Logger.Error("gateway: database", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "reading documents failed")
	}
}

// appendDocsJSON appends cur's documents to buf as comma-separated
// extended JSON in mode m and returns how many; each (when not nil) sees
// every document.
func appendDocsJSON(ctx context.Context, buf *bytes.Buffer, cur *mongo.Cursor, m jsonMode, each func(bson.Raw)) (int, error) {
	n := 0
	for cur.Next(ctx) {
		b, err := m.marshal(cur.Current)
		if err != nil {
			return n, err
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		buf.Write(b)
		if each != nil {
			each(cur.Current)
		}
		n++
	}
	return n, cur.Err()
}

// appendVersions appends ,"versions":[...]: the version of each document
// of the "documents" array before it, in the same order.
func appendVersions(buf *bytes.Buffer, versions []string) {
	if versions == nil {
		versions = []string{}
	}
	b, _ := json.Marshal(versions)
	buf.WriteString(`,"versions":`)
	buf.Write(b)
}

// versionOf is the "version" of a stored document: sync's content hash of
// its exact BSON, which names its content for pushes and sync replicas
// alike.
func versionOf(doc bson.Raw) string { return mtsync.ContentHash(doc) }
