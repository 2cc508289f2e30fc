package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Operation is one write of a Push.
type Operation struct {
	// OpID identifies the operation to the gateway, which answers a
	// repeated OpID with the operation's first result instead of applying
	// it again. Leave it empty and Push generates one (and writes it
	// here). Keep it with the operation until its result arrives: sending
	// the operation again later with the same OpID is what makes it safe.
	OpID       string
	Collection string
	// Op is OpInsert, OpReplace, OpPatch or OpDelete.
	Op Op
	// ID is the document's _id (a string, an ObjectID, ...).
	ID any
	// Doc is the whole document of an insert or replace (bson.D, bson.M,
	// a struct).
	Doc any
	// Set (a document of field paths to values) and Unset (field paths)
	// are a patch's changes.
	Set   any
	Unset []string
	// Base is the version the client based the operation on (a Change's,
	// Document's or Result's Version); empty for a new insert. A Base that
	// is not the document's current version is a conflict.
	Base string
	// At is when the edit was made (zero: when the gateway applies it).
	// It is the physical time of the edit's version, so under
	// last-writer-wins an edit made offline and pushed late loses to a
	// concurrent edit made after it. The gateway takes its own time
	// instead of one ahead of its clock.
	At time.Time
	// BaseDoc is the document of version Base, when the client kept it:
	// under the gateway's FieldMerge policy a conflict is then merged
	// field by field against it (without it, last writer wins decides the
	// whole document). Sent only with a Base.
	BaseDoc any
}

// Status is what became of a pushed operation.
type Status string

// The statuses of a Result.
const (
	// Accepted: applied (or applied earlier, when Replayed); Version is
	// the document's new version.
	Accepted Status = "accepted"
	// Conflict: the document changed since Base; Outcome says how the
	// gateway's conflict policy decided it and Doc is the document now.
	Conflict Status = "conflict"
	// Rejected: refused (no write role, invalid operation); Error says
	// why. Sending it again gets the same answer.
	Rejected Status = "rejected"
)

// Result is the gateway's answer to one Operation.
type Result struct {
	OpID    string
	Status  Status
	Version string
	Outcome string
	// Doc is the document on the gateway's side, when the answer carries
	// it (a conflict).
	Doc bson.Raw
	// Conflict describes the concurrent edit the operation overwrote or
	// lost to, as sync's conflict log records it, for the device's own
	// log; nil when it met none (also for Outcome "downloaded", where
	// nothing was overwritten). A replayed result carries the same.
	Conflict *ConflictDetail
	Error    string
	// Message says why, in words, for a rejection.
	Message string
	// Time is the cluster time of the operation's write when it wrote the
	// document: the Time of the Change it makes in a pull. Zero when it
	// wrote nothing (same content, the gateway's document won), or on a
	// replay (Replayed: the first answer's time is not kept).
	Time     bson.Timestamp
	Replayed bool // the OpID was seen before: this is its first result
}

// ConflictDetail is a pushed operation's conflict (sync.Conflict, from the
// gateway's side: "local" is the pushed edit, "remote" the server's
// document it met).
type ConflictDetail struct {
	Kept   string   // "local" (the pushed edit won) or "remote"
	Policy string   // the gateway's conflict policy, e.g. "last-writer-wins"
	Reason string   // FieldMerge's reason (sync.ConflictReason), else ""
	Fields []string // FieldMerge's clashing fields (dotted paths)
	// KeptOmitted: the kept side's document is left out (nil without
	// being a delete), both being too large to keep; Result.Doc is what
	// it became.
	KeptOmitted bool
	// Local and Remote are the pushed edit (the document it would make)
	// and the server's document it met; nil: a delete.
	Local, Remote               bson.Raw
	LocalVersion, RemoteVersion VersionStamp
}

// VersionStamp is a sync.Version: the edit's hybrid logical clock
// (physical milliseconds << 16 | a counter) and the replica that made it
// ("gw:<base64url(owner)>:<clientId>" for a push).
type VersionStamp struct {
	HLC     int64
	Replica string
}

// newOpID returns 128 random bits in hex: unique without coordination.
func newOpID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// Push sends ops to POST /v1/operations as one batch and returns their
// results in the same order. Operations without an OpID get one, written
// into ops, before anything is sent.
//
// Push is idempotent: when the request fails on the network or with a 5xx
// (or a 429), it is sent again, whole, with the same OpIDs, as
// Config.Backoff and MaxRetries allow; an operation the gateway applied
// before the answer was lost is not applied again, the gateway answers
// with its first result (Replayed). For the same reason a caller that
// gets an error from Push can send the same ops again later (after a
// restart too, if it kept them) without writing anything twice.
//
// An error means no result arrived; per-operation refusals are results
// (Conflict, Rejected), not errors.
func (c *Client) Push(ctx context.Context, ops []Operation) ([]Result, error) {
	return c.PushAs(ctx, c.cfg.ClientID, ops)
}

// PushAs is Push as device clientID instead of Config.ClientID (a program
// that pushes for several devices, or package sync, whose replica id is
// the clientId).
func (c *Client) PushAs(ctx context.Context, clientID string, ops []Operation) ([]Result, error) {
	if clientID != "" && !ClientIDPattern.MatchString(clientID) {
		return nil, fmt.Errorf("gateway client: clientId %q: 1 to 64 of A-Z a-z 0-9 . _ ~ -", clientID)
	}
	if len(ops) == 0 {
		return nil, nil
	}
	arr := make(bson.A, 0, len(ops))
	for i := range ops {
		op := &ops[i]
		if err := checkOperation(op); err != nil {
			return nil, fmt.Errorf("gateway client: operation %d: %w", i, err)
		}
		if op.OpID == "" {
			id, err := newOpID()
			if err != nil {
				return nil, fmt.Errorf("gateway client: operation id: %w", err)
			}
			op.OpID = id
		}
		d := bson.D{
			{Key: "opId", Value: op.OpID},
			{Key: "collection", Value: op.Collection},
			{Key: "op", Value: string(op.Op)},
			{Key: "id", Value: op.ID},
		}
		if op.Doc != nil {
			d = append(d, bson.E{Key: "doc", Value: op.Doc})
		}
		if op.Set != nil {
			d = append(d, bson.E{Key: "set", Value: op.Set})
		}
		if len(op.Unset) > 0 {
			d = append(d, bson.E{Key: "unset", Value: op.Unset})
		}
		if op.Base != "" {
			d = append(d, bson.E{Key: "base", Value: op.Base})
			if op.BaseDoc != nil {
				d = append(d, bson.E{Key: "baseDoc", Value: op.BaseDoc})
			}
		}
		if !op.At.IsZero() {
			d = append(d, bson.E{Key: "at", Value: op.At.UTC().Format(time.RFC3339Nano)})
		}
		arr = append(arr, d)
	}
	// Canonical, so that ids and documents are stored with their types
	// (relaxed would write an int64 5 as 5, stored as an int32).
	body := bson.D{{Key: "operations", Value: arr}}
	if clientID != "" {
		body = append(bson.D{{Key: "clientId", Value: clientID}}, body...)
	}
	raw, err := bson.MarshalExtJSON(body, true, false)
	if err != nil {
		return nil, fmt.Errorf("gateway client: push: %w", err)
	}
	// The same bytes, so the same OpIDs, on every attempt.
	b, err := c.do(ctx, request{method: "POST", path: "/v1/operations", body: raw, retry: true})
	if err != nil {
		return nil, err
	}
	return decodeResults(b, ops)
}

func checkOperation(op *Operation) error {
	if op.Collection == "" {
		return errors.New("no collection")
	}
	if op.ID == nil {
		return errors.New("no id")
	}
	switch op.Op {
	case OpInsert, OpReplace:
		if op.Doc == nil {
			return fmt.Errorf("%s without a doc", op.Op)
		}
		if op.Set != nil || op.Unset != nil {
			return fmt.Errorf("%s with set or unset (a patch's)", op.Op)
		}
	case OpPatch:
		if op.Doc != nil {
			return errors.New("patch with a doc (use set and unset, or replace)")
		}
		if op.Set == nil && len(op.Unset) == 0 {
			return errors.New("patch without set or unset")
		}
	case OpDelete:
		if op.Doc != nil || op.Set != nil || op.Unset != nil {
			return errors.New("delete with a doc, set or unset")
		}
	default:
		return fmt.Errorf("unknown op %q (insert, replace, patch or delete)", op.Op)
	}
	return nil
}

func decodeResults(b []byte, ops []Operation) ([]Result, error) {
	var raw bson.Raw
	if err := bson.UnmarshalExtJSON(b, false, &raw); err != nil {
		return nil, protocolError("push answer: %v", err)
	}
	arr, ok := raw.Lookup("results").ArrayOK()
	if !ok {
		return nil, protocolError("push answer without results")
	}
	vals, err := arr.Values()
	if err != nil {
		return nil, protocolError("results: %v", err)
	}
	if len(vals) != len(ops) {
		return nil, protocolError("%d results for %d operations", len(vals), len(ops))
	}
	out := make([]Result, len(vals))
	for i, v := range vals {
		d, ok := v.DocumentOK()
		if !ok {
			return nil, protocolError("result %d is not an object", i)
		}
		r := &out[i]
		r.OpID, _ = d.Lookup("opId").StringValueOK()
		if r.OpID != ops[i].OpID {
			return nil, protocolError("result %d is for operation %q, not %q", i, r.OpID, ops[i].OpID)
		}
		st, _ := d.Lookup("status").StringValueOK()
		r.Status = Status(st)
		switch r.Status {
		case Accepted, Conflict, Rejected:
		default:
			return nil, protocolError("result %d has status %q", i, st)
		}
		r.Version, _ = d.Lookup("version").StringValueOK()
		r.Outcome, _ = d.Lookup("outcome").StringValueOK()
		r.Error, _ = d.Lookup("error").StringValueOK()
		r.Message, _ = d.Lookup("message").StringValueOK()
		if t, i, ok := d.Lookup("time").TimestampOK(); ok {
			r.Time = bson.Timestamp{T: t, I: i}
		}
		r.Replayed, _ = d.Lookup("replayed").BooleanOK()
		if doc, ok := d.Lookup("doc").DocumentOK(); ok {
			r.Doc = doc
		}
		if c, err := d.LookupErr("conflict"); err == nil && c.Type != bson.TypeNull {
			cd, ok := c.DocumentOK()
			if !ok {
				return nil, protocolError("result %d: conflict is not an object", i)
			}
			if r.Conflict, err = decodeConflict(cd); err != nil {
				return nil, protocolError("result %d: conflict: %v", i, err)
			}
		}
	}
	return out, nil
}

// decodeConflict reads a result's conflict object.
func decodeConflict(d bson.Raw) (*ConflictDetail, error) {
	c := &ConflictDetail{}
	var ok bool
	if c.Kept, ok = d.Lookup("kept").StringValueOK(); !ok || (c.Kept != "local" && c.Kept != "remote") {
		return nil, fmt.Errorf("kept %s", d.Lookup("kept"))
	}
	c.Policy, _ = d.Lookup("policy").StringValueOK()
	c.Reason, _ = d.Lookup("reason").StringValueOK()
	c.KeptOmitted, _ = d.Lookup("keptOmitted").BooleanOK()
	if arr, ok := d.Lookup("fields").ArrayOK(); ok {
		vals, err := arr.Values()
		if err != nil {
			return nil, err
		}
		for _, v := range vals {
			f, ok := v.StringValueOK()
			if !ok {
				return nil, fmt.Errorf("a field is not a string: %s", v)
			}
			c.Fields = append(c.Fields, f)
		}
	}
	for _, side := range []struct {
		key string
		doc *bson.Raw
		ver *VersionStamp
	}{{"local", &c.Local, &c.LocalVersion}, {"remote", &c.Remote, &c.RemoteVersion}} {
		switch v := d.Lookup(side.key); v.Type {
		case bson.TypeEmbeddedDocument:
			*side.doc = v.Document()
		case bson.TypeNull:
		default:
			return nil, fmt.Errorf("%s is neither a document nor null", side.key)
		}
		vd, ok := d.Lookup(side.key + "Version").DocumentOK()
		if !ok {
			return nil, fmt.Errorf("no %sVersion", side.key)
		}
		// hlc is a decimal string: it is beyond 2^53.
		h, _ := vd.Lookup("hlc").StringValueOK()
		n, err := strconv.ParseInt(h, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%sVersion.hlc %s", side.key, vd.Lookup("hlc"))
		}
		side.ver.HLC = n
		side.ver.Replica, _ = vd.Lookup("replica").StringValueOK()
	}
	return c, nil
}
