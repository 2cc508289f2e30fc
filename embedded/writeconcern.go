package embedded

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// unsatisfiedWriteConcern returns the writeConcernError of a command whose
// write concern one node can never satisfy, or nil. mongod validates only
// the shape of a write concern up front; whether the replica set can
// satisfy it is found while waiting for it, after the write is applied. So,
// as there, the write stands and the reply carries {code: 100,
// UnsatisfiableWriteConcern} for w greater than the members (one here), or
// {code: 79, UnknownReplWriteConcern} for a tag the set's configuration
// does not define (this set defines none). wtimeout never matters: w: 1 and
// "majority" are satisfied when the write returns.
func unsatisfiedWriteConcern(req *request) bson.D {
	v, ok := lookup(req.Body, "writeConcern")
	if !ok {
		return nil
	}
	wc, ok := v.(bson.D)
	if !ok {
		return nil
	}
	w, ok := lookup(wc, "w")
	if !ok {
		return nil
	}
	var code int32
	var msg string
	switch w := w.(type) {
	case string:
		if w == "majority" {
			return nil
		}
		code, msg = 79, fmt.Sprintf("No write concern mode named '%s' found in replica set configuration", w)
	default:
		n, ok := asInt64(w)
		if !ok || n <= 1 {
			return nil
		}
		code, msg = 100, "Not enough data-bearing nodes"
	}
	info := append(bson.D{}, wc...)
	if _, ok := lookup(info, "provenance"); !ok {
		info = append(info, bson.E{Key: "provenance", Value: "clientSupplied"})
	}
	return bson.D{
		{Key: "code", Value: code},
		{Key: "codeName", Value: codeName(code)},
		{Key: "errmsg", Value: msg},
		{Key: "errInfo", Value: bson.D{{Key: "writeConcern", Value: info}}},
	}
}
