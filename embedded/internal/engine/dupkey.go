package engine

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// dupKeyError builds MongoDB's duplicate key error:
// "E11000 duplicate key error collection: db.coll index: a_1 dup key: { a: 1 }".
func dupKeyError(ns Namespace, indexName string, pattern bson.D, vals []any) *Error {
	kv := make(bson.D, len(pattern))
	var sb strings.Builder
	sb.WriteString("{ ")
	for i, k := range pattern {
		var v any
		if i < len(vals) {
			v = vals[i]
		}
		kv[i] = bson.E{Key: k.Key, Value: v}
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(k.Key)
		sb.WriteString(": ")
		formatValue(&sb, v)
	}
	sb.WriteString(" }")
	kp := make(bson.D, len(pattern))
	copy(kp, pattern)
	return &Error{
		Code:       CodeDuplicateKey,
		CodeName:   "DuplicateKey",
		Message:    fmt.Sprintf("E11000 duplicate key error collection: %s index: %s dup key: %s", ns, indexName, sb.String()),
		KeyPattern: kp,
		KeyValue:   kv,
	}
}

func dupIDError(ns Namespace, id any) *Error {
	return dupKeyError(ns, "_id_", bson.D{{Key: "_id", Value: int32(1)}}, []any{id})
}

// formatValue renders a value the way the server's error messages do.
func formatValue(sb *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		sb.WriteString("null")
	case string:
		sb.WriteString(strconv.Quote(x))
	case int32:
		sb.WriteString(strconv.FormatInt(int64(x), 10))
	case int64:
		sb.WriteString(strconv.FormatInt(x, 10))
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			sb.WriteString(strconv.FormatFloat(x, 'f', 1, 64))
		} else {
			sb.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		}
	case bool:
		sb.WriteString(strconv.FormatBool(x))
	case bson.ObjectID:
		sb.WriteString("ObjectId('" + x.Hex() + "')")
	case bson.DateTime:
		sb.WriteString("new Date(" + strconv.FormatInt(int64(x), 10) + ")")
	case bson.D:
		if len(x) == 0 {
			sb.WriteString("{}")
			return
		}
		sb.WriteString("{ ")
		for i, e := range x {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(e.Key + ": ")
			formatValue(sb, e.Value)
		}
		sb.WriteString(" }")
	case bson.A:
		if len(x) == 0 {
			sb.WriteString("[]")
			return
		}
		sb.WriteString("[ ")
		for i, e := range x {
			if i > 0 {
				sb.WriteString(", ")
			}
			formatValue(sb, e)
		}
		sb.WriteString(" ]")
	case bson.Undefined:
		sb.WriteString("undefined")
	case bson.MinKey:
		sb.WriteString("MinKey")
	case bson.MaxKey:
		sb.WriteString("MaxKey")
	default:
		fmt.Fprint(sb, x)
	}
}
