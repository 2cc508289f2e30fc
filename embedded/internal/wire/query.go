package wire

import (
	"encoding/binary"
)

// Query is a decoded legacy OP_QUERY. The server accepts it only for the
// connection handshake (isMaster/hello on admin.$cmd), as MongoDB 5.1+ does.
type Query struct {
	Header             Header
	Flags              int32
	FullCollectionName string
	NumberToSkip       int32
	NumberToReturn     int32
	Query              []byte
	// ReturnFieldsSelector is nil when absent.
	ReturnFieldsSelector []byte
}

// ParseQuery decodes an OP_QUERY whose header has already been parsed; b is
// the whole message including the header.
func ParseQuery(h Header, b []byte) (*Query, error) {
	if len(b) != int(h.Length) {
		return nil, malformed("OP_QUERY length %d does not match %d bytes read", h.Length, len(b))
	}
	rest := b[HeaderLen:]
	if len(rest) < 4 {
		return nil, malformed("OP_QUERY has no flags")
	}
	q := &Query{Header: h, Flags: int32(binary.LittleEndian.Uint32(rest))}
	var err error
	if q.FullCollectionName, rest, err = readCString(rest[4:], "OP_QUERY fullCollectionName"); err != nil {
		return nil, err
	}
	if len(rest) < 8 {
		return nil, malformed("OP_QUERY is truncated before numberToSkip/numberToReturn")
	}
	q.NumberToSkip = int32(binary.LittleEndian.Uint32(rest))
	q.NumberToReturn = int32(binary.LittleEndian.Uint32(rest[4:]))
	if q.Query, rest, err = readDocument(rest[8:], "OP_QUERY query"); err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		if q.ReturnFieldsSelector, rest, err = readDocument(rest, "OP_QUERY returnFieldsSelector"); err != nil {
			return nil, err
		}
	}
	if len(rest) > 0 {
		return nil, malformed("OP_QUERY has %d trailing bytes", len(rest))
	}
	return q, nil
}

// AppendQuery appends an OP_QUERY (used by tests and fuzz seeds to act like
// a driver handshake).
func AppendQuery(dst []byte, requestID int32, collection string, query []byte) []byte {
	start := len(dst)
	dst = appendHeader(dst, requestID, 0, OpQuery)
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	dst = append(dst, collection...)
	dst = append(dst, 0)
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(0xFFFFFFFF)) // numberToReturn -1
	dst = append(dst, query...)
	finish(dst[start:])
	return dst
}

// OP_REPLY responseFlags bits.
const (
	ReplyCursorNotFound int32 = 1 << 0
	ReplyQueryFailure   int32 = 1 << 1
	ReplyAwaitCapable   int32 = 1 << 3
)

// AppendReply appends an OP_REPLY carrying one document, answering a legacy
// OP_QUERY.
func AppendReply(dst []byte, requestID, responseTo int32, flags int32, doc []byte) []byte {
	start := len(dst)
	dst = appendHeader(dst, requestID, responseTo, OpReply)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(flags))
	dst = binary.LittleEndian.AppendUint64(dst, 0) // cursorID
	dst = binary.LittleEndian.AppendUint32(dst, 0) // startingFrom
	dst = binary.LittleEndian.AppendUint32(dst, 1) // numberReturned
	dst = append(dst, doc...)
	finish(dst[start:])
	return dst
}

// Reply is a decoded OP_REPLY (tests read the server's handshake answers).
type Reply struct {
	Header         Header
	Flags          int32
	CursorID       int64
	StartingFrom   int32
	NumberReturned int32
	Documents      [][]byte
}

// ParseReply decodes an OP_REPLY; b is the whole message including the header.
func ParseReply(h Header, b []byte) (*Reply, error) {
	if len(b) != int(h.Length) {
		return nil, malformed("OP_REPLY length %d does not match %d bytes read", h.Length, len(b))
	}
	rest := b[HeaderLen:]
	if len(rest) < 20 {
		return nil, malformed("OP_REPLY is truncated")
	}
	r := &Reply{
		Header:         h,
		Flags:          int32(binary.LittleEndian.Uint32(rest)),
		CursorID:       int64(binary.LittleEndian.Uint64(rest[4:])),
		StartingFrom:   int32(binary.LittleEndian.Uint32(rest[12:])),
		NumberReturned: int32(binary.LittleEndian.Uint32(rest[16:])),
	}
	rest = rest[20:]
	for len(rest) > 0 {
		doc, r2, err := readDocument(rest, "OP_REPLY document")
		if err != nil {
			return nil, err
		}
		r.Documents = append(r.Documents, doc)
		rest = r2
	}
	if int(r.NumberReturned) != len(r.Documents) {
		return nil, malformed("OP_REPLY numberReturned %d but %d documents", r.NumberReturned, len(r.Documents))
	}
	return r, nil
}
