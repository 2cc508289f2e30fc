// Package bsonx decodes raw BSON into the bson.D / bson.A values that
// internal/mql works on, producing exactly what bson.Unmarshal into a bson.D
// produces, but without reflection and with few allocations.
//
// It exists because the embedded server decodes BSON on every hot path (each
// command body, each stored document a scan matches, each change event a
// user pipeline filters), and reflection-based decoding dominated those
// costs. Before this package the server, the engine and the change streams
// each had their own hand-written copy of this decoder.
package bsonx
