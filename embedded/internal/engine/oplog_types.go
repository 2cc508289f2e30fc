package engine

import (
	"time"

	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Namespace names a collection (or, with Coll empty, a database).
type Namespace struct {
	DB   string
	Coll string
}

// String returns "db.coll" (or "db" when Coll is empty).
func (n Namespace) String() string {
	if n.Coll == "" {
		return n.DB
	}
	return n.DB + "." + n.Coll
}

// Position orders oplog entries. All entries written by one commit share
// TS; Index numbers them 0, 1, 2... in the order they were applied. Outside
// a transaction every document write (and every catalog change) is its own
// commit, as on MongoDB; a transaction is one commit.
type Position struct {
	TS    bson.Timestamp
	Index uint32
}

// Compare orders positions: -1, 0 or +1.
func (p Position) Compare(q Position) int {
	switch {
	case p.TS.T != q.TS.T:
		if p.TS.T < q.TS.T {
			return -1
		}
		return 1
	case p.TS.I != q.TS.I:
		if p.TS.I < q.TS.I {
			return -1
		}
		return 1
	case p.Index != q.Index:
		if p.Index < q.Index {
			return -1
		}
		return 1
	}
	return 0
}

// OpType is the kind of an oplog entry.
type OpType uint8

// Oplog entry kinds. The first seven are what change streams report by
// default; the rest exist so that persistence can replay the catalog.
const (
	OpInsert OpType = iota + 1
	OpUpdate
	OpReplace
	OpDelete
	OpDrop         // a collection was dropped
	OpRename       // a collection was renamed to To
	OpDropDatabase // a database was dropped (after one OpDrop per collection)
	OpCreate       // a collection was created (explicitly or implicitly)
	OpCreateIndexes
	OpDropIndexes
	OpCollMod
)

// Entry is one oplog entry. Entries are immutable once appended: readers
// may share them without copying.
type Entry struct {
	Pos  Position
	Wall time.Time
	Op   OpType
	NS   Namespace

	// DocumentKey is {_id: <id>} for document operations.
	DocumentKey bson.Raw
	// Document is the document after the write for insert, replace and
	// update (the post-image is always recorded so persistence can replay
	// it); nil for delete.
	Document bson.Raw
	// PreImage is the document before an update, replace or delete. It is
	// recorded only when the collection had changeStreamPreAndPostImages
	// enabled at the time of the write.
	PreImage bson.Raw
	// ImagesEnabled records whether changeStreamPreAndPostImages was enabled
	// for the collection at the time of the write; fullDocument
	// whenAvailable/required may only use Document when it was.
	ImagesEnabled bool
	// UpdateDescription is set for OpUpdate.
	UpdateDescription *mql.UpdateDescription
	// To is the new namespace for OpRename.
	To Namespace

	// LSID and TxnNumber are set on entries written by a multi-document
	// transaction (change events carry them).
	LSID      bson.Raw
	TxnNumber *int64

	// Object carries the command-specific payload of catalog entries
	// (OpCreate options, index specs, collMod changes) for replay.
	Object bson.Raw
}
