package unified

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"reflect"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// matcher implements the spec's "Evaluating Matches" rules: root-level
// documents may carry extra fields, nested documents may not, arrays must have
// the same length, numbers compare by value across int32/int64/double, and
// single-key documents whose key starts with "$$" are special operators.
type matcher struct {
	ents *entityMap
}

// match compares expected against actual. present reports whether the actual
// value exists at all (a missing field differs from a null one). root marks a
// root-level document, which may have fields the expectation does not name.
func (m *matcher) match(exp, act any, present, root bool, path string) error {
	if d, ok := exp.(bson.D); ok {
		if op, arg, ok := specialOp(d); ok {
			return m.special(op, arg, act, present, root, path)
		}
		if !present {
			return mismatch(path, "missing, want %s", jsonString(exp))
		}
		ad, ok := act.(bson.D)
		if !ok {
			return mismatch(path, "want a document %s, got %s", jsonString(exp), jsonString(act))
		}
		for _, e := range d {
			av, ok := lookup(ad, e.Key)
			if err := m.match(e.Value, av, ok, false, join(path, e.Key)); err != nil {
				return err
			}
		}
		if !root {
			for _, e := range ad {
				if _, ok := lookup(d, e.Key); !ok {
					return mismatch(path, "unexpected extra field %q in %s", e.Key, jsonString(act))
				}
			}
		}
		return nil
	}
	if !present {
		return mismatch(path, "missing, want %s", jsonString(exp))
	}
	if a, ok := exp.(bson.A); ok {
		aa, ok := act.(bson.A)
		if !ok {
			return mismatch(path, "want an array %s, got %s", jsonString(exp), jsonString(act))
		}
		if len(a) != len(aa) {
			return mismatch(path, "want %d array elements %s, got %d: %s", len(a), jsonString(exp), len(aa), jsonString(act))
		}
		for i := range a {
			if err := m.match(a[i], aa[i], true, false, join(path, fmt.Sprint(i))); err != nil {
				return err
			}
		}
		return nil
	}
	if !scalarEqual(exp, act) {
		return mismatch(path, "want %s, got %s", jsonString(exp), jsonString(act))
	}
	return nil
}

// matchRootList matches an iterable result (find, aggregate): same length,
// and each element is a root-level document.
func (m *matcher) matchRootList(exp any, act []any, path string) error {
	a, ok := exp.(bson.A)
	if !ok {
		return m.match(exp, bson.A(act), true, false, path)
	}
	if len(a) != len(act) {
		return mismatch(path, "want %d results %s, got %d: %s", len(a), jsonString(exp), len(act), jsonString(bson.A(act)))
	}
	for i := range a {
		if err := m.match(a[i], act[i], true, true, join(path, fmt.Sprint(i))); err != nil {
			return err
		}
	}
	return nil
}

func (m *matcher) special(op string, arg, act any, present, root bool, path string) error {
	switch op {
	case "$$exists":
		want, ok := arg.(bool)
		if !ok {
			return fmt.Errorf("%s: $$exists wants a boolean, got %s", path, jsonString(arg))
		}
		if want != present {
			if want {
				return mismatch(path, "want the field to exist")
			}
			return mismatch(path, "want the field to be absent, got %s", jsonString(act))
		}
		return nil
	case "$$type":
		if !present {
			return mismatch(path, "missing, want a value of $$type %s", jsonString(arg))
		}
		var names []string
		switch t := arg.(type) {
		case string:
			names = []string{t}
		case bson.A:
			for _, x := range t {
				s, _ := x.(string)
				names = append(names, s)
			}
		}
		for _, n := range names {
			if hasType(act, n) {
				return nil
			}
		}
		return mismatch(path, "want $$type %s, got %s (%T)", jsonString(arg), jsonString(act), act)
	case "$$unsetOrMatches":
		if !present {
			return nil
		}
		return m.match(arg, act, true, root, path)
	case "$$matchesEntity":
		name, _ := arg.(string)
		v, err := m.ents.value(name)
		if err != nil {
			return err
		}
		return m.match(v, act, present, root, path)
	case "$$matchesHexBytes":
		s, _ := arg.(string)
		want, err := hex.DecodeString(s)
		if err != nil {
			return fmt.Errorf("%s: malformed $$matchesHexBytes %q: %w", path, s, err)
		}
		var got []byte
		switch t := act.(type) {
		case bson.Binary:
			got = t.Data
		case string:
			got = []byte(t)
		default:
			return mismatch(path, "want bytes %s, got %s", s, jsonString(act))
		}
		if !bytes.Equal(want, got) {
			return mismatch(path, "want bytes %s, got %x", s, got)
		}
		return nil
	case "$$sessionLsid":
		name, _ := arg.(string)
		lsid, err := m.ents.sessionLsid(name)
		if err != nil {
			return err
		}
		if !present || !exactEqual(lsid, act) {
			return mismatch(path, "want lsid of session %q %s, got %s", name, jsonString(lsid), jsonString(act))
		}
		return nil
	case "$$lte":
		if !present {
			return mismatch(path, "missing, want a number <= %s", jsonString(arg))
		}
		a, ok1 := toFloat(act)
		b, ok2 := toFloat(arg)
		if !ok1 || !ok2 || a > b {
			return mismatch(path, "want a number <= %s, got %s", jsonString(arg), jsonString(act))
		}
		return nil
	case "$$matchAsDocument":
		s, ok := act.(string)
		if !present || !ok {
			return mismatch(path, "want an extended JSON string, got %s", jsonString(act))
		}
		var d bson.D
		if err := bson.UnmarshalExtJSON([]byte(s), false, &d); err != nil {
			return mismatch(path, "not an extended JSON document: %v", err)
		}
		return m.match(arg, d, true, false, path)
	case "$$matchAsRoot":
		return m.match(arg, act, present, true, path)
	}
	return skipf("unsupported special operator %s", op)
}

// specialOp recognises {$$op: arg}.
func specialOp(d bson.D) (string, any, bool) {
	if len(d) == 1 && strings.HasPrefix(d[0].Key, "$$") {
		return d[0].Key, d[0].Value, true
	}
	return "", nil, false
}

func hasType(v any, name string) bool {
	switch name {
	case "double":
		_, ok := v.(float64)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "object":
		_, ok := v.(bson.D)
		return ok
	case "array":
		_, ok := v.(bson.A)
		return ok
	case "binData":
		_, ok := v.(bson.Binary)
		return ok
	case "undefined":
		_, ok := v.(bson.Undefined)
		return ok
	case "objectId":
		_, ok := v.(bson.ObjectID)
		return ok
	case "bool":
		_, ok := v.(bool)
		return ok
	case "date":
		_, ok := v.(bson.DateTime)
		return ok
	case "null":
		if v == nil {
			return true
		}
		_, ok := v.(bson.Null)
		return ok
	case "regex":
		_, ok := v.(bson.Regex)
		return ok
	case "dbPointer":
		_, ok := v.(bson.DBPointer)
		return ok
	case "javascript":
		_, ok := v.(bson.JavaScript)
		return ok
	case "symbol":
		_, ok := v.(bson.Symbol)
		return ok
	case "javascriptWithScope":
		_, ok := v.(bson.CodeWithScope)
		return ok
	case "int":
		_, ok := v.(int32)
		return ok
	case "timestamp":
		_, ok := v.(bson.Timestamp)
		return ok
	case "long":
		_, ok := v.(int64)
		return ok
	case "decimal":
		_, ok := v.(bson.Decimal128)
		return ok
	case "minKey":
		_, ok := v.(bson.MinKey)
		return ok
	case "maxKey":
		_, ok := v.(bson.MaxKey)
		return ok
	case "number":
		_, ok := toFloat(v)
		return ok
	}
	return false
}

// toFloat converts the three flexible numeric types.
func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func toInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), true
		}
	}
	return 0, false
}

// scalarEqual compares non-document, non-array values with flexible numerics.
func scalarEqual(exp, act any) bool {
	if a, ok := toInt64(exp); ok {
		if b, ok := toInt64(act); ok {
			_, ef := exp.(float64)
			_, af := act.(float64)
			if !ef && !af {
				return a == b
			}
		}
	}
	if a, ok := toFloat(exp); ok {
		b, ok := toFloat(act)
		return ok && a == b
	}
	return exactEqual(exp, act)
}

// exactEqual is strict equality (types included) that ignores document key
// order. It is used for collection outcomes, where the matching rules do not
// apply.
func exactEqual(a, b any) bool {
	switch x := a.(type) {
	case bson.D:
		y, ok := b.(bson.D)
		if !ok || len(x) != len(y) {
			return false
		}
		for _, e := range x {
			v, ok := lookup(y, e.Key)
			if !ok || !exactEqual(e.Value, v) {
				return false
			}
		}
		return true
	case bson.A:
		y, ok := b.(bson.A)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !exactEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || (math.IsNaN(x) && math.IsNaN(y)))
	}
	return reflect.DeepEqual(a, b)
}

type mismatchError struct{ msg string }

func (e *mismatchError) Error() string { return e.msg }

func mismatch(path, format string, args ...any) error {
	if path == "" {
		path = "(root)"
	}
	return &mismatchError{msg: path + ": " + fmt.Sprintf(format, args...)}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// jsonString renders a value as relaxed Extended JSON for messages.
func jsonString(v any) string {
	b, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: v}}, false, false)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	s := string(b)
	s = strings.TrimPrefix(s, `{"v":`)
	s = strings.TrimSuffix(s, "}")
	const limit = 400
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return s
}
