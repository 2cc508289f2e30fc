package engine

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// decodeDoc decodes a stored document into a bson.D with exactly the value
// types bson.Unmarshal produces, but without reflection: matching decodes
// documents on every scan, so this is the hot path of reads.
func decodeDoc(raw bson.Raw) (bson.D, error) {
	d, _, err := decodeDocBytes(raw)
	return d, err
}

func decodeDocBytes(b []byte) (bson.D, []byte, error) {
	if len(b) < 5 {
		return nil, nil, errCorrupt
	}
	n := int(int32(binary.LittleEndian.Uint32(b)))
	if n < 5 || n > len(b) || b[n-1] != 0 {
		return nil, nil, errCorrupt
	}
	body := b[4 : n-1]
	// count elements first to allocate once
	d := make(bson.D, 0, 8)
	for len(body) > 0 {
		t := bsoncore.Type(body[0])
		body = body[1:]
		i := 0
		for i < len(body) && body[i] != 0 {
			i++
		}
		if i == len(body) {
			return nil, nil, errCorrupt
		}
		key := string(body[:i])
		body = body[i+1:]
		v, rest, err := decodeValue(t, body)
		if err != nil {
			return nil, nil, err
		}
		body = rest
		d = append(d, bson.E{Key: key, Value: v})
	}
	return d, b[n:], nil
}

func decodeArrayBytes(b []byte) (bson.A, []byte, error) {
	if len(b) < 5 {
		return nil, nil, errCorrupt
	}
	n := int(int32(binary.LittleEndian.Uint32(b)))
	if n < 5 || n > len(b) || b[n-1] != 0 {
		return nil, nil, errCorrupt
	}
	body := b[4 : n-1]
	a := make(bson.A, 0, 4)
	for len(body) > 0 {
		t := bsoncore.Type(body[0])
		body = body[1:]
		i := 0
		for i < len(body) && body[i] != 0 {
			i++
		}
		if i == len(body) {
			return nil, nil, errCorrupt
		}
		body = body[i+1:]
		v, rest, err := decodeValue(t, body)
		if err != nil {
			return nil, nil, err
		}
		body = rest
		a = append(a, v)
	}
	return a, b[n:], nil
}

var errCorrupt = fmt.Errorf("engine: corrupt BSON document")

func decodeValue(t bsoncore.Type, b []byte) (any, []byte, error) {
	switch t {
	case bsoncore.TypeDouble:
		if len(b) < 8 {
			return nil, nil, errCorrupt
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), b[8:], nil
	case bsoncore.TypeString:
		s, rest, ok := bsoncore.ReadString(b)
		if !ok {
			return nil, nil, errCorrupt
		}
		return s, rest, nil
	case bsoncore.TypeEmbeddedDocument:
		return decodeDocBytes(b)
	case bsoncore.TypeArray:
		return decodeArrayBytes(b)
	case bsoncore.TypeBinary:
		st, data, rest, ok := bsoncore.ReadBinary(b)
		if !ok {
			return nil, nil, errCorrupt
		}
		cp := make([]byte, len(data))
		copy(cp, data)
		return bson.Binary{Subtype: st, Data: cp}, rest, nil
	case bsoncore.TypeUndefined:
		return bson.Undefined{}, b, nil
	case bsoncore.TypeObjectID:
		if len(b) < 12 {
			return nil, nil, errCorrupt
		}
		var oid bson.ObjectID
		copy(oid[:], b)
		return oid, b[12:], nil
	case bsoncore.TypeBoolean:
		if len(b) < 1 {
			return nil, nil, errCorrupt
		}
		return b[0] != 0, b[1:], nil
	case bsoncore.TypeDateTime:
		if len(b) < 8 {
			return nil, nil, errCorrupt
		}
		return bson.DateTime(int64(binary.LittleEndian.Uint64(b))), b[8:], nil
	case bsoncore.TypeNull:
		return nil, b, nil
	case bsoncore.TypeRegex:
		p, o, rest, ok := bsoncore.ReadRegex(b)
		if !ok {
			return nil, nil, errCorrupt
		}
		return bson.Regex{Pattern: p, Options: o}, rest, nil
	case bsoncore.TypeInt32:
		if len(b) < 4 {
			return nil, nil, errCorrupt
		}
		return int32(binary.LittleEndian.Uint32(b)), b[4:], nil
	case bsoncore.TypeTimestamp:
		tt, ii, rest, ok := bsoncore.ReadTimestamp(b)
		if !ok {
			return nil, nil, errCorrupt
		}
		return bson.Timestamp{T: tt, I: ii}, rest, nil
	case bsoncore.TypeInt64:
		if len(b) < 8 {
			return nil, nil, errCorrupt
		}
		return int64(binary.LittleEndian.Uint64(b)), b[8:], nil
	case bsoncore.TypeDecimal128:
		h, l, rest, ok := bsoncore.ReadDecimal128(b)
		if !ok {
			return nil, nil, errCorrupt
		}
		return bson.NewDecimal128(h, l), rest, nil
	case bsoncore.TypeMinKey:
		return bson.MinKey{}, b, nil
	case bsoncore.TypeMaxKey:
		return bson.MaxKey{}, b, nil
	}
	// Rare legacy types (JavaScript, symbol, DBPointer, code with scope):
	// let the driver decode them so the types match exactly.
	v, rest, ok := bsoncore.ReadValue(b, t)
	if !ok {
		return nil, nil, errCorrupt
	}
	wrapped := bsoncore.BuildDocument(nil, bsoncore.AppendValueElement(nil, "v", v))
	var d bson.D
	if err := bson.Unmarshal(wrapped, &d); err != nil || len(d) != 1 {
		return nil, nil, errCorrupt
	}
	return d[0].Value, rest, nil
}

// encodeDoc marshals a document. It encodes the value types decodeDoc
// produces directly (writes encode every document, and the reflection-based
// bson.Marshal dominated the insert cost) and falls back to the driver for
// anything else.
func encodeDoc(d bson.D) (bson.Raw, error) {
	b, err := appendDoc(make([]byte, 0, 256), d)
	if err != nil {
		return nil, &Error{Code: CodeBadValue, CodeName: "BadValue", Message: "cannot encode document: " + err.Error()}
	}
	if cap(b)-len(b) > 64 { // do not keep append slack alive in the store
		b = append(make([]byte, 0, len(b)), b...)
	}
	return b, nil
}

func appendDoc(dst []byte, d bson.D) ([]byte, error) {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	var err error
	for _, e := range d {
		if strings.IndexByte(e.Key, 0) >= 0 {
			return nil, fmt.Errorf("field name %q contains a null byte", e.Key)
		}
		if dst, err = appendValue(dst, e.Key, e.Value); err != nil {
			return nil, err
		}
	}
	return bsoncore.AppendDocumentEnd(dst, idx)
}

func appendValue(dst []byte, key string, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return bsoncore.AppendStringElement(dst, key, x), nil
	case int32:
		return bsoncore.AppendInt32Element(dst, key, x), nil
	case int64:
		return bsoncore.AppendInt64Element(dst, key, x), nil
	case float64:
		return bsoncore.AppendDoubleElement(dst, key, x), nil
	case bool:
		return bsoncore.AppendBooleanElement(dst, key, x), nil
	case nil:
		return bsoncore.AppendNullElement(dst, key), nil
	case bson.ObjectID:
		return bsoncore.AppendObjectIDElement(dst, key, x), nil
	case bson.DateTime:
		return bsoncore.AppendDateTimeElement(dst, key, int64(x)), nil
	case bson.D:
		dst = bsoncore.AppendHeader(dst, bsoncore.TypeEmbeddedDocument, key)
		return appendDoc(dst, x)
	case bson.A:
		idx, dst := bsoncore.AppendArrayElementStart(dst, key)
		var err error
		var buf [20]byte
		for i, el := range x {
			if dst, err = appendValue(dst, string(strconv.AppendInt(buf[:0], int64(i), 10)), el); err != nil {
				return nil, err
			}
		}
		return bsoncore.AppendArrayEnd(dst, idx)
	case bson.Binary:
		return bsoncore.AppendBinaryElement(dst, key, x.Subtype, x.Data), nil
	case bson.Timestamp:
		return bsoncore.AppendTimestampElement(dst, key, x.T, x.I), nil
	case bson.Decimal128:
		h, l := x.GetBytes()
		return bsoncore.AppendDecimal128Element(dst, key, h, l), nil
	case bson.Raw:
		if err := bsoncore.Document(x).Validate(); err != nil {
			return nil, err
		}
		return bsoncore.AppendDocumentElement(dst, key, x), nil
	}
	t, data, err := bson.MarshalValue(v)
	if err != nil {
		return nil, err
	}
	return bsoncore.AppendValueElement(dst, key, bsoncore.Value{Type: bsoncore.Type(t), Data: data}), nil
}

// idKeyRaw returns {_id: <first element of raw>} when raw starts with _id
// (stored documents always do), without re-encoding.
func idKeyRaw(raw bson.Raw) bson.Raw {
	if len(raw) > 5 {
		body := raw[4:]
		if len(body) > 4 && bsoncore.Type(body[0]) != 0 && string(body[1:5]) == "_id\x00" {
			t := bsoncore.Type(body[0])
			_, rest, ok := bsoncore.ReadValue(body[5:], t)
			if ok {
				elem := body[:len(body)-len(rest)]
				out := make([]byte, 0, len(elem)+5)
				out = binary.LittleEndian.AppendUint32(out, uint32(len(elem)+5))
				out = append(out, elem...)
				return append(out, 0)
			}
		}
	}
	id, err := raw.LookupErr("_id")
	if err != nil {
		return nil
	}
	out, _ := bson.Marshal(bson.D{{Key: "_id", Value: id}})
	return out
}

// rawID returns the _id of a stored document.
func rawID(raw bson.Raw) (any, error) {
	v, err := raw.LookupErr("_id")
	if err != nil {
		return nil, errCorrupt
	}
	val, _, err := decodeValue(bsoncore.Type(v.Type), v.Value)
	return val, err
}

// idKey is a canonical string for an _id value, equal for values the BSON
// comparison equates (1, 1.0 and NumberLong(1) share one key).
func idKey(id any) string {
	switch x := id.(type) {
	case int32:
		return "n" + strconv.FormatInt(int64(x), 10)
	case int64:
		return "n" + strconv.FormatInt(x, 10)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<62 {
			return "n" + strconv.FormatInt(int64(x), 10)
		}
		return "f" + strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return "s" + x
	case bson.ObjectID:
		return "o" + string(x[:])
	}
	t, data, err := bson.MarshalValue(id)
	if err != nil {
		return fmt.Sprintf("?%v", id)
	}
	return string(rune(t)) + string(data)
}
