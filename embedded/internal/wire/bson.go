package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// maxNesting bounds recursion in validateBSON; MongoDB itself allows 100
// levels plus a little headroom for the command envelope.
const maxNesting = 200

// validateBSON checks a whole BSON document, recursively, so that later
// decoding of any part of it cannot hit truncated or inconsistent data. The
// driver's own Validate only checks the top level.
func validateBSON(b []byte) error {
	rest, err := validateDoc(b, 0)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return errors.New("trailing bytes after document")
	}
	return nil
}

// validateDoc validates the document at the start of b and returns what follows it.
func validateDoc(b []byte, depth int) ([]byte, error) {
	if depth > maxNesting {
		return nil, fmt.Errorf("nesting deeper than %d levels", maxNesting)
	}
	if len(b) < 5 {
		return nil, errors.New("document shorter than 5 bytes")
	}
	n := int(int32(binary.LittleEndian.Uint32(b)))
	if n < 5 || n > len(b) {
		return nil, fmt.Errorf("document length %d does not fit %d available bytes", n, len(b))
	}
	doc, rest := b[4:n], b[n:]
	if doc[len(doc)-1] != 0 {
		return nil, errors.New("document does not end with a NUL byte")
	}
	doc = doc[:len(doc)-1]
	for len(doc) > 0 {
		t := doc[0]
		doc = doc[1:]
		i := indexNUL(doc)
		if i < 0 {
			return nil, errors.New("element name is not NUL-terminated")
		}
		doc = doc[i+1:]
		var err error
		if doc, err = validateValue(t, doc, depth); err != nil {
			return nil, err
		}
	}
	return rest, nil
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

func fixed(b []byte, n int, what string) ([]byte, error) {
	if len(b) < n {
		return nil, fmt.Errorf("%s needs %d bytes, %d left", what, n, len(b))
	}
	return b[n:], nil
}

func validateString(b []byte) ([]byte, error) {
	if len(b) < 4 {
		return nil, errors.New("string length truncated")
	}
	n := int(int32(binary.LittleEndian.Uint32(b)))
	if n < 1 || n > len(b)-4 {
		return nil, fmt.Errorf("string length %d does not fit %d available bytes", n, len(b)-4)
	}
	if b[4+n-1] != 0 {
		return nil, errors.New("string is not NUL-terminated")
	}
	return b[4+n:], nil
}

func validateValue(t byte, b []byte, depth int) ([]byte, error) {
	switch t {
	case 0x01, 0x09, 0x11, 0x12: // double, datetime, timestamp, int64
		return fixed(b, 8, "8-byte value")
	case 0x02, 0x0D, 0x0E: // string, JavaScript, symbol
		return validateString(b)
	case 0x03, 0x04: // document, array
		return validateDoc(b, depth+1)
	case 0x05: // binary
		if len(b) < 5 {
			return nil, errors.New("binary header truncated")
		}
		n := int(int32(binary.LittleEndian.Uint32(b)))
		if n < 0 || n > len(b)-5 {
			return nil, fmt.Errorf("binary length %d does not fit %d available bytes", n, len(b)-5)
		}
		// Subtype 2 (old binary) repeats the length inside the payload,
		// and readers (the Go driver's among them) trust the inner one:
		// it must be the outer length less its own 4 bytes, as the BSON
		// corpus's "subtype 0x02 length too long/short" cases require.
		if b[4] == 0x02 {
			if n < 4 {
				return nil, fmt.Errorf("old binary (subtype 2) length %d is shorter than its inner length field", n)
			}
			if inner := int(int32(binary.LittleEndian.Uint32(b[5:]))); inner != n-4 {
				return nil, fmt.Errorf("old binary (subtype 2) inner length %d is not the outer length %d less 4", inner, n)
			}
		}
		return b[5+n:], nil
	case 0x06, 0x0A, 0xFF, 0x7F: // undefined, null, minKey, maxKey
		return b, nil
	case 0x07:
		return fixed(b, 12, "ObjectId")
	case 0x08:
		if len(b) < 1 || b[0] > 1 {
			return nil, errors.New("boolean is not 0 or 1")
		}
		return b[1:], nil
	case 0x0B: // regex: pattern and options cstrings
		for k := 0; k < 2; k++ {
			i := indexNUL(b)
			if i < 0 {
				return nil, errors.New("regular expression is not NUL-terminated")
			}
			b = b[i+1:]
		}
		return b, nil
	case 0x0C: // DBPointer
		b, err := validateString(b)
		if err != nil {
			return nil, err
		}
		return fixed(b, 12, "DBPointer id")
	case 0x0F: // code with scope
		if len(b) < 4 {
			return nil, errors.New("code with scope truncated")
		}
		n := int(int32(binary.LittleEndian.Uint32(b)))
		if n < 14 || n > len(b) {
			return nil, fmt.Errorf("code with scope length %d does not fit %d available bytes", n, len(b))
		}
		inner, err := validateString(b[4:n])
		if err != nil {
			return nil, err
		}
		inner, err = validateDoc(inner, depth+1)
		if err != nil {
			return nil, err
		}
		if len(inner) != 0 {
			return nil, errors.New("code with scope length is inconsistent")
		}
		return b[n:], nil
	case 0x10:
		return fixed(b, 4, "int32")
	case 0x13:
		return fixed(b, 16, "decimal128")
	}
	return nil, fmt.Errorf("unknown BSON type 0x%02x", t)
}
