package mql

import (
	"go.mongodb.org/mongo-driver/v2/bson"
)

// DocBytes returns the BSON size of doc, computed from the decoded values
// without encoding them: memory limits are counted in BSON bytes, as
// MongoDB counts them, and a walk over the values costs far less than a
// marshal or reflection.
func DocBytes(doc bson.D) int64 {
	n := int64(5) // length prefix and terminating zero
	for i := range doc {
		n += 2 + int64(len(doc[i].Key)) + valueBytes(doc[i].Value)
	}
	return n
}

// valueBytes is the BSON size of one value (without its type byte and key).
func valueBytes(v any) int64 {
	switch x := v.(type) {
	case nil, bson.Null, bson.Undefined, bson.MinKey, bson.MaxKey, xMissing:
		return 0
	case bool:
		return 1
	case int32:
		return 4
	case int64, float64, bson.DateTime, bson.Timestamp, int:
		return 8
	case string:
		return int64(len(x)) + 5
	case bson.D:
		return DocBytes(x)
	case bson.A:
		return arrayBytes(x)
	case []any:
		return arrayBytes(x)
	case bson.M:
		n := int64(5)
		for k, e := range x {
			n += 2 + int64(len(k)) + valueBytes(e)
		}
		return n
	case bson.ObjectID:
		return 12
	case bson.Decimal128:
		return 16
	case bson.Binary:
		return int64(len(x.Data)) + 5
	case bson.Regex:
		return int64(len(x.Pattern)+len(x.Options)) + 2
	case bson.JavaScript:
		return int64(len(x)) + 5
	case bson.Symbol:
		return int64(len(x)) + 5
	case bson.CodeWithScope:
		return int64(len(x.Code)) + 9 + valueBytes(x.Scope)
	case bson.DBPointer:
		return int64(len(x.DB)) + 17
	case bson.Raw:
		return int64(len(x))
	}
	// Any other Go value the driver can marshal: a fair guess.
	return 16
}

func arrayBytes(a []any) int64 {
	n := int64(5)
	for i, e := range a {
		n += 2 + int64(indexDigits(i)) + valueBytes(e)
	}
	return n
}

// indexDigits is the length of i's decimal form: an array's keys.
func indexDigits(i int) int {
	d := 1
	for i >= 10 {
		i /= 10
		d++
	}
	return d
}
