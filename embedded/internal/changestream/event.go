package changestream

import (
	"strconv"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"github.com/mongotide/mongotide/internal/bsonx"
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// opTypeName is the operationType of the event an oplog entry produces.
func opTypeName(op engine.OpType) string {
	switch op {
	case engine.OpInsert:
		return "insert"
	case engine.OpUpdate:
		return "update"
	case engine.OpReplace:
		return "replace"
	case engine.OpDelete:
		return "delete"
	case engine.OpDrop:
		return "drop"
	case engine.OpRename:
		return "rename"
	case engine.OpDropDatabase:
		return "dropDatabase"
	case engine.OpCreate:
		return "create"
	case engine.OpCreateIndexes:
		return "createIndexes"
	case engine.OpDropIndexes:
		return "dropIndexes"
	case engine.OpCollMod:
		return "modify"
	}
	return ""
}

// eventOp is the kind of event an entry produces. A pipeline-style update
// whose diff would be larger than the new document is reported as a
// replacement, as MongoDB logs it (mql marks it UpdateDescription.Replaced).
func eventOp(e *engine.Entry) engine.OpType {
	if e.Op == engine.OpUpdate && e.UpdateDescription != nil && e.UpdateDescription.Replaced {
		return engine.OpReplace
	}
	return e.Op
}

// imageLookup finds the current version of a document for
// fullDocument: updateLookup.
type imageLookup func(ns engine.Namespace, id any) (bson.Raw, bool)

// appendEvent appends the change event for e to dst, with its fields in the
// order MongoDB 8.0's ChangeStreamDefaultEventTransformation and the image
// stages produce them:
//
//	[to] [txnNumber lsid] _id operationType clusterTime wallTime [fullDocument]
//	ns [documentKey] [updateDescription] [fullDocumentBeforeChange]
//
// (MongoDB adds the rename target and the transaction fields before the
// resume token; the post-image fills a slot reserved after wallTime; the
// pre-image is appended last.)
func appendEvent(dst []byte, e *engine.Entry, tok token, sp *spec, lookup imageLookup) ([]byte, error) {
	op := eventOp(e)
	hasPreImage := op == engine.OpUpdate || op == engine.OpReplace || op == engine.OpDelete
	// MongoDB looks the pre-image up before the post-image: its error wins.
	if sp.preImage == preImageRequired && hasPreImage && e.PreImage == nil {
		return nil, errorf(CodeNoMatchingDocument, "NoMatchingDocument",
			"Change stream was configured to require a pre-image for all update, delete and "+
				"replace events, but the pre-image was not found for event: %s", imageErrorContext(e))
	}
	idx, dst := bsoncore.AppendDocumentStart(dst)

	if op == engine.OpRename {
		dst = appendNS(dst, "to", e.To)
	}
	if e.TxnNumber != nil {
		dst = bsoncore.AppendInt64Element(dst, "txnNumber", *e.TxnNumber)
	}
	if e.LSID != nil {
		dst = bsoncore.AppendDocumentElement(dst, "lsid", e.LSID)
	}
	dst = bsoncore.AppendHeader(dst, bsoncore.TypeEmbeddedDocument, "_id")
	dst = tok.appendDoc(dst)
	dst = bsoncore.AppendStringElement(dst, "operationType", opTypeName(op))
	dst = bsoncore.AppendTimestampElement(dst, "clusterTime", e.Pos.TS.T, e.Pos.TS.I)
	dst = bsoncore.AppendDateTimeElement(dst, "wallTime", e.Wall.UnixMilli())
	if sp.showExpandedEvents {
		dst = appendCollectionUUID(dst, e)
	}

	switch op {
	case engine.OpInsert, engine.OpReplace:
		dst = appendDocOrNull(dst, "fullDocument", e.Document)
	case engine.OpUpdate:
		switch sp.fullDocument {
		case fullDocUpdateLookup:
			var cur bson.Raw
			if id, ok := documentID(e.DocumentKey); ok {
				if doc, found := lookup(e.NS, id); found {
					cur = doc
				}
			}
			dst = appendDocOrNull(dst, "fullDocument", cur)
		case fullDocWhenAvailable, fullDocRequired:
			var post bson.Raw
			if e.ImagesEnabled {
				post = e.Document
			}
			if post == nil && sp.fullDocument == fullDocRequired {
				return nil, errorf(CodeNoMatchingDocument, "NoMatchingDocument",
					"Change stream was configured to require a post-image for all update events, "+
						"but the post-image was not found for event: %s", imageErrorContext(e))
			}
			dst = appendDocOrNull(dst, "fullDocument", post)
		}
	}

	if op == engine.OpDropDatabase {
		dst = appendNS(dst, "ns", engine.Namespace{DB: e.NS.DB})
	} else {
		dst = appendNS(dst, "ns", e.NS)
	}

	switch op {
	case engine.OpInsert, engine.OpUpdate, engine.OpReplace, engine.OpDelete:
		dst = appendDocOrNull(dst, "documentKey", e.DocumentKey)
	}
	if op == engine.OpUpdate {
		var err error
		var post bson.Raw
		if sp.showExpandedEvents {
			post = e.Document
		}
		if dst, err = appendUpdateDescription(dst, e.UpdateDescription, sp.showExpandedEvents, post); err != nil {
			return nil, err
		}
	}
	if sp.showExpandedEvents {
		dst = appendOperationDescription(dst, op, e)
	}

	if sp.preImage != preImageOff && hasPreImage {
		dst = appendDocOrNull(dst, "fullDocumentBeforeChange", e.PreImage)
	}
	return bsoncore.AppendDocumentEnd(dst, idx)
}

// appendInvalidate appends the invalidate event that follows the event of e
// (same cluster time, a token that sorts right after the event's).
func appendInvalidate(dst []byte, e *engine.Entry) []byte {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	dst = bsoncore.AppendHeader(dst, bsoncore.TypeEmbeddedDocument, "_id")
	dst = token{pos: e.Pos, kind: kindInvalidate}.appendDoc(dst)
	dst = bsoncore.AppendStringElement(dst, "operationType", "invalidate")
	dst = bsoncore.AppendTimestampElement(dst, "clusterTime", e.Pos.TS.T, e.Pos.TS.I)
	dst = bsoncore.AppendDateTimeElement(dst, "wallTime", e.Wall.UnixMilli())
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

func appendNS(dst []byte, key string, ns engine.Namespace) []byte {
	idx, dst := bsoncore.AppendDocumentElementStart(dst, key)
	dst = bsoncore.AppendStringElement(dst, "db", ns.DB)
	if ns.Coll != "" {
		dst = bsoncore.AppendStringElement(dst, "coll", ns.Coll)
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

func appendDocOrNull(dst []byte, key string, doc bson.Raw) []byte {
	if doc == nil {
		return bsoncore.AppendNullElement(dst, key)
	}
	return bsoncore.AppendDocumentElement(dst, key, doc)
}

// appendUpdateDescription appends updateDescription; with expanded
// events it ends with disambiguatedPaths, resolved against the post-image.
func appendUpdateDescription(dst []byte, u *mql.UpdateDescription, expanded bool, post bson.Raw) ([]byte, error) {
	if u == nil {
		u = &mql.UpdateDescription{}
	}
	outer, dst := bsoncore.AppendDocumentElementStart(dst, "updateDescription")

	fields, dst := bsoncore.AppendDocumentElementStart(dst, "updatedFields")
	for _, f := range u.UpdatedFields {
		var err error
		if dst, err = bsonx.AppendValueElement(dst, f.Path, f.Value); err != nil {
			return nil, errorf(CodeBadValue, "BadValue", "cannot encode updated field %q: %v", f.Path, err)
		}
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, fields)

	removed, dst := bsoncore.AppendArrayElementStart(dst, "removedFields")
	var key []byte
	for i, p := range u.RemovedFields {
		key = strconv.AppendInt(key[:0], int64(i), 10)
		dst = bsoncore.AppendStringElement(dst, string(key), p)
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, removed)

	truncated, dst := bsoncore.AppendArrayElementStart(dst, "truncatedArrays")
	for i, t := range u.TruncatedArrays {
		key = strconv.AppendInt(key[:0], int64(i), 10)
		elem, d := bsoncore.AppendDocumentElementStart(dst, string(key))
		d = bsoncore.AppendStringElement(d, "field", t.Field)
		d = bsoncore.AppendInt32Element(d, "newSize", t.NewSize)
		dst, _ = bsoncore.AppendDocumentEnd(d, elem)
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, truncated)
	if expanded {
		dst = appendDisambiguatedPaths(dst, u, post)
	}

	dst, _ = bsoncore.AppendDocumentEnd(dst, outer)
	return dst, nil
}

// documentID extracts documentKey._id as a Go value for FindByID.
func documentID(key bson.Raw) (any, bool) {
	rv, err := key.LookupErr("_id")
	if err != nil {
		return nil, false
	}
	var id any
	if err := rv.Unmarshal(&id); err != nil {
		return nil, false
	}
	return id, true
}

// imageErrorContext renders the event summary MongoDB puts in image errors.
func imageErrorContext(e *engine.Entry) string {
	d := bson.D{
		{Key: "operationType", Value: opTypeName(eventOp(e))},
		{Key: "ns", Value: bson.D{{Key: "db", Value: e.NS.DB}, {Key: "coll", Value: e.NS.Coll}}},
		{Key: "clusterTime", Value: e.Pos.TS},
	}
	if e.TxnNumber != nil {
		d = append(d, bson.E{Key: "txnNumber", Value: *e.TxnNumber})
	}
	return docString(d)
}
