package embedded

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// decodeDoc converts a validated BSON document into the bson.D that
// bson.Unmarshal would produce (nested documents as bson.D, arrays as
// bson.A, every value copied out of b), without reflection: it runs on
// every command, and the wire package has already validated the bytes.
func decodeDoc(b []byte) (bson.D, error) {
	length, rem, ok := bsoncore.ReadLength(b)
	if !ok || int(length) > len(b) || length < 5 {
		return nil, fmt.Errorf("invalid document length")
	}
	rem = rem[:length-5]
	out := make(bson.D, 0, 8)
	for len(rem) > 0 {
		e, r, ok := bsoncore.ReadElement(rem)
		if !ok {
			return nil, fmt.Errorf("truncated element")
		}
		rem = r
		v, err := decodeValue(e.Value())
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", e.Key(), err)
		}
		out = append(out, bson.E{Key: e.Key(), Value: v})
	}
	return out, nil
}

func decodeArray(b []byte) (bson.A, error) {
	length, rem, ok := bsoncore.ReadLength(b)
	if !ok || int(length) > len(b) || length < 5 {
		return nil, fmt.Errorf("invalid array length")
	}
	rem = rem[:length-5]
	out := make(bson.A, 0, 4)
	for len(rem) > 0 {
		e, r, ok := bsoncore.ReadElement(rem)
		if !ok {
			return nil, fmt.Errorf("truncated element")
		}
		rem = r
		x, err := decodeValue(e.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

func decodeValue(v bsoncore.Value) (any, error) {
	switch v.Type {
	case bsoncore.TypeDouble:
		return v.Double(), nil
	case bsoncore.TypeString:
		return v.StringValue(), nil
	case bsoncore.TypeEmbeddedDocument:
		return decodeDoc(v.Data)
	case bsoncore.TypeArray:
		return decodeArray(v.Data)
	case bsoncore.TypeBinary:
		sub, data := v.Binary()
		return bson.Binary{Subtype: sub, Data: append(make([]byte, 0, len(data)), data...)}, nil
	case bsoncore.TypeUndefined:
		return bson.Undefined{}, nil
	case bsoncore.TypeObjectID:
		return bson.ObjectID(v.ObjectID()), nil
	case bsoncore.TypeBoolean:
		return v.Boolean(), nil
	case bsoncore.TypeDateTime:
		return bson.DateTime(v.DateTime()), nil
	case bsoncore.TypeNull:
		return nil, nil
	case bsoncore.TypeRegex:
		p, o := v.Regex()
		return bson.Regex{Pattern: p, Options: o}, nil
	case bsoncore.TypeDBPointer:
		ns, oid := v.DBPointer()
		return bson.DBPointer{DB: ns, Pointer: bson.ObjectID(oid)}, nil
	case bsoncore.TypeJavaScript:
		return bson.JavaScript(v.JavaScript()), nil
	case bsoncore.TypeSymbol:
		return bson.Symbol(v.Symbol()), nil
	case bsoncore.TypeCodeWithScope:
		// Rare enough to leave to the reflective decoder, so the result
		// is exactly what bson.Unmarshal gives.
		var d bson.D
		raw := bsoncore.BuildDocumentFromElements(nil, bsoncore.AppendValueElement(nil, "v", v))
		if err := bson.Unmarshal(raw, &d); err != nil {
			return nil, err
		}
		return d[0].Value, nil
	case bsoncore.TypeInt32:
		return v.Int32(), nil
	case bsoncore.TypeTimestamp:
		t, i := v.Timestamp()
		return bson.Timestamp{T: t, I: i}, nil
	case bsoncore.TypeInt64:
		return v.Int64(), nil
	case bsoncore.TypeDecimal128:
		h, l := v.Decimal128()
		return bson.NewDecimal128(h, l), nil
	case bsoncore.TypeMinKey:
		return bson.MinKey{}, nil
	case bsoncore.TypeMaxKey:
		return bson.MaxKey{}, nil
	}
	return nil, fmt.Errorf("unknown BSON type 0x%02x", byte(v.Type))
}
