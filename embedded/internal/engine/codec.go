package engine

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/mongotide/mongotide/internal/bsonx"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// decodeDoc decodes a stored document. It copies binary values out of raw
// (bsonx.Decode, not DecodeAliased): decoded documents are handed to
// callers and to update operators, which may outlive or modify them, so
// they must not share memory with the stored record.
func decodeDoc(raw bson.Raw) (bson.D, error) {
	return bsonx.Decode(raw)
}

var errCorrupt = fmt.Errorf("engine: corrupt BSON document")

// encodeDoc marshals a document. It encodes the value types decodeDoc
// produces directly (writes encode every document, and the reflection-based
// bson.Marshal dominated the insert cost) and falls back to the driver for
// anything else.
func encodeDoc(d bson.D) (bson.Raw, error) {
	b, err := bsonx.AppendDocument(make([]byte, 0, 256), d)
	if err != nil {
		return nil, &Error{Code: CodeBadValue, CodeName: "BadValue", Message: "cannot encode document: " + err.Error()}
	}
	if cap(b)-len(b) > 64 { // do not keep append slack alive in the store
		b = append(make([]byte, 0, len(b)), b...)
	}
	return b, nil
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
	val, _, err := bsonx.DecodeValue(bsoncore.Type(v.Type), v.Value)
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
