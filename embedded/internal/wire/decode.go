package wire

import "fmt"

// Message is a decoded client message: *Msg or *Query.
type Message interface {
	header() Header
}

func (m *Msg) header() Header   { return m.Header }
func (q *Query) header() Header { return q.Header }

// HeaderOf returns the header of a decoded message.
func HeaderOf(m Message) Header { return m.header() }

// Decode decodes one complete client message (as returned by ReadMessage).
// Errors wrap ErrMalformed for bad bytes and ErrUnsupportedOpCode for op
// codes the server does not speak, including OP_COMPRESSED (the server never
// advertises compression, so a client must not send it).
func Decode(b []byte) (Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	if int(h.Length) != len(b) {
		return nil, malformed("header length %d does not match %d bytes", h.Length, len(b))
	}
	switch h.OpCode {
	case OpMsg:
		return ParseMsg(h, b)
	case OpQuery:
		return ParseQuery(h, b)
	case OpCompressed:
		return nil, fmt.Errorf("%w: OP_COMPRESSED: compression was not negotiated (the server advertises no compressors)", ErrUnsupportedOpCode)
	}
	return nil, fmt.Errorf("%w: %s (only OP_MSG, and OP_QUERY for the handshake, are supported)", ErrUnsupportedOpCode, h.OpCode)
}
