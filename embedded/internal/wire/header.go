package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Protocol limits the server advertises in hello and enforces on input.
const (
	// MaxMessageSizeBytes is the largest wire message accepted or sent.
	MaxMessageSizeBytes = 48000000
	// MaxBSONObjectSize is the largest BSON document accepted in a message.
	MaxBSONObjectSize = 16 * 1024 * 1024
	// HeaderLen is the size of the standard message header.
	HeaderLen = 16
)

// OpCode identifies the kind of a wire message.
type OpCode int32

// Op codes the server knows about. OP_COMPRESSED is recognised only to be
// rejected with a clear error (compression is never advertised).
const (
	OpReply      OpCode = 1
	OpQuery      OpCode = 2004
	OpCompressed OpCode = 2012
	OpMsg        OpCode = 2013
)

func (o OpCode) String() string {
	switch o {
	case OpReply:
		return "OP_REPLY"
	case OpQuery:
		return "OP_QUERY"
	case OpCompressed:
		return "OP_COMPRESSED"
	case OpMsg:
		return "OP_MSG"
	}
	return fmt.Sprintf("opcode(%d)", int32(o))
}

// ErrMalformed is wrapped by every decoding error caused by bad input.
var ErrMalformed = errors.New("malformed wire message")

// ErrUnsupportedOpCode is wrapped when a well-formed message uses an op code
// the server does not implement (OP_COMPRESSED, OP_INSERT, ...).
var ErrUnsupportedOpCode = errors.New("unsupported op code")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Header is the standard 16-byte message header.
type Header struct {
	Length     int32
	RequestID  int32
	ResponseTo int32
	OpCode     OpCode
}

// ParseHeader decodes the header at the start of b.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, malformed("message of %d bytes is shorter than the 16-byte header", len(b))
	}
	h := Header{
		Length:     int32(binary.LittleEndian.Uint32(b[0:])),
		RequestID:  int32(binary.LittleEndian.Uint32(b[4:])),
		ResponseTo: int32(binary.LittleEndian.Uint32(b[8:])),
		OpCode:     OpCode(int32(binary.LittleEndian.Uint32(b[12:]))),
	}
	if h.Length < HeaderLen {
		return h, malformed("message length %d is shorter than the 16-byte header", h.Length)
	}
	if h.Length > MaxMessageSizeBytes {
		return h, malformed("message length %d exceeds maxMessageSizeBytes %d", h.Length, MaxMessageSizeBytes)
	}
	return h, nil
}

// ReadMessage reads one whole message (header included) from r. buf is
// reused when large enough. io.EOF is returned unchanged when r ends cleanly
// before a new message starts.
func ReadMessage(r io.Reader, buf []byte) ([]byte, error) {
	var hb [HeaderLen]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, malformed("connection closed inside a message header")
		}
		return nil, err
	}
	h, err := ParseHeader(hb[:])
	if err != nil {
		return nil, err
	}
	n := int(h.Length)
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	copy(buf, hb[:])
	if _, err := io.ReadFull(r, buf[HeaderLen:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, malformed("connection closed after %d of %d message bytes", HeaderLen, n)
		}
		return nil, err
	}
	return buf, nil
}

func appendHeader(dst []byte, requestID, responseTo int32, op OpCode) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, 0) // length, patched by finish
	dst = binary.LittleEndian.AppendUint32(dst, uint32(requestID))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(responseTo))
	return binary.LittleEndian.AppendUint32(dst, uint32(op))
}

func finish(msg []byte) []byte {
	binary.LittleEndian.PutUint32(msg, uint32(len(msg)))
	return msg
}

// readCString returns the NUL-terminated string at the start of b and the rest.
func readCString(b []byte, what string) (string, []byte, error) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), b[i+1:], nil
		}
	}
	return "", nil, malformed("%s is not NUL-terminated", what)
}

// readDocument returns the BSON document at the start of b (validated) and the rest.
func readDocument(b []byte, what string) ([]byte, []byte, error) {
	if len(b) < 5 {
		return nil, nil, malformed("%s: %d bytes left, a BSON document needs at least 5", what, len(b))
	}
	n := int(int32(binary.LittleEndian.Uint32(b)))
	if n < 5 || n > len(b) {
		return nil, nil, malformed("%s: BSON length %d does not fit the %d bytes left", what, n, len(b))
	}
	// A document over MaxBSONObjectSize is well-formed: the command layer
	// answers it with BSONObjectTooLarge, as mongod, rather than the
	// connection being dropped (the message length already bounds it).
	doc := b[:n]
	if err := validateBSON(doc); err != nil {
		return nil, nil, malformed("%s: invalid BSON: %v", what, err)
	}
	return doc, b[n:], nil
}
