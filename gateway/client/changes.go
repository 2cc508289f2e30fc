package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Op is the kind of a change (insert, update, replace, delete) or of a
// pushed operation (insert, replace, patch, delete).
type Op string

// The kinds of changes and operations.
const (
	OpInsert  Op = "insert"
	OpUpdate  Op = "update" // changes only: the whole current document comes with it
	OpReplace Op = "replace"
	OpPatch   Op = "patch" // operations only: Set and Unset
	OpDelete  Op = "delete"
)

// Change is one change of a pulled page or a subscription. Apply it as an
// upsert of Doc (insert, update, replace) or a delete by ID: a change can
// arrive twice (once in a snapshot page and again pulled; a delete when a
// document left the caller and again when it is deleted).
type Change struct {
	Collection string
	Op         Op
	// ID is the document's _id with its BSON type (an ObjectID stays one).
	ID bson.RawValue
	// Doc is the document after the change; nil for a delete.
	Doc bson.Raw
	// Version is the document's version after the change when the gateway
	// reports one (a gateway with push), else "": the Base of a later
	// Operation on the document.
	Version string
	// Time is the change's commit time on the gateway's database (its
	// cluster time; zero from a gateway that does not send it). Changes of
	// one collection come in Time order, and a Push result's Time is the
	// Time of the change that operation makes.
	Time bson.Timestamp
	// Cursor is the cursor right after this change in a Subscription;
	// empty in a Page (whose Cursor follows its last change).
	Cursor string
}

// Page is one answer of GET /v1/changes.
type Page struct {
	// Changes are the caller's changes after the cursor, in commit order
	// within each collection.
	Changes []Change
	// Cursor is where to continue: pass it as since.
	Cursor string
	// More says the page is full: more changes may follow at once.
	More bool
}

func pullQuery(collections []string, since string, limit int) (url.Values, error) {
	if len(collections) == 0 {
		return nil, errors.New("gateway client: no collections")
	}
	for _, c := range collections {
		if c == "" || strings.Contains(c, ",") {
			return nil, fmt.Errorf("gateway client: invalid collection name %q", c)
		}
	}
	q := url.Values{"collections": {strings.Join(collections, ",")}}
	if since != "" {
		q.Set("since", since)
	}
	if limit < 0 {
		return nil, errors.New("gateway client: negative limit")
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q, nil
}

// Changes pulls one page: the caller's changes of collections after since,
// at most limit (0: the gateway's default, 100). Without since it returns
// an empty page and the current cursor (take it before snapshots of
// several collections, see Snapshot). A cursor is bound to its owner and
// to the exact list of collections (ErrCursorRejected otherwise); a cursor
// older than the database's history is ErrCursorExpired (take a snapshot
// again).
func (c *Client) Changes(ctx context.Context, collections []string, since string, limit int) (*Page, error) {
	q, err := pullQuery(collections, since, limit)
	if err != nil {
		return nil, err
	}
	b, err := c.do(ctx, request{method: "GET", path: "/v1/changes", query: q, retry: true})
	if err != nil {
		return nil, err
	}
	return decodePage(b)
}

// ChangesFresh is Changes read from the database's own history rather
// than the gateway's shared stream: the page holds every change committed
// before the call (the shared stream can trail the database by its
// latency). since is required. Each call costs the gateway a server
// cursor: use it as a barrier ("has everything before now arrived?"),
// not to poll.
func (c *Client) ChangesFresh(ctx context.Context, collections []string, since string, limit int) (*Page, error) {
	if since == "" {
		return nil, errors.New("gateway client: ChangesFresh needs since")
	}
	q, err := pullQuery(collections, since, limit)
	if err != nil {
		return nil, err
	}
	q.Set("fresh", "true")
	b, err := c.do(ctx, request{method: "GET", path: "/v1/changes", query: q, retry: true})
	if err != nil {
		return nil, err
	}
	return decodePage(b)
}

// Longpoll is Changes that waits up to wait (at most the gateway's
// MaxLongPoll, 60 s by default) for the caller's next change: it answers
// as soon as there is one, or with an empty page and a cursor when wait
// passes. The gateway's default page size applies.
func (c *Client) Longpoll(ctx context.Context, collections []string, since string, wait time.Duration) (*Page, error) {
	q, err := pullQuery(collections, since, 0)
	if err != nil {
		return nil, err
	}
	if wait < 0 {
		return nil, errors.New("gateway client: negative wait")
	}
	q.Set("live", "longpoll")
	q.Set("timeout", strconv.FormatFloat(wait.Seconds(), 'f', -1, 64))
	b, err := c.do(ctx, request{method: "GET", path: "/v1/changes", query: q, retry: true, wait: wait})
	if err != nil {
		return nil, err
	}
	return decodePage(b)
}

// decodePage reads a page of extended JSON (canonical, as the client asks
// for it), so that every value of the documents keeps its BSON type.
func decodePage(b []byte) (*Page, error) {
	var raw bson.Raw
	if err := bson.UnmarshalExtJSON(b, false, &raw); err != nil {
		return nil, protocolError("changes page: %v", err)
	}
	p := &Page{}
	var ok bool
	if p.Cursor, ok = raw.Lookup("cursor").StringValueOK(); !ok || p.Cursor == "" {
		return nil, protocolError("changes page without a cursor")
	}
	p.More, _ = raw.Lookup("more").BooleanOK()
	arr, ok := raw.Lookup("changes").ArrayOK()
	if !ok {
		return nil, protocolError("changes page without changes")
	}
	vals, err := arr.Values()
	if err != nil {
		return nil, protocolError("changes: %v", err)
	}
	for _, v := range vals {
		d, ok := v.DocumentOK()
		if !ok {
			return nil, protocolError("a change is not an object")
		}
		ch, err := decodeChange(d)
		if err != nil {
			return nil, err
		}
		p.Changes = append(p.Changes, ch)
	}
	return p, nil
}

func decodeChange(d bson.Raw) (Change, error) {
	var ch Change
	coll, ok1 := d.Lookup("collection").StringValueOK()
	op, ok2 := d.Lookup("op").StringValueOK()
	id, err := d.LookupErr("id")
	if !ok1 || !ok2 || err != nil {
		return ch, protocolError("a change without collection, op or id: %s", d)
	}
	ch.Collection, ch.Op, ch.ID = coll, Op(op), id
	if v, err := d.LookupErr("doc"); err == nil && v.Type != bson.TypeNull {
		if ch.Doc, ok1 = v.DocumentOK(); !ok1 {
			return ch, protocolError("a change's doc is not an object")
		}
	}
	ch.Version, _ = d.Lookup("version").StringValueOK()
	if t, i, ok := d.Lookup("time").TimestampOK(); ok {
		ch.Time = bson.Timestamp{T: t, I: i}
	}
	return ch, nil
}
