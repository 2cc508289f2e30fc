// Package engine is the storage core of the embedded server: databases and
// collections kept in ordered B-trees by _id, secondary (unique) indexes,
// snapshot transactions, a cluster clock, the capped oplog that change
// streams read, and optional persistence of data and oplog to a directory.
//
// It knows nothing about the wire protocol; the embedded package translates
// commands into calls on an *Engine.
package engine
