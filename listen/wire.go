package listen

import (
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// parseWire reads an event's top-level fields in one pass over its bytes.
// It replaces a reflective bson.Unmarshal into wireEvent, which was the
// single-listener path's largest cost after the document decode. Type
// checks match what that Unmarshal enforced (null reads as absent); the
// rare nested shapes (to, updateDescription) still go through Unmarshal.
// The result aliases raw, which must not change afterwards.
func parseWire(raw bson.Raw) (*wireEvent, error) {
	if len(raw) < 5 {
		return nil, errors.New("event too short")
	}
	w := &wireEvent{}
	rem := []byte(raw[4 : len(raw)-1])
	for len(rem) > 0 {
		elem, r, ok := bsoncore.ReadElement(rem)
		if !ok {
			return nil, errors.New("malformed event document")
		}
		rem = r
		v := elem.Value()
		t := bson.Type(v.Type)
		if len(v.Data) == 0 {
			v.Data = nil // as Unmarshal leaves a null's RawValue
		}
		key := elem.KeyBytes()
		switch string(key) {
		case "fullDocument":
			w.FullDocument = bson.RawValue{Type: t, Value: v.Data}
			continue
		case "fullDocumentBeforeChange":
			w.FullDocumentBeforeChange = bson.RawValue{Type: t, Value: v.Data}
			continue
		}
		if t == bson.TypeNull {
			continue
		}
		switch string(key) {
		case "_id":
			if t != bson.TypeEmbeddedDocument {
				return nil, wireTypeError("_id", t)
			}
			w.ID = bson.Raw(v.Data)
		case "operationType":
			if t != bson.TypeString {
				return nil, wireTypeError("operationType", t)
			}
			s, ok := v.StringValueOK()
			if !ok {
				return nil, errors.New("malformed operationType")
			}
			w.OperationType = OperationType(s)
		case "clusterTime":
			if t != bson.TypeTimestamp {
				return nil, wireTypeError("clusterTime", t)
			}
			ts, i, ok := v.TimestampOK()
			if !ok {
				return nil, errors.New("malformed clusterTime")
			}
			w.ClusterTime = bson.Timestamp{T: ts, I: i}
		case "wallTime":
			if t != bson.TypeDateTime {
				return nil, wireTypeError("wallTime", t)
			}
			dt, ok := v.DateTimeOK()
			if !ok {
				return nil, errors.New("malformed wallTime")
			}
			w.WallTime = bson.DateTime(dt)
		case "ns":
			if t != bson.TypeEmbeddedDocument {
				return nil, wireTypeError("ns", t)
			}
			ns, err := parseNamespace(v.Data)
			if err != nil {
				return nil, fmt.Errorf("ns: %w", err)
			}
			w.NS = ns
		case "to":
			var to Namespace
			if err := bson.UnmarshalValue(t, v.Data, &to); err != nil {
				return nil, fmt.Errorf("to: %w", err)
			}
			w.To = &to
		case "documentKey":
			if t != bson.TypeEmbeddedDocument {
				return nil, wireTypeError("documentKey", t)
			}
			w.DocumentKey = bson.Raw(v.Data)
		case "updateDescription":
			var u UpdateDescription
			if err := bson.UnmarshalValue(t, v.Data, &u); err != nil {
				return nil, fmt.Errorf("updateDescription: %w", err)
			}
			w.UpdateDescription = &u
		}
	}
	return w, nil
}

func parseNamespace(doc []byte) (Namespace, error) {
	var ns Namespace
	if len(doc) < 5 {
		return ns, errors.New("document too short")
	}
	rem := doc[4 : len(doc)-1]
	for len(rem) > 0 {
		elem, r, ok := bsoncore.ReadElement(rem)
		if !ok {
			return ns, errors.New("malformed document")
		}
		rem = r
		v := elem.Value()
		t := bson.Type(v.Type)
		var dst *string
		switch string(elem.KeyBytes()) {
		case "db":
			dst = &ns.DB
		case "coll":
			dst = &ns.Coll
		default:
			continue
		}
		switch t {
		case bson.TypeNull:
		case bson.TypeString:
			s, ok := v.StringValueOK()
			if !ok {
				return ns, errors.New("malformed string")
			}
			*dst = s
		default:
			return ns, wireTypeError(string(elem.KeyBytes()), t)
		}
	}
	return ns, nil
}

func wireTypeError(field string, t bson.Type) error {
	return fmt.Errorf("field %q has BSON type %s", field, t)
}
