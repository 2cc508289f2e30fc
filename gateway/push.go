package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	mtsync "github.com/mongotide/mongotide/sync"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// opsColl holds the idempotency records of pushed operations, one per
// (owner, opId): the operation's first result, written in the transaction
// that applied it.
const opsColl = "_mongotide_gateway_ops"

// Push statuses.
const (
	statusAccepted = "accepted"
	statusConflict = "conflict"
	statusRejected = "rejected"
)

// Rejection codes (opResult.Error).
const (
	rejectForbidden = "forbidden"   // no rule or no write role for the collection
	rejectNotOwned  = "not_owned"   // the _id is another owner's document
	rejectOwner     = "owner_field" // the document's owner field is not the caller's
	rejectNotFound  = "not_found"   // a patch of a document that does not exist
	rejectBadPath   = "bad_path"    // a patch path through an array or a scalar
	rejectRefused   = "refused"     // the database refused the write (validator, unique index)
)

const maxOpIDBytes = 128

// clientIDPattern is what a clientId may hold.
var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,64}$`)

// pushBody is POST /v1/operations' body.
type pushBody struct {
	// ClientID names the device: with the owner it makes the replica id
	// of the device's edits (see replicaFor).
	ClientID   string   `json:"clientId"`
	Operations []pushOp `json:"operations"`
}

type pushOp struct {
	OpID       string          `json:"opId"`
	Collection string          `json:"collection"`
	Op         string          `json:"op"`
	ID         json.RawMessage `json:"id"`
	Doc        json.RawMessage `json:"doc"`
	Set        json.RawMessage `json:"set"`
	Unset      []string        `json:"unset"`
	Base       *string         `json:"base"`
	BaseDoc    json.RawMessage `json:"baseDoc"`
	At         string          `json:"at"`
}

// parsedOp is a pushOp checked and decoded.
type parsedOp struct {
	pushOp
	id    bson.RawValue
	doc   bson.D // insert, replace: the client's fields, _id first
	patch patch
	base  string
	// baseDoc is the document the client based its edit on, when it
	// sent it: a FieldMerge conflict merges against it (used only when
	// its version is base).
	baseDoc bson.Raw
	at      time.Time
}

// opResult is one operation's answer, in request order.
type opResult struct {
	OpID     string          `json:"opId"`
	Status   string          `json:"status"`
	Version  string          `json:"version,omitempty"`
	Outcome  string          `json:"outcome,omitempty"`
	Doc      json.RawMessage `json:"doc,omitempty"`
	Conflict *conflictJSON   `json:"conflict,omitempty"`
	// Time is the cluster time of the write, when the operation wrote the
	// document (first answers only: a replay does not know it): the
	// "time" of the change it makes in a pull.
	Time     json.RawMessage `json:"time,omitempty"`
	Error    string          `json:"error,omitempty"`
	Message  string          `json:"message,omitempty"`
	Replayed bool            `json:"replayed,omitempty"`
}

// conflictJSON is a result's "conflict": the concurrent edit the operation
// met and overwrote or lost to, as sync's conflict log records it
// (sync.Conflict), so that a device can log it itself. Every key is
// always present: null documents are deletes (unless keptOmitted).
type conflictJSON struct {
	Kept          string          `json:"kept"`
	Policy        string          `json:"policy"`
	Reason        string          `json:"reason"`
	Fields        []string        `json:"fields"`
	KeptOmitted   bool            `json:"keptOmitted"`
	Local         json.RawMessage `json:"local"`
	Remote        json.RawMessage `json:"remote"`
	LocalVersion  stampJSON       `json:"localVersion"`
	RemoteVersion stampJSON       `json:"remoteVersion"`
}

// stampJSON is a sync.Version. hlc is a decimal string: it is physical
// milliseconds << 16 (about 1.1e17 today), beyond the 2^53 a JSON number
// keeps exactly in JavaScript and most JSON parsers.
type stampJSON struct {
	HLC     string `json:"hlc"`
	Replica string `json:"replica"`
}

// opKey is an idempotency record's _id.
type opKey struct {
	Owner string `bson:"o"`
	OpID  string `bson:"i"`
}

// opRecord is an idempotency record: the operation's first result.
type opRecord struct {
	ID      opKey         `bson:"_id"`
	At      time.Time     `bson:"at"` // Config.Clock when applied; compaction goes by it
	Coll    string        `bson:"c"`
	DocID   bson.RawValue `bson:"id"`
	Status  string        `bson:"s"`
	Version string        `bson:"v,omitempty"`
	Outcome string        `bson:"o,omitempty"`
	Doc     bson.Raw      `bson:"d,omitempty"`
	Error   string        `bson:"e,omitempty"`
	Message string        `bson:"m,omitempty"`
	// Conflict is sync.RemoteResult.Logged: kept so that a replay answers
	// the same details as the first answer.
	Conflict *opConflict `bson:"x,omitempty"`
}

// opConflict is a recorded sync.Conflict, the fields a result carries.
type opConflict struct {
	Kept          string       `bson:"k"`
	Policy        string       `bson:"p"`
	Reason        string       `bson:"r,omitempty"`
	Fields        []string     `bson:"f,omitempty"`
	KeptOmitted   bool         `bson:"o,omitempty"`
	Local         bson.Raw     `bson:"l,omitempty"`
	Remote        bson.Raw     `bson:"rd,omitempty"`
	LocalVersion  versionStamp `bson:"lv"`
	RemoteVersion versionStamp `bson:"rv"`
}

// versionStamp is a recorded sync.Version (a type of the record's own, so
// that the record's format does not follow sync's).
type versionStamp struct {
	HLC     int64  `bson:"h"`
	Replica string `bson:"r"`
}

func (v versionStamp) json() stampJSON {
	return stampJSON{HLC: strconv.FormatInt(v.HLC, 10), Replica: v.Replica}
}

// maxRecordDocs bounds the documents an idempotency record holds (the
// result's document and the conflict's two edits): a record over MongoDB's
// 16 MiB limit would fail its transaction on every retry, so the push
// could never be applied. Over it, the conflict's kept edit is left out
// (keptOmitted, as sync's conflict log does): the result's document is
// what the kept edit became.
const maxRecordDocs = 12 << 20

func conflictOf(c *mtsync.Conflict, resultDoc bson.Raw) *opConflict {
	oc := &opConflict{
		Kept: string(c.Kept), Policy: c.Policy.String(), Reason: string(c.Reason), Fields: c.Fields, KeptOmitted: c.KeptOmitted,
		Local: c.Local, Remote: c.Remote,
		LocalVersion:  versionStamp{c.LocalVersion.HLC, c.LocalVersion.Replica},
		RemoteVersion: versionStamp{c.RemoteVersion.HLC, c.RemoteVersion.Replica},
	}
	if len(resultDoc)+len(oc.Local)+len(oc.Remote) > maxRecordDocs {
		if c.Kept == mtsync.LocalSide && oc.Local != nil {
			oc.Local, oc.KeptOmitted = nil, true
		} else if c.Kept == mtsync.RemoteSide && oc.Remote != nil {
			oc.Remote, oc.KeptOmitted = nil, true
		}
	}
	return oc
}

// result is the record as an answer, its documents written in mode m.
func (r opRecord) result(m jsonMode) (opResult, error) {
	res := opResult{OpID: r.ID.OpID, Status: r.Status, Version: r.Version, Outcome: r.Outcome, Error: r.Error, Message: r.Message}
	var err error
	if r.Doc != nil {
		if res.Doc, err = m.marshal(r.Doc); err != nil {
			return res, err
		}
	}
	if c := r.Conflict; c != nil {
		cj := &conflictJSON{
			Kept: c.Kept, Policy: c.Policy, Reason: c.Reason, Fields: c.Fields, KeptOmitted: c.KeptOmitted,
			LocalVersion: c.LocalVersion.json(), RemoteVersion: c.RemoteVersion.json(),
		}
		if cj.Fields == nil {
			cj.Fields = []string{}
		}
		if c.Local != nil {
			if cj.Local, err = m.marshal(c.Local); err != nil {
				return res, err
			}
		}
		if c.Remote != nil {
			if cj.Remote, err = m.marshal(c.Remote); err != nil {
				return res, err
			}
		}
		res.Conflict = cj
	}
	return res, nil
}

// pushed is an operation's outcome: its record (the first one, when
// replayed), written as an answer in the request's json mode.
type pushed struct {
	rec      opRecord
	replayed bool
	// written is the cluster time of the document's write (zero: none,
	// or a replay).
	written bson.Timestamp
}

// rejection aborts an operation's transaction with a per-operation
// refusal: nothing is written but the record of the refusal.
type rejection struct{ code, msg string }

func (r rejection) Error() string { return r.code + ": " + r.msg }

// replay aborts an operation's transaction because its opId was applied
// before: the first result is returned, nothing is written.
type replay struct{ rec opRecord }

func (replay) Error() string { return "operation applied before" }

// canWriteAny reports whether p may push to some collection.
func (g *Gateway) canWriteAny(p Principal) bool {
	for _, n := range g.names {
		if g.feeds[n].rule.canWrite(p) {
			return true
		}
	}
	return false
}

func (g *Gateway) handlePush(w http.ResponseWriter, r *http.Request, p Principal) {
	if !g.canWriteAny(p) {
		g.refused.Add(1)
		writeError(w, http.StatusForbidden, "forbidden", "no write access to any collection")
		return
	}
	mode, ok := parseJSONMode(w, r)
	if !ok {
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	clientID, ops, err := g.parsePush(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	replica := replicaFor(p.Owner, clientID)
	results := make([]opResult, 0, len(ops))
	for _, op := range ops {
		res, err := g.pushOne(r.Context(), p, replica, op)
		if err != nil {
			if r.Context().Err() != nil {
				return // the client went away; what was applied is recorded
			}
			g.cfg.Logger.Warn("gateway: push", "owner", p.Owner, "opId", op.OpID, "err", err)
			writeError(w, http.StatusServiceUnavailable, "unavailable",
				fmt.Sprintf("the result of operation %q is unknown (the database failed); the operations before it were applied: retry the request with the same opIds", op.OpID))
			return
		}
		out, err := res.rec.result(mode)
		if err != nil {
			// Applied and recorded, but its answer cannot be written
			// (a stored document extended JSON cannot express).
			g.cfg.Logger.Error("gateway: push result", "owner", p.Owner, "opId", op.OpID, "err", err)
			writeError(w, http.StatusInternalServerError, "internal",
				fmt.Sprintf("the result of operation %q cannot be written; the operations up to it were applied", op.OpID))
			return
		}
		out.Replayed = res.replayed
		if !res.written.IsZero() {
			out.Time, _ = bson.MarshalExtJSON(bson.D{{Key: "t", Value: res.written}}, true, false)
			out.Time = out.Time[len(`{"t":`) : len(out.Time)-1]
		}
		results = append(results, out)
	}
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(struct {
		Results []opResult `json:"results"`
	}{results})
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, buf.Bytes())
}

// clientReplica is the replica id (sync.Version.Replica) of a device's
// edits: "gw:" + base64url(owner) + ":" + clientId. Without a clientId
// each request is a replica of its own, ephemeral: its acks are not kept.
type clientReplica struct {
	id        string
	ephemeral bool
}

func replicaFor(owner, clientID string) clientReplica {
	r := clientReplica{}
	if clientID == "" {
		var b [9]byte
		_, _ = rand.Read(b[:])
		clientID, r.ephemeral = "~"+base64.RawURLEncoding.EncodeToString(b[:]), true
	}
	r.id = "gw:" + base64.RawURLEncoding.EncodeToString([]byte(owner)) + ":" + clientID
	return r
}

// parsePush decodes and checks a push body. Any malformed operation fails
// the whole request (nothing is applied).
func (g *Gateway) parsePush(body []byte) (string, []parsedOp, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var b pushBody
	if err := dec.Decode(&b); err != nil {
		return "", nil, fmt.Errorf("the body is not a push: %v", err)
	}
	if dec.More() {
		return "", nil, errors.New("the body holds more than one JSON value")
	}
	if b.ClientID != "" && !clientIDPattern.MatchString(b.ClientID) {
		return "", nil, errors.New("clientId must be 1 to 64 characters of A-Z a-z 0-9 . _ ~ -")
	}
	switch {
	case len(b.Operations) == 0:
		return "", nil, errors.New("operations is empty")
	case len(b.Operations) > g.cfg.MaxOperations:
		return "", nil, fmt.Errorf("%d operations, at most %d per request", len(b.Operations), g.cfg.MaxOperations)
	}
	ops := make([]parsedOp, 0, len(b.Operations))
	for i, o := range b.Operations {
		op, err := parseOp(o)
		if err != nil {
			return "", nil, fmt.Errorf("operations[%d]: %v", i, err)
		}
		ops = append(ops, op)
	}
	return b.ClientID, ops, nil
}

var versionPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

func parseOp(o pushOp) (parsedOp, error) {
	op := parsedOp{pushOp: o}
	if o.OpID == "" || len(o.OpID) > maxOpIDBytes {
		return op, fmt.Errorf("opId must be 1 to %d bytes", maxOpIDBytes)
	}
	if o.Collection == "" {
		return op, errors.New("collection is required")
	}
	id, err := extJSONValue(o.ID)
	if err != nil {
		return op, fmt.Errorf("id: %v", err)
	}
	op.id = id
	has := func(m json.RawMessage) bool { return len(m) > 0 && string(m) != "null" }
	switch o.Op {
	case "insert", "replace":
		if !has(o.Doc) || has(o.Set) || o.Unset != nil {
			return op, fmt.Errorf("%s takes doc (and no set or unset)", o.Op)
		}
		if op.doc, err = parseDoc(o.Doc, id); err != nil {
			return op, err
		}
	case "patch":
		if has(o.Doc) {
			return op, errors.New("patch takes set and/or unset, not doc")
		}
		if has(o.Set) {
			set, err := extJSONDoc(o.Set)
			if err != nil {
				return op, fmt.Errorf("set is not a JSON object: %v", err)
			}
			elems, _ := set.Elements()
			for _, e := range elems {
				op.patch.set = append(op.patch.set, pathValue{e.Key(), e.Value()})
			}
		}
		op.patch.unset = o.Unset
		if err := op.patch.check(); err != nil {
			return op, err
		}
	case "delete":
		if has(o.Doc) || has(o.Set) || o.Unset != nil {
			return op, errors.New("delete takes no doc, set or unset")
		}
	default:
		return op, fmt.Errorf("op %q is not insert, replace, patch or delete", o.Op)
	}
	switch {
	case o.Op == "insert" && o.Base != nil:
		return op, errors.New("insert takes no base (it creates the document; use replace to write over a version)")
	case o.Op != "insert" && (o.Base == nil || !versionPattern.MatchString(*o.Base)):
		return op, fmt.Errorf("%s needs base: the version the change was made on", o.Op)
	case o.Base != nil:
		op.base = *o.Base
	}
	if has(o.BaseDoc) {
		if o.Base == nil {
			return op, errors.New("baseDoc needs base (the version it is)")
		}
		if op.baseDoc, err = extJSONDoc(o.BaseDoc); err != nil {
			return op, fmt.Errorf("baseDoc is not a JSON object: %v", err)
		}
	}
	if o.At != "" {
		if op.at, err = time.Parse(time.RFC3339Nano, o.At); err != nil {
			return op, errors.New("at must be an RFC 3339 time")
		}
	}
	return op, nil
}

// extJSONValue decodes one relaxed extended JSON value (a document _id):
// regular expressions and JavaScript are refused.
func extJSONValue(m json.RawMessage) (bson.RawValue, error) {
	if len(m) == 0 {
		return bson.RawValue{}, errors.New("missing")
	}
	var d bson.D
	if err := bson.UnmarshalExtJSON(append(append([]byte(`{"v":`), m...), '}'), false, &d); err != nil || len(d) != 1 {
		return bson.RawValue{}, fmt.Errorf("not valid extended JSON")
	}
	if err := checkLiteral(d[0].Value, 0); err != nil {
		return bson.RawValue{}, err
	}
	if _, ok := d[0].Value.(bson.A); ok {
		return bson.RawValue{}, errors.New("an _id cannot be an array")
	}
	raw, err := bson.Marshal(d)
	if err != nil {
		return bson.RawValue{}, err
	}
	return bson.Raw(raw).Lookup("v"), nil
}

// extJSONDoc decodes a relaxed extended JSON object into BSON.
func extJSONDoc(m json.RawMessage) (bson.Raw, error) {
	var d bson.D
	if err := bson.UnmarshalExtJSON(m, false, &d); err != nil {
		return nil, err
	}
	return bson.Marshal(d)
}

// parseDoc decodes an insert's or replace's document and puts id first as
// its _id (a document's own _id must be the same).
func parseDoc(m json.RawMessage, id bson.RawValue) (bson.D, error) {
	raw, err := extJSONDoc(m)
	if err != nil {
		return nil, fmt.Errorf("doc is not a JSON object: %v", err)
	}
	elems, err := raw.Elements()
	if err != nil {
		return nil, err
	}
	d := bson.D{{Key: "_id", Value: id}}
	for _, e := range elems {
		if e.Key() == "_id" {
			if !e.Value().Equal(id) {
				return nil, errors.New("doc._id differs from id")
			}
			continue
		}
		d = append(d, bson.E{Key: e.Key(), Value: e.Value()})
	}
	return d, nil
}

// owns reports whether doc is owner's under f's rule (always, shared).
func (f *feed) owns(doc bson.Raw, owner string) bool {
	if f.rule.Shared {
		return true
	}
	o, ok := ownerIn(doc, f.rule.OwnerField)
	return ok && o == owner
}

// ownedDoc is an insert's or replace's document with the owner field
// forced: set to the caller's owner id when absent; any other value is a
// rejection.
func (f *feed) ownedDoc(d bson.D, owner string) (bson.Raw, *rejection) {
	if !f.rule.Shared {
		found := false
		for _, e := range d {
			if e.Key == f.rule.OwnerField {
				found = true
				v, _ := e.Value.(bson.RawValue)
				if s, ok := v.StringValueOK(); !ok || s != owner {
					return nil, &rejection{rejectOwner, fmt.Sprintf("the document's %s must be the caller's owner id", f.rule.OwnerField)}
				}
			}
		}
		if !found {
			d = append(d, bson.E{Key: f.rule.OwnerField, Value: owner})
		}
	}
	raw, err := bson.Marshal(d)
	if err != nil {
		return nil, &rejection{rejectRefused, "the document cannot be stored: " + err.Error()}
	}
	return raw, nil
}

// pushOne applies one operation and returns its result; an error means
// the result is unknown (the database failed): the request is answered 503
// and the client retries it with the same opIds.
func (g *Gateway) pushOne(ctx context.Context, p Principal, replica clientReplica, op parsedOp) (pushed, error) {
	key := opKey{Owner: p.Owner, OpID: op.OpID}
	f, ok := g.feeds[op.Collection]
	if !ok || !f.rule.canWrite(p) {
		return g.reject(ctx, key, op, rejection{rejectForbidden, "no write access to collection " + fmt.Sprintf("%q", op.Collection)})
	}
	var proposed bson.Raw
	if op.doc != nil {
		var rej *rejection
		if proposed, rej = f.ownedDoc(op.doc, p.Owner); rej != nil {
			return g.reject(ctx, key, op, *rej)
		}
	}
	records := g.cfg.Database.Collection(opsColl)
	edit := mtsync.RemoteEdit{
		Collection: op.Collection, ID: op.id, Replica: replica.id, Ephemeral: replica.ephemeral, Base: op.base, BaseDoc: op.baseDoc, At: op.at,
		Edit: func(tctx context.Context, cur bson.Raw) (bson.Raw, error) {
			return editInTxn(tctx, records, key, f, p, op, proposed, cur)
		},
		Record: func(tctx context.Context, res mtsync.RemoteResult) error {
			_, err := records.InsertOne(tctx, recordOf(key, op, g.cfg.Clock(), res))
			return err
		},
	}
	res, err := g.writer.Apply(ctx, edit)
	return g.pushOutcome(ctx, key, op, res, err)
}

// editInTxn is a push's RemoteEdit.Edit, run in the remote transaction
// with the current document cur: a recorded opId ends it with its first
// result (replay), another owner's document or a bad patch with a
// rejection; otherwise it returns the document to write (nil: delete).
func editInTxn(ctx context.Context, records *mongo.Collection, key opKey, f *feed, p Principal, op parsedOp, proposed, cur bson.Raw) (bson.Raw, error) {
	var rec opRecord
	err := records.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&rec)
	if err == nil {
		return nil, replay{rec}
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return nil, err
	}
	if cur != nil && !f.owns(cur, p.Owner) {
		// Said the same way whatever the document holds.
		return nil, rejection{rejectNotOwned, "the id is not available to the caller"}
	}
	switch op.Op {
	case "delete":
		return nil, nil
	case "patch":
		if cur == nil {
			return nil, rejection{rejectNotFound, "no such document to patch (send a replace to create it)"}
		}
		doc, err := op.patch.apply(cur)
		var pe errPatchPath
		if errors.As(err, &pe) {
			return nil, rejection{rejectBadPath, pe.Error()}
		}
		if err != nil {
			return nil, err
		}
		if !f.owns(doc, p.Owner) {
			return nil, rejection{rejectOwner, fmt.Sprintf("the document's %s must stay the caller's owner id", f.rule.OwnerField)}
		}
		return doc, nil
	}
	return proposed, nil
}

// pushOutcome turns Apply's answer into the operation's result: a replay
// or a concurrent request's committed record answers with that first
// result, a rejection or a write the database refused is recorded as
// rejected, anything else unknown is an error (the request fails 503).
func (g *Gateway) pushOutcome(ctx context.Context, key opKey, op parsedOp, res mtsync.RemoteResult, err error) (pushed, error) {
	var (
		rp  replay
		rej rejection
		we  mongo.WriteException
	)
	switch {
	case errors.As(err, &rp):
		g.pushReplayed.Add(1)
		return pushed{rec: rp.rec, replayed: true}, nil
	case errors.As(err, &rej):
		return g.reject(ctx, key, op, rej)
	case errors.As(err, &we) && !mongo.IsNetworkError(err) && !mongo.IsTimeout(err) && !we.HasErrorLabel("TransientTransactionError"):
		if mongo.IsDuplicateKeyError(err) {
			// The record's insert met a concurrent request with the
			// same opId that committed first: its result is the answer.
			var first opRecord
			ferr := g.cfg.Database.Collection(opsColl).FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&first)
			if ferr == nil {
				g.pushReplayed.Add(1)
				return pushed{rec: first, replayed: true}, nil
			}
			if !errors.Is(ferr, mongo.ErrNoDocuments) {
				return pushed{}, ferr
			}
		}
		// The document itself was refused (a validator, a unique index).
		return g.reject(ctx, key, op, rejection{rejectRefused, "the database refused the write: " + writeErrorName(we)})
	case err != nil:
		return pushed{}, err
	}
	rec := recordOf(key, op, time.Time{}, res)
	if rec.Status == statusConflict {
		g.pushConflict.Add(1)
	} else {
		g.pushAccepted.Add(1)
	}
	out := pushed{rec: rec}
	if res.Written {
		out.written = res.CommitTime
	}
	return out, nil
}

func writeErrorName(we mongo.WriteException) string {
	if len(we.WriteErrors) > 0 {
		return fmt.Sprintf("code %d", we.WriteErrors[0].Code)
	}
	if we.WriteConcernError != nil {
		return we.WriteConcernError.Name
	}
	return "unknown"
}

// recordOf is the record of an applied operation.
func recordOf(key opKey, op parsedOp, at time.Time, res mtsync.RemoteResult) opRecord {
	rec := opRecord{ID: key, At: at, Coll: op.Collection, DocID: op.id, Status: statusAccepted}
	if res.Doc != nil {
		rec.Version = res.Hash
	}
	if res.Conflict {
		rec.Status, rec.Outcome, rec.Doc = statusConflict, res.Outcome, res.Doc
	}
	if res.Logged != nil {
		rec.Conflict = conflictOf(res.Logged, rec.Doc)
	}
	return rec
}

// reject records a refusal as the operation's result (a retry gets the
// same answer) and returns it; when the opId has a record already (a
// concurrent retry got there first), that record is the answer.
func (g *Gateway) reject(ctx context.Context, key opKey, op parsedOp, rej rejection) (pushed, error) {
	rec := opRecord{ID: key, At: g.cfg.Clock(), Coll: op.Collection, DocID: op.id, Status: statusRejected, Error: rej.code, Message: rej.msg}
	records := g.cfg.Database.Collection(opsColl)
	_, err := records.InsertOne(ctx, rec)
	if mongo.IsDuplicateKeyError(err) {
		var first opRecord
		if err := records.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&first); err != nil {
			return pushed{}, err
		}
		g.pushReplayed.Add(1)
		return pushed{rec: first, replayed: true}, nil
	}
	if err != nil {
		return pushed{}, err
	}
	g.pushRejected.Add(1)
	return pushed{rec: rec}, nil
}

// CompactResult is what POST /v1/compact removed.
type CompactResult struct {
	// OperationsRemoved counts idempotency records older than
	// Config.OperationRetention.
	OperationsRemoved int64 `json:"operations_removed"`
	// TombstonesRemoved counts, per collection, the version entries of
	// deleted documents collected (see sync.RemoteWriter.Compact).
	TombstonesRemoved map[string]int64 `json:"tombstones_removed"`
}

// Compact drops idempotency records older than Config.OperationRetention
// (by Config.Clock) and the tombstones no sync replica can still need
// (sync's own compaction: older than Config.TombstoneRetention by the
// database's clock, and synced past by every registered replica).
func (g *Gateway) Compact(ctx context.Context) (CompactResult, error) {
	res := CompactResult{TombstonesRemoved: map[string]int64{}}
	cut := g.cfg.Clock().Add(-g.cfg.OperationRetention)
	dr, err := g.cfg.Database.Collection(opsColl).DeleteMany(ctx, bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: cut}}}})
	if err != nil {
		return res, fmt.Errorf("gateway: compact operation records: %w", err)
	}
	res.OperationsRemoved = dr.DeletedCount
	cr, err := g.writer.Compact(ctx, g.names)
	if err != nil {
		return res, fmt.Errorf("gateway: compact tombstones: %w", err)
	}
	for _, c := range cr.Collections {
		res.TombstonesRemoved[c.Name] = c.Removed
	}
	return res, nil
}

func (g *Gateway) handleCompact(w http.ResponseWriter, r *http.Request, _ Principal) {
	res, err := g.Compact(r.Context())
	if err != nil {
		g.dbError(w, err)
		return
	}
	b, _ := json.Marshal(res)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, b)
}
