// Package wire decodes and encodes the MongoDB wire protocol messages the
// embedded server speaks: OP_MSG (with document sequences, checksums and the
// moreToCome/exhaustAllowed flags), the legacy OP_QUERY that drivers use for
// the initial handshake, and the OP_REPLY that answers it.
//
// Every decoder validates lengths and BSON before returning, so callers can
// trust what they get; malformed input yields an error wrapping ErrMalformed
// and never a panic.
package wire
