package gateway

import (
	_ "embed"
	"net/http"
)

// openAPIDoc is the API description served at /v1/openapi.json; the tests
// check that its paths and the routes served are the same set.
//
//go:embed openapi.json
var openAPIDoc []byte

func handleOpenAPI(w http.ResponseWriter, _ *http.Request, _ Principal) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, openAPIDoc)
}
