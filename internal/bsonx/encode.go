package bsonx

import (
	"fmt"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// AppendDocument appends d as a BSON document. It is the inverse of Decode:
// every value Decode produces encodes here, Go nil as BSON null included (the
// driver's bson.MarshalValue has no encoder for a bare nil, which is what a
// decoded null is: a $set to null once broke every change stream because an
// update description was encoded with it). Other Go types fall back to the
// driver's reflection-based encoder.
func AppendDocument(dst []byte, d bson.D) ([]byte, error) {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	var err error
	for _, e := range d {
		if strings.IndexByte(e.Key, 0) >= 0 {
			return nil, fmt.Errorf("field name %q contains a null byte", e.Key)
		}
		if dst, err = AppendValueElement(dst, e.Key, e.Value); err != nil {
			return nil, err
		}
	}
	return bsoncore.AppendDocumentEnd(dst, idx)
}

// Encode returns d as a BSON document (see AppendDocument).
func Encode(d bson.D) (bson.Raw, error) {
	return AppendDocument(nil, d)
}

// AppendValueElement appends the element key: v (see AppendDocument for the
// values it takes).
func AppendValueElement(dst []byte, key string, v any) ([]byte, error) {
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
		return AppendDocument(dst, x)
	case bson.A:
		idx, dst := bsoncore.AppendArrayElementStart(dst, key)
		var err error
		var buf [20]byte
		for i, el := range x {
			if dst, err = AppendValueElement(dst, string(strconv.AppendInt(buf[:0], int64(i), 10)), el); err != nil {
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
	case bson.Null:
		return bsoncore.AppendNullElement(dst, key), nil
	case bson.Undefined:
		return bsoncore.AppendHeader(dst, bsoncore.TypeUndefined, key), nil
	case bson.MinKey:
		return bsoncore.AppendHeader(dst, bsoncore.TypeMinKey, key), nil
	case bson.MaxKey:
		return bsoncore.AppendHeader(dst, bsoncore.TypeMaxKey, key), nil
	}
	t, data, err := bson.MarshalValue(v)
	if err != nil {
		return nil, err
	}
	return bsoncore.AppendValueElement(dst, key, bsoncore.Value{Type: bsoncore.Type(t), Data: data}), nil
}

// MarshalValue returns the BSON type and bytes of v (see AppendDocument for
// the values it takes; nil is null).
func MarshalValue(v any) (bsoncore.Type, []byte, error) {
	if v == nil {
		return bsoncore.TypeNull, nil, nil
	}
	// Encode as an element and cut off the header: one code path for every
	// type, so a value encodes the same inside a document and alone.
	b, err := AppendValueElement(make([]byte, 0, 32), "", v)
	if err != nil {
		return 0, nil, err
	}
	return bsoncore.Type(b[0]), b[2:], nil
}
