package changestream

import (
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

var errBadBSON = errors.New("changestream: malformed BSON in change event")

// decodeDoc decodes an event into a bson.D with the value types
// bson.Unmarshal produces, without reflection: user stages need a decoded
// event, and reflection-based decoding dominated their cost. Binary and
// similar values alias raw, which is never modified after it is built.
func decodeDoc(raw []byte) (bson.D, error) {
	return decodeElems(raw)
}

func decodeElems(raw []byte) (bson.D, error) {
	length, rem, ok := bsoncore.ReadLength(raw)
	if !ok || int(length) > len(raw) || length < 5 {
		return nil, errBadBSON
	}
	rem = rem[:length-5]
	out := make(bson.D, 0, 8)
	for len(rem) > 0 {
		el, next, ok := bsoncore.ReadElement(rem)
		if !ok {
			return nil, errBadBSON
		}
		v, err := decodeValue(el.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, bson.E{Key: key(el.KeyBytes()), Value: v})
		rem = next
	}
	return out, nil
}

func decodeArray(raw []byte) (bson.A, error) {
	length, rem, ok := bsoncore.ReadLength(raw)
	if !ok || int(length) > len(raw) || length < 5 {
		return nil, errBadBSON
	}
	rem = rem[:length-5]
	out := make(bson.A, 0, 4)
	for len(rem) > 0 {
		el, next, ok := bsoncore.ReadElement(rem)
		if !ok {
			return nil, errBadBSON
		}
		v, err := decodeValue(el.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		rem = next
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
		return decodeElems(v.Data)
	case bsoncore.TypeArray:
		return decodeArray(v.Data)
	case bsoncore.TypeBinary:
		st, data := v.Binary()
		return bson.Binary{Subtype: st, Data: data}, nil
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
		code, scope := v.CodeWithScope()
		d, err := decodeElems(scope)
		if err != nil {
			return nil, err
		}
		return bson.CodeWithScope{Code: bson.JavaScript(code), Scope: d}, nil
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
	return nil, errBadBSON
}

// key returns a field name, without allocating for the names every change
// event has.
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
