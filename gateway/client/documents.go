package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Document is a document read through the gateway.
type Document struct {
	// Doc is the document as the gateway stores it, every value with its
	// BSON type (the client asks for canonical extended JSON).
	Doc bson.Raw
	// Version is the document's version when the gateway reports one (a
	// gateway with push), else "": the Base of a later Operation on it.
	Version string
}

// ID returns the document's _id.
func (d Document) ID() bson.RawValue { return d.Doc.Lookup("_id") }

// decodeDocument reads one document of an answer.
func decodeDocument(v bson.RawValue) (Document, error) {
	d, ok := v.DocumentOK()
	if !ok {
		return Document{}, protocolError("a document is not an object")
	}
	return Document{Doc: d}, nil
}

// extJSONValue renders v as canonical extended JSON, which keeps its type:
// "abc" (with its quotes), {"$numberLong": "42"}, {"$oid": "..."}.
func extJSONValue(v any) (string, error) {
	b, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: v}}, true, false)
	if err != nil {
		return "", err
	}
	// {"v":X}
	b = bytes.TrimPrefix(b, []byte(`{"v":`))
	return string(bytes.TrimSuffix(b, []byte("}"))), nil
}

// Get reads one of the caller's documents by _id (a string, an ObjectID,
// a number, a Change's ID, ...). A document that does not exist and
// another owner's look the same: ErrNotFound.
func (c *Client) Get(ctx context.Context, collection string, id any) (Document, error) {
	if collection == "" {
		return Document{}, errors.New("gateway client: no collection")
	}
	// The id travels as extended JSON, which the gateway reads back with
	// its type: a string id that looks like an ObjectID stays a string.
	ej, err := extJSONValue(id)
	if err != nil {
		return Document{}, fmt.Errorf("gateway client: id: %w", err)
	}
	var h http.Header
	b, err := c.do(ctx, request{method: "GET", path: "/v1/documents/" + url.PathEscape(collection) + "/" + url.PathEscape(ej), retry: true, header: &h})
	if err != nil {
		return Document{}, err
	}
	var raw bson.Raw
	if err := bson.UnmarshalExtJSON(b, false, &raw); err != nil {
		return Document{}, protocolError("document: %v", err)
	}
	// The version travels in a header: in the body it would change the
	// document it names.
	return Document{Doc: raw, Version: h.Get("Mongotide-Version")}, nil
}

// Query is the body of POST /v1/documents/{coll}/query. The gateway ANDs
// the caller's owner filter in and allows the operators $eq $ne $gt $gte
// $lt $lte $in $nin $exists $and $or.
type Query struct {
	// Filter is a document (bson.D, bson.M, a struct); nil: every
	// document of the caller's.
	Filter any
	// Sort is the sort order: field: 1 or -1, in order.
	Sort bson.D
	// Limit caps the answer (0: the gateway's default; it caps it at its
	// MaxQueryLimit).
	Limit int64
	// Projection includes (1) or excludes (0) fields.
	Projection any
}

// Query returns the caller's documents of collection matching q.
func (c *Client) Query(ctx context.Context, collection string, q Query) ([]Document, error) {
	if collection == "" {
		return nil, errors.New("gateway client: no collection")
	}
	body := bson.D{}
	if q.Filter != nil {
		body = append(body, bson.E{Key: "filter", Value: q.Filter})
	}
	if len(q.Sort) > 0 {
		body = append(body, bson.E{Key: "sort", Value: q.Sort})
	}
	if q.Limit != 0 {
		body = append(body, bson.E{Key: "limit", Value: q.Limit})
	}
	if q.Projection != nil {
		body = append(body, bson.E{Key: "projection", Value: q.Projection})
	}
	// Canonical: an int64 in a filter stays one.
	js, err := bson.MarshalExtJSON(body, true, false)
	if err != nil {
		return nil, fmt.Errorf("gateway client: query: %w", err)
	}
	// A query reads only, so sending it again is safe.
	b, err := c.do(ctx, request{method: "POST", path: "/v1/documents/" + url.PathEscape(collection) + "/query", body: js, retry: true})
	if err != nil {
		return nil, err
	}
	var raw bson.Raw
	if err := bson.UnmarshalExtJSON(b, false, &raw); err != nil {
		return nil, protocolError("query answer: %v", err)
	}
	return decodeDocuments(raw, "documents")
}

// decodeDocuments reads the documents array of an answer and, when the
// gateway sends it, the "versions" array parallel to it (a query with a
// projection has none: its documents are not whole).
func decodeDocuments(raw bson.Raw, key string) ([]Document, error) {
	arr, ok := raw.Lookup(key).ArrayOK()
	if !ok {
		return nil, protocolError("answer without %s", key)
	}
	vals, err := arr.Values()
	if err != nil {
		return nil, protocolError("%s: %v", key, err)
	}
	var versions []bson.RawValue
	if va, ok := raw.Lookup("versions").ArrayOK(); ok {
		if versions, err = va.Values(); err != nil {
			return nil, protocolError("versions: %v", err)
		}
		if len(versions) != len(vals) {
			return nil, protocolError("%d versions for %d %s", len(versions), len(vals), key)
		}
	}
	docs := make([]Document, 0, len(vals))
	for i, v := range vals {
		d, err := decodeDocument(v)
		if err != nil {
			return nil, err
		}
		if versions != nil {
			if d.Version, ok = versions[i].StringValueOK(); !ok {
				return nil, protocolError("version %d is not a string", i)
			}
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// SnapshotPage is one page of GET /v1/snapshot.
type SnapshotPage struct {
	// Documents are the caller's, by _id.
	Documents []Document
	// Next is the last _id as extended JSON, to pass as after; "" on the
	// last page.
	Next string
	// Cursor is on the first page only: the collection's position taken
	// before the snapshot read anything. Pull from it once every page is
	// stored: nothing is missed.
	Cursor string
}

// SnapshotPage reads one page of the caller's documents of collection, by
// _id, after after (a previous page's Next; "" for the first page), at most
// limit (0: the gateway's default).
func (c *Client) SnapshotPage(ctx context.Context, collection, after string, limit int) (*SnapshotPage, error) {
	if collection == "" {
		return nil, errors.New("gateway client: no collection")
	}
	q := url.Values{"collection": {collection}}
	if after != "" {
		q.Set("after", after)
	}
	if limit < 0 {
		return nil, errors.New("gateway client: negative limit")
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	b, err := c.do(ctx, request{method: "GET", path: "/v1/snapshot", query: q, retry: true})
	if err != nil {
		return nil, err
	}
	var raw bson.Raw
	if err := bson.UnmarshalExtJSON(b, false, &raw); err != nil {
		return nil, protocolError("snapshot page: %v", err)
	}
	p := &SnapshotPage{}
	if p.Documents, err = decodeDocuments(raw, "documents"); err != nil {
		return nil, err
	}
	// next is a string holding extended JSON, or null.
	p.Next, _ = raw.Lookup("next").StringValueOK()
	p.Cursor, _ = raw.Lookup("cursor").StringValueOK()
	if after == "" && p.Cursor == "" {
		return nil, protocolError("the first snapshot page has no cursor")
	}
	return p, nil
}

// Snapshot pages through all of the caller's documents of collection,
// limit per page (0: the gateway's default), calling page with each page's
// documents in _id order, and returns the cursor to pull from next. The
// cursor is the collection's position captured before the first page was
// read, so snapshot + Changes (or Subscribe) from it misses no change made
// while paging; a change can show up in a page and again pulled: apply
// changes as upserts and deletes by _id. An error of page stops the
// paging and is returned.
//
// For several collections pulled with one cursor, take the cursor with
// Changes(ctx, collections, "", 0) before their snapshots and pull from
// that one: equally gap-free.
func (c *Client) Snapshot(ctx context.Context, collection string, limit int, page func(docs []Document) error) (cursor string, err error) {
	after := ""
	for {
		p, err := c.SnapshotPage(ctx, collection, after, limit)
		if err != nil {
			return "", err
		}
		if after == "" {
			cursor = p.Cursor
		}
		if len(p.Documents) > 0 {
			if err := page(p.Documents); err != nil {
				return "", err
			}
		}
		if p.Next == "" {
			return cursor, nil
		}
		after = p.Next
	}
}
