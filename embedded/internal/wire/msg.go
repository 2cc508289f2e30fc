package wire

import (
	"encoding/binary"
	"hash/crc32"
)

// OP_MSG flag bits.
const (
	FlagChecksumPresent uint32 = 1 << 0
	FlagMoreToCome      uint32 = 1 << 1
	FlagExhaustAllowed  uint32 = 1 << 16
	// requiredBitsMask covers bits 0-15: a receiver must reject unknown ones.
	requiredBitsMask uint32 = 0xFFFF
	knownFlags              = FlagChecksumPresent | FlagMoreToCome | FlagExhaustAllowed
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Sequence is an OP_MSG kind-1 section: documents under one identifier
// (e.g. "documents" for insert).
type Sequence struct {
	Identifier string
	Documents  [][]byte
}

// Msg is a decoded OP_MSG. Body and the sequence documents alias the input
// buffer: copy them if the buffer is reused.
type Msg struct {
	Header    Header
	Flags     uint32
	Body      []byte
	Sequences []Sequence
}

// MoreToCome reports whether the sender expects no reply.
func (m *Msg) MoreToCome() bool { return m.Flags&FlagMoreToCome != 0 }

// ExhaustAllowed reports whether the client accepts streamed replies.
func (m *Msg) ExhaustAllowed() bool { return m.Flags&FlagExhaustAllowed != 0 }

// ParseMsg decodes an OP_MSG whose header has already been parsed; b is the
// whole message including the header.
func ParseMsg(h Header, b []byte) (*Msg, error) {
	if len(b) != int(h.Length) {
		return nil, malformed("OP_MSG length %d does not match %d bytes read", h.Length, len(b))
	}
	rest := b[HeaderLen:]
	if len(rest) < 4 {
		return nil, malformed("OP_MSG has no flagBits")
	}
	m := &Msg{Header: h, Flags: binary.LittleEndian.Uint32(rest)}
	rest = rest[4:]
	if unknown := m.Flags & requiredBitsMask &^ knownFlags; unknown != 0 {
		return nil, malformed("OP_MSG has unknown required flag bits 0x%x", unknown)
	}
	if m.Flags&FlagChecksumPresent != 0 {
		if len(rest) < 4 {
			return nil, malformed("OP_MSG checksumPresent is set but there is no room for the checksum")
		}
		end := len(b) - 4
		want := binary.LittleEndian.Uint32(b[end:])
		if got := crc32.Checksum(b[:end], castagnoli); got != want {
			return nil, malformed("OP_MSG CRC-32C checksum mismatch: message says 0x%08x, computed 0x%08x", want, got)
		}
		rest = rest[:len(rest)-4]
	}
	for len(rest) > 0 {
		kind := rest[0]
		rest = rest[1:]
		switch kind {
		case 0:
			if m.Body != nil {
				return nil, malformed("OP_MSG has more than one kind-0 body section")
			}
			doc, r, err := readDocument(rest, "OP_MSG body")
			if err != nil {
				return nil, err
			}
			m.Body, rest = doc, r
		case 1:
			if len(rest) < 4 {
				return nil, malformed("OP_MSG document sequence has no size")
			}
			size := int(int32(binary.LittleEndian.Uint32(rest)))
			if size < 4 || size > len(rest) {
				return nil, malformed("OP_MSG document sequence size %d does not fit the %d bytes left", size, len(rest))
			}
			sec := rest[4:size]
			rest = rest[size:]
			id, sec, err := readCString(sec, "OP_MSG document sequence identifier")
			if err != nil {
				return nil, err
			}
			if id == "" {
				return nil, malformed("OP_MSG document sequence has an empty identifier")
			}
			seq := Sequence{Identifier: id}
			for len(sec) > 0 {
				var doc []byte
				if doc, sec, err = readDocument(sec, "OP_MSG document sequence "+id); err != nil {
					return nil, err
				}
				seq.Documents = append(seq.Documents, doc)
			}
			m.Sequences = append(m.Sequences, seq)
		default:
			return nil, malformed("OP_MSG has unknown section kind %d", kind)
		}
	}
	if m.Body == nil {
		return nil, malformed("OP_MSG has no kind-0 body section")
	}
	return m, nil
}

// AppendMsg appends an OP_MSG with a single body section to dst. flags may
// include FlagMoreToCome (for exhaust replies) and FlagChecksumPresent (a
// CRC-32C is then appended).
func AppendMsg(dst []byte, requestID, responseTo int32, flags uint32, body []byte) []byte {
	start := len(dst)
	dst = appendHeader(dst, requestID, responseTo, OpMsg)
	dst = binary.LittleEndian.AppendUint32(dst, flags)
	dst = append(dst, 0)
	dst = append(dst, body...)
	if flags&FlagChecksumPresent != 0 {
		binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start+4))
		dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
	}
	finish(dst[start:])
	return dst
}

// AppendMsgWithSequences is AppendMsg plus kind-1 sections; tests and fuzz
// seeds use it to build requests the way drivers do.
func AppendMsgWithSequences(dst []byte, requestID int32, flags uint32, body []byte, seqs []Sequence) []byte {
	start := len(dst)
	dst = appendHeader(dst, requestID, 0, OpMsg)
	dst = binary.LittleEndian.AppendUint32(dst, flags)
	dst = append(dst, 0)
	dst = append(dst, body...)
	for _, s := range seqs {
		dst = append(dst, 1)
		sizeAt := len(dst)
		dst = binary.LittleEndian.AppendUint32(dst, 0)
		dst = append(dst, s.Identifier...)
		dst = append(dst, 0)
		for _, d := range s.Documents {
			dst = append(dst, d...)
		}
		binary.LittleEndian.PutUint32(dst[sizeAt:], uint32(len(dst)-sizeAt))
	}
	if flags&FlagChecksumPresent != 0 {
		binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start+4))
		dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
	}
	finish(dst[start:])
	return dst
}
