// Package mql implements the MongoDB query language over decoded BSON values:
// the BSON comparison order, dotted-path access with MongoDB's array
// semantics, query filters, sort specifications, find projections, update
// documents (operators, replacements and pipelines, with a change description
// for change-stream events) and aggregation expressions and stages.
//
// It is the evaluation core of the embedded server and knows nothing about
// storage, the wire protocol or change streams.
//
// Values are those that go.mongodb.org/mongo-driver/v2/bson produces when it
// unmarshals into a bson.D: bson.D, bson.A, int32, int64, float64, string,
// bool, nil, bson.ObjectID, bson.DateTime, bson.Timestamp, bson.Binary,
// bson.Regex, bson.Decimal128, bson.MinKey, bson.MaxKey, bson.Undefined,
// bson.JavaScript, bson.CodeWithScope, bson.Symbol and bson.DBPointer.
// Functions never modify the documents they are given; results that differ
// from an input are fresh copies.
//
// Errors returned for bad input are *Error values carrying the numeric code
// and code name that a MongoDB server uses for the same mistake.
package mql
