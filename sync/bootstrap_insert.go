package sync

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// rawInsertBytes bounds the documents of one raw insert command, well under
// the 16 MiB a command document may hold.
const rawInsertBytes = 8 << 20

// insertRaw inserts docs (each with its _id) into coll with unordered insert
// commands that carry the documents' bytes as they are. The driver's
// InsertMany and BulkWrite decode every document to find its _id first,
// which for 1-KiB documents was a fifth of a bootstrap's CPU; the copied
// documents already have theirs. A document too large to share a command
// goes through the driver's InsertOne. It returns the indexes of the
// documents that failed on a duplicate _id (see insertsRaced), or the first
// other error.
func insertRaw(ctx context.Context, coll *mongo.Collection, docs []bson.Raw) ([]int, error) {
	return insertRawMax(ctx, coll, docs, rawInsertBytes)
}

// insertRawMax is insertRaw with commands of at most maxBytes of documents.
func insertRawMax(ctx context.Context, coll *mongo.Collection, docs []bson.Raw, maxBytes int) ([]int, error) {
	var raced []int
	for start := 0; start < len(docs); {
		if len(docs[start]) > maxBytes {
			if _, err := coll.InsertOne(ctx, docs[start]); err != nil {
				var we mongo.WriteException
				if !errors.As(err, &we) || we.WriteConcernError != nil || len(we.WriteErrors) != 1 ||
					we.WriteErrors[0].Code != 11000 || !dupOnID(we.WriteErrors[0]) {
					return nil, err
				}
				raced = append(raced, start)
			}
			start++
			continue
		}
		end, size := start, 0
		for end < len(docs) && len(docs[end]) <= maxBytes && size+len(docs[end]) <= maxBytes {
			size += len(docs[end])
			end++
		}
		r, err := insertCommand(ctx, coll, docs[start:end])
		if err != nil {
			return nil, err
		}
		for _, i := range r {
			raced = append(raced, start+i)
		}
		start = end
	}
	return raced, nil
}

// insertCommand sends one unordered insert command of docs.
func insertCommand(ctx context.Context, coll *mongo.Collection, docs []bson.Raw) ([]int, error) {
	n := 64
	for _, d := range docs {
		n += len(d) + 8
	}
	idx, cmd := bsoncore.AppendDocumentStart(make([]byte, 0, n))
	cmd = bsoncore.AppendStringElement(cmd, "insert", coll.Name())
	aidx, cmd := bsoncore.AppendArrayElementStart(cmd, "documents")
	for i, d := range docs {
		cmd = bsoncore.AppendDocumentElement(cmd, strconv.Itoa(i), d)
	}
	cmd, err := bsoncore.AppendArrayEnd(cmd, aidx)
	if err != nil {
		return nil, err
	}
	cmd = bsoncore.AppendBooleanElement(cmd, "ordered", false)
	if cmd, err = bsoncore.AppendDocumentEnd(cmd, idx); err != nil {
		return nil, err
	}
	// The driver reports the reply's writeErrors as a WriteException.
	_, err = coll.Database().RunCommand(ctx, bson.Raw(cmd)).Raw()
	if err == nil {
		return nil, nil
	}
	var we mongo.WriteException
	if !errors.As(err, &we) || we.WriteConcernError != nil || len(we.WriteErrors) == 0 {
		return nil, err
	}
	raced := make([]int, 0, len(we.WriteErrors))
	for _, e := range we.WriteErrors {
		if e.Code != 11000 || !dupOnID(e) {
			return nil, fmt.Errorf("insert into %s: %w", coll.Name(), err)
		}
		raced = append(raced, e.Index)
	}
	return raced, nil
}
