package bsonx

import (
	"encoding/binary"
	"errors"
	"math"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// ErrMalformed is returned when the input is not a well-formed BSON
// document or value.
var ErrMalformed = errors.New("bsonx: malformed BSON")

// Decode decodes the BSON document at the start of b. Every value is copied
// out of b, so b may be reused or modified afterwards.
func Decode(b []byte) (bson.D, error) {
	d, _, err := decodeDoc(b, false)
	return d, err
}

// DecodeAliased is Decode, except that the Data of bson.Binary values
// aliases b instead of being copied: it saves an allocation per binary
// value, and is only safe when b is never modified while the result is in
// use.
func DecodeAliased(b []byte) (bson.D, error) {
	d, _, err := decodeDoc(b, true)
	return d, err
}

// DecodeValue decodes one value of type t from the start of b, as in a
// bsoncore element, and returns the bytes after it. Values are copied out
// of b, as in Decode.
func DecodeValue(t bsoncore.Type, b []byte) (v any, rest []byte, err error) {
	return decodeValue(t, b, false)
}

// body checks the length prefix and terminator of the document or array at
// the start of b, and returns its elements and the bytes after it.
func body(b []byte) (elems, rest []byte, err error) {
	if len(b) < 5 {
		return nil, nil, ErrMalformed
	}
	n := int(int32(binary.LittleEndian.Uint32(b)))
	if n < 5 || n > len(b) || b[n-1] != 0 {
		return nil, nil, ErrMalformed
	}
	return b[4 : n-1], b[n:], nil
}

// element splits the header of the element at the start of elems.
func element(elems []byte) (t bsoncore.Type, key, rest []byte, err error) {
	t = bsoncore.Type(elems[0])
	elems = elems[1:]
	for i, c := range elems {
		if c == 0 {
			return t, elems[:i], elems[i+1:], nil
		}
	}
	return 0, nil, nil, ErrMalformed
}

func decodeDoc(b []byte, alias bool) (bson.D, []byte, error) {
	elems, after, err := body(b)
	if err != nil {
		return nil, nil, err
	}
	d := make(bson.D, 0, 8)
	for len(elems) > 0 {
		t, k, rest, err := element(elems)
		if err != nil {
			return nil, nil, err
		}
		v, rest, err := decodeValue(t, rest, alias)
		if err != nil {
			return nil, nil, err
		}
		elems = rest
		d = append(d, bson.E{Key: key(k), Value: v})
	}
	return d, after, nil
}

func decodeArray(b []byte, alias bool) (bson.A, []byte, error) {
	elems, after, err := body(b)
	if err != nil {
		return nil, nil, err
	}
	a := make(bson.A, 0, 4)
	for len(elems) > 0 {
		t, _, rest, err := element(elems)
		if err != nil {
			return nil, nil, err
		}
		v, rest, err := decodeValue(t, rest, alias)
		if err != nil {
			return nil, nil, err
		}
		elems = rest
		a = append(a, v)
	}
	return a, after, nil
}

func decodeValue(t bsoncore.Type, b []byte, alias bool) (any, []byte, error) {
	switch t {
	case bsoncore.TypeDouble:
		if len(b) < 8 {
			return nil, nil, ErrMalformed
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), b[8:], nil
	case bsoncore.TypeString:
		s, rest, ok := bsoncore.ReadString(b)
		if !ok {
			return nil, nil, ErrMalformed
		}
		return s, rest, nil
	case bsoncore.TypeEmbeddedDocument:
		return decodeDoc(b, alias)
	case bsoncore.TypeArray:
		return decodeArray(b, alias)
	case bsoncore.TypeBinary:
		st, data, rest, ok := bsoncore.ReadBinary(b)
		if !ok {
			return nil, nil, ErrMalformed
		}
		if !alias {
			data = append(make([]byte, 0, len(data)), data...)
		}
		return bson.Binary{Subtype: st, Data: data}, rest, nil
	case bsoncore.TypeUndefined:
		return bson.Undefined{}, b, nil
	case bsoncore.TypeObjectID:
		if len(b) < 12 {
			return nil, nil, ErrMalformed
		}
		return bson.ObjectID(b[:12]), b[12:], nil
	case bsoncore.TypeBoolean:
		if len(b) < 1 {
			return nil, nil, ErrMalformed
		}
		return b[0] != 0, b[1:], nil
	case bsoncore.TypeDateTime:
		if len(b) < 8 {
			return nil, nil, ErrMalformed
		}
		return bson.DateTime(int64(binary.LittleEndian.Uint64(b))), b[8:], nil
	case bsoncore.TypeNull:
		return nil, b, nil
	case bsoncore.TypeRegex:
		p, o, rest, ok := bsoncore.ReadRegex(b)
		if !ok {
			return nil, nil, ErrMalformed
		}
		return bson.Regex{Pattern: p, Options: o}, rest, nil
	case bsoncore.TypeDBPointer:
		ns, oid, rest, ok := bsoncore.ReadDBPointer(b)
		if !ok {
			return nil, nil, ErrMalformed
		}
		return bson.DBPointer{DB: ns, Pointer: bson.ObjectID(oid)}, rest, nil
	case bsoncore.TypeJavaScript:
		s, rest, ok := bsoncore.ReadJavaScript(b)
		if !ok {
			return nil, nil, ErrMalformed
		}
		return bson.JavaScript(s), rest, nil
	case bsoncore.TypeSymbol:
		s, rest, ok := bsoncore.ReadSymbol(b)
		if !ok {
			return nil, nil, ErrMalformed
		}
		return bson.Symbol(s), rest, nil
	case bsoncore.TypeCodeWithScope:
		code, scope, rest, ok := bsoncore.ReadCodeWithScope(b)
		if !ok {
			return nil, nil, ErrMalformed
		}
		d, _, err := decodeDoc(scope, alias)
		if err != nil {
			return nil, nil, err
		}
		return bson.CodeWithScope{Code: bson.JavaScript(code), Scope: d}, rest, nil
	case bsoncore.TypeInt32:
		if len(b) < 4 {
			return nil, nil, ErrMalformed
		}
		return int32(binary.LittleEndian.Uint32(b)), b[4:], nil
	case bsoncore.TypeTimestamp:
		tt, ii, rest, ok := bsoncore.ReadTimestamp(b)
		if !ok {
			return nil, nil, ErrMalformed
		}
		return bson.Timestamp{T: tt, I: ii}, rest, nil
	case bsoncore.TypeInt64:
		if len(b) < 8 {
			return nil, nil, ErrMalformed
		}
		return int64(binary.LittleEndian.Uint64(b)), b[8:], nil
	case bsoncore.TypeDecimal128:
		h, l, rest, ok := bsoncore.ReadDecimal128(b)
		if !ok {
			return nil, nil, ErrMalformed
		}
		return bson.NewDecimal128(h, l), rest, nil
	case bsoncore.TypeMinKey:
		return bson.MinKey{}, b, nil
	case bsoncore.TypeMaxKey:
		return bson.MaxKey{}, b, nil
	}
	return nil, nil, ErrMalformed
}

// key returns a field name, without allocating for the names that every
// command or change event has.
func key(b []byte) string {
	switch string(b) {
	case "_id":
		return "_id"
	case "_data":
		return "_data"
	case "operationType":
		return "operationType"
	case "clusterTime":
		return "clusterTime"
	case "wallTime":
		return "wallTime"
	case "fullDocument":
		return "fullDocument"
	case "ns":
		return "ns"
	case "db":
		return "db"
	case "coll":
		return "coll"
	case "documentKey":
		return "documentKey"
	case "updateDescription":
		return "updateDescription"
	case "updatedFields":
		return "updatedFields"
	case "removedFields":
		return "removedFields"
	case "truncatedArrays":
		return "truncatedArrays"
	case "fullDocumentBeforeChange":
		return "fullDocumentBeforeChange"
	case "txnNumber":
		return "txnNumber"
	case "lsid":
		return "lsid"
	case "to":
		return "to"
	}
	return string(b)
}
