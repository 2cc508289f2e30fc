package mql

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// uj parses relaxed extended JSON into a value (document, array or scalar).
func uj(t testing.TB, s string) any {
	t.Helper()
	var d bson.D
	if err := bson.UnmarshalExtJSON([]byte(`{"v":`+s+`}`), false, &d); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return d[0].Value
}

func ujd(t testing.TB, s string) bson.D {
	t.Helper()
	d, ok := uj(t, s).(bson.D)
	if !ok {
		t.Fatalf("test JSON %s is not a document", s)
	}
	return d
}

func ujs(v any) string {
	b, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: v}}, false, false)
	if err != nil {
		return "<unprintable>"
	}
	return string(b[5 : len(b)-1])
}

// wantCode checks err is an *Error with the given code.
func wantCode(t testing.TB, err error, code int32) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error code %d, got %v", code, err)
	}
	if e.Code != code {
		t.Fatalf("want code %d, got %d: %s", code, e.Code, e.Message)
	}
}
