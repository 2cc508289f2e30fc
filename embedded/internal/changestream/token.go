package changestream

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// tokenKind distinguishes what a resume token stands for. The values order
// tokens that share a position: an event (and its fragments) comes first,
// then the invalidate it caused, then the high-water mark "everything up to
// and including this position".
type tokenKind uint8

const (
	kindEvent      tokenKind = 0x10
	kindInvalidate tokenKind = 0x20
	kindHighWater  tokenKind = 0x30
)

// token is the decoded content of a resume token's _data.
//
// Layout (big endian, hex encoded in upper case, 18 bytes):
//
//	0x82 | TS.T (4) | TS.I (4) | Index (4) | kind (1) | fragment (4)
//
// The leading 0x82 and the timestamp mimic MongoDB's KeyString tokens, so
// tools that peek at a token's cluster time keep working, and byte order
// equals stream order, so tokens compare lexicographically.
type token struct {
	pos  engine.Position
	kind tokenKind
	// frag is the 1-based fragment number of a split event, 0 otherwise.
	frag uint32
}

const (
	tokenPrefix  = 0x82
	tokenBinSize = 18
	tokenHexSize = 2 * tokenBinSize
)

func (t token) binary() [tokenBinSize]byte {
	var b [tokenBinSize]byte
	b[0] = tokenPrefix
	binary.BigEndian.PutUint32(b[1:], t.pos.TS.T)
	binary.BigEndian.PutUint32(b[5:], t.pos.TS.I)
	binary.BigEndian.PutUint32(b[9:], t.pos.Index)
	b[13] = byte(t.kind)
	binary.BigEndian.PutUint32(b[14:], t.frag)
	return b
}

const upperHex = "0123456789ABCDEF"

// hex returns the _data string.
func (t token) hex() string {
	var out [tokenHexSize]byte
	t.putHex(out[:])
	return string(out[:])
}

func (t token) putHex(dst []byte) {
	b := t.binary()
	for i, c := range b {
		dst[2*i] = upperHex[c>>4]
		dst[2*i+1] = upperHex[c&0x0f]
	}
}

// appendDoc appends the token document {_data: "<hex>"} (without a key).
func (t token) appendDoc(dst []byte) []byte {
	// int32 length, string element header "_data", string length, 36 hex
	// bytes, NUL, document terminator.
	const size = 4 + 1 + 6 + 4 + tokenHexSize + 1 + 1
	dst = binary.LittleEndian.AppendUint32(dst, size)
	dst = append(dst, byte(bsoncore.TypeString))
	dst = append(dst, "_data\x00"...)
	dst = binary.LittleEndian.AppendUint32(dst, tokenHexSize+1)
	n := len(dst)
	dst = append(dst, make([]byte, tokenHexSize)...)
	t.putHex(dst[n:])
	return append(dst, 0, 0)
}

// raw returns the token document.
func (t token) raw() bson.Raw {
	return bson.Raw(t.appendDoc(make([]byte, 0, 48)))
}

// compare orders tokens as their bytes (and so their hex strings) order.
func (t token) compare(u token) int {
	a, b := t.binary(), u.binary()
	return bytes.Compare(a[:], b[:])
}

// tokenData checks the shape of a resume token document as given in
// resumeAfter or startAfter and returns its _data string.
func tokenData(field string, v any) (string, error) {
	doc, ok := asDoc(v)
	if !ok {
		return "", errorf(CodeTypeMismatch, "TypeMismatch",
			"BSON field '$changeStream.%s' is the wrong type '%s', expected type 'object'", field, typeName(v))
	}
	var (
		data    any
		hasData bool
	)
	for _, e := range doc {
		switch e.Key {
		case "_data":
			data, hasData = e.Value, true
		case "_typeBits":
			if b, ok := e.Value.(bson.Binary); !ok || b.Subtype != 0 {
				return "", location(CodeBadTokenTypeBits, "Bad resume token: _typeBits of wrong type %s", docString(doc))
			}
		}
	}
	s, ok := data.(string)
	if !hasData || !ok {
		return "", location(CodeBadTokenData,
			"Bad resume token: _data of missing or of wrong type. Expected string, got %s", docString(doc))
	}
	return s, nil
}

// decodeTokenData decodes a token's _data string, with MongoDB's error codes
// for each kind of damage.
func decodeTokenData(s string) (token, error) {
	raw, err := hex.DecodeString(s)
	if err != nil {
		return token{}, errorf(CodeFailedToParse, "FailedToParse", "resume token string was not a valid hex string")
	}
	if len(raw) == 0 {
		return token{}, location(CodeEmptyToken, "invalid empty resume token")
	}
	if raw[0] != tokenPrefix {
		return token{}, location(CodeKeyStringFormat, "KeyString format error: Unknown type: %d", raw[0])
	}
	if len(raw) != tokenBinSize {
		return token{}, location(CodeKeyStringFormat,
			"KeyString format error: resume token has %d bytes, expected %d", len(raw), tokenBinSize)
	}
	t := token{
		pos: engine.Position{
			TS:    bson.Timestamp{T: binary.BigEndian.Uint32(raw[1:]), I: binary.BigEndian.Uint32(raw[5:])},
			Index: binary.BigEndian.Uint32(raw[9:]),
		},
		kind: tokenKind(raw[13]),
		frag: binary.BigEndian.Uint32(raw[14:]),
	}
	switch t.kind {
	case kindEvent:
	case kindInvalidate, kindHighWater:
		if t.frag != 0 {
			return token{}, location(CodeKeyStringFormat, "KeyString format error: fragment number on a non-event token")
		}
	default:
		return token{}, location(CodeKeyStringFormat, "KeyString format error: Unknown token type: %d", raw[13])
	}
	return t, nil
}

// prevPos returns the greatest position strictly before p.
func prevPos(p engine.Position) engine.Position {
	switch {
	case p.Index > 0:
		p.Index--
		return p
	case p.TS.I > 0:
		return engine.Position{TS: bson.Timestamp{T: p.TS.T, I: p.TS.I - 1}, Index: ^uint32(0)}
	case p.TS.T > 0:
		return engine.Position{TS: bson.Timestamp{T: p.TS.T - 1, I: ^uint32(0)}, Index: ^uint32(0)}
	}
	return engine.Position{}
}
