package embedded

import (
	"fmt"
	"strings"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// codeCollectionUUIDMismatch is CollectionUUIDMismatch (361).
const codeCollectionUUIDMismatch int32 = 361

// checkCollectionUUID fails with 361 CollectionUUIDMismatch, as mongod
// does, when a command names the collection it means by UUID (bulkWrite's
// nsInfo.collectionUUID) and ns is not that collection: missing, or
// dropped and recreated since. want nil means no check.
func (s *Server) checkCollectionUUID(ns engine.Namespace, want *bson.Binary) error {
	if want == nil {
		return nil
	}
	got := s.engine.CollectionUUID(ns)
	if string(got) == string(want.Data) {
		return nil
	}
	var actual any // null: no collection has that UUID here
	for _, info := range s.engine.ListCollections(ns.DB) {
		if string(info.UUID.Data) == string(want.Data) {
			actual = info.Name
		}
	}
	ce := errorf(codeCollectionUUIDMismatch, "CollectionUUIDMismatch",
		"Collection UUID %s does not match that of the collection %s", uuidString(want.Data), ns)
	ce.Extra = bson.D{
		{Key: "db", Value: ns.DB},
		{Key: "collectionUUID", Value: *want},
		{Key: "expectedCollection", Value: ns.Coll},
		{Key: "actualCollection", Value: actual},
	}
	return statementError{ce}
}

// statementError is a command error that fails only its statement of a
// write command (a write error), with its extra fields (errInfo-like).
type statementError struct{ *commandError }

// uuidString formats a UUID as mongod prints it.
func uuidString(b []byte) string {
	if len(b) != 16 {
		return fmt.Sprintf("%x", b)
	}
	h := fmt.Sprintf("%x", b)
	return strings.Join([]string{h[:8], h[8:12], h[12:16], h[16:20], h[20:]}, "-")
}
