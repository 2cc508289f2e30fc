package gateway

import (
	"net/http"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// jsonMode is how an answer writes BSON values, chosen per request with
// the query parameter json: relaxed extended JSON (the default; plain JSON
// numbers, readable by any JSON parser) or canonical extended JSON, which
// names every value's type. Relaxed loses types on the way back: an int64
// that fits in 32 bits is written as a plain number, which a reader takes
// for an int32, so the document it rebuilds has another content hash than
// the server's. A client that keeps documents as BSON (and versions as
// their hashes) asks for canonical.
type jsonMode bool

const (
	relaxedJSON   jsonMode = false
	canonicalJSON jsonMode = true
)

// parseJSONMode reads the json query parameter; false means it answered
// the error.
func parseJSONMode(w http.ResponseWriter, r *http.Request) (jsonMode, bool) {
	switch r.URL.Query().Get("json") {
	case "", "relaxed":
		return relaxedJSON, true
	case "canonical":
		return canonicalJSON, true
	}
	writeError(w, http.StatusBadRequest, "bad_request", `json must be "relaxed" or "canonical"`)
	return relaxedJSON, false
}

// marshal writes v (a document) as extended JSON in mode m.
func (m jsonMode) marshal(v any) ([]byte, error) {
	return bson.MarshalExtJSON(v, bool(m), false)
}

// value writes one BSON value as extended JSON in mode m (an _id, a
// snapshot page's next).
func (m jsonMode) value(v bson.RawValue) ([]byte, error) {
	b, err := m.marshal(bson.D{{Key: "v", Value: v}})
	if err != nil {
		return nil, err
	}
	// {"v":X}
	return b[len(`{"v":`) : len(b)-1], nil
}
