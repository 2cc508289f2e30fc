package listen

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// OperationType is a change event's operationType.
type OperationType string

// Operation types MongoDB reports on a collection change stream, plus
// Snapshot, which this package synthesises for the Resnapshot history-lost
// policy.
const (
	Insert       OperationType = "insert"
	Update       OperationType = "update"
	Replace      OperationType = "replace"
	Delete       OperationType = "delete"
	Drop         OperationType = "drop"
	Rename       OperationType = "rename"
	DropDatabase OperationType = "dropDatabase"
	Invalidate   OperationType = "invalidate"
	// Snapshot events carry a current document read from the collection
	// after the change history was lost (HistoryLostResnapshot). They have
	// no resume token and no cluster time.
	Snapshot OperationType = "snapshot"
)

// Namespace is a database and collection name.
type Namespace struct {
	DB   string `bson:"db"`
	Coll string `bson:"coll"`
}

func (n Namespace) String() string { return n.DB + "." + n.Coll }

// UpdateDescription is what an update event changed.
type UpdateDescription struct {
	// UpdatedFields maps dotted paths to their new values.
	UpdatedFields bson.Raw `bson:"updatedFields"`
	// RemovedFields lists dotted paths that were removed.
	RemovedFields []string `bson:"removedFields"`
	// TruncatedArrays lists arrays shortened in place.
	TruncatedArrays []TruncatedArray `bson:"truncatedArrays"`
}

// TruncatedArray is an array an update shortened to NewSize elements.
type TruncatedArray struct {
	Field   string `bson:"field"`
	NewSize int32  `bson:"newSize"`
}

// ChangeEvent is one change, with the document decoded into T.
//
// The event and everything it references are owned by the handler; they are
// never reused by the listener after the handler returns.
type ChangeEvent[T any] struct {
	// ID is the event's resume token.
	ID bson.Raw
	// OperationType says what happened.
	OperationType OperationType
	// ClusterTime is the commit time of the operation.
	ClusterTime bson.Timestamp
	// WallTime is the server's wall clock at commit (zero if the server did
	// not send it).
	WallTime time.Time
	// NS is the namespace the event happened in.
	NS Namespace
	// To is the new namespace of a rename event.
	To *Namespace
	// DocumentKey is {_id: ...} (plus the shard key on sharded clusters).
	DocumentKey bson.Raw
	// FullDocument is the post-image: always for inserts and replaces, for
	// updates with WithFullDocument, nil when the server sent none or null.
	FullDocument *T
	// FullDocumentBeforeChange is the pre-image when requested and available.
	FullDocumentBeforeChange *T
	// UpdateDescription is set on update events.
	UpdateDescription *UpdateDescription
	// Raw is the event as the server sent it.
	Raw bson.Raw
}

// wireEvent is the shape of an event on the wire; documents stay raw so that
// they are decoded into T only once.
type wireEvent struct {
	ID                       bson.Raw           `bson:"_id"`
	OperationType            OperationType      `bson:"operationType"`
	ClusterTime              bson.Timestamp     `bson:"clusterTime"`
	WallTime                 bson.DateTime      `bson:"wallTime"`
	NS                       Namespace          `bson:"ns"`
	To                       *Namespace         `bson:"to"`
	DocumentKey              bson.Raw           `bson:"documentKey"`
	FullDocument             bson.RawValue      `bson:"fullDocument"`
	FullDocumentBeforeChange bson.RawValue      `bson:"fullDocumentBeforeChange"`
	UpdateDescription        *UpdateDescription `bson:"updateDescription"`
}

// DecodeError reports an event that could not be decoded into the listener's
// document type. Raw holds the event bytes.
type DecodeError struct {
	Raw bson.Raw
	Err error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("listen: cannot decode change event %s: %v", e.Raw.String(), e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// decodeEvent builds a listener's own event from the shared parsed event.
// The metadata is parsed once per event and the documents are decoded once
// per event and document type, for all listeners; each listener then gets
// copies, so that every handler owns everything it receives.
func decodeEvent[T any](pe *parsedEvent, cp *docCopier[T]) (*ChangeEvent[T], error) {
	w, err := pe.wire()
	if err != nil {
		raw := clone(pe.raw)
		return nil, &DecodeError{Raw: raw, Err: err}
	}
	if pe.solo {
		return decodeSolo[T](pe, w)
	}
	docs := pe.docsFor(reflect.TypeFor[T](), func() (any, any, error) {
		full, err := decodeDoc[T](w.FullDocument)
		if err != nil {
			return nil, nil, fmt.Errorf("fullDocument: %w", err)
		}
		before, err := decodeDoc[T](w.FullDocumentBeforeChange)
		if err != nil {
			return nil, nil, fmt.Errorf("fullDocumentBeforeChange: %w", err)
		}
		return full, before, nil
	})
	full, _ := docs.full.(*T)
	before, _ := docs.before.(*T)
	ev, fullDst := newEvent[T](pe, w, full != nil && !cp.generic)
	if docs.err != nil {
		return nil, &DecodeError{Raw: ev.Raw, Err: docs.err}
	}
	ok1 := true
	if fullDst != nil {
		ok1 = cp.copyInto(fullDst, full)
		ev.FullDocument = fullDst
	} else {
		ev.FullDocument, ok1 = cp.copy(full)
	}
	var ok2 bool
	ev.FullDocumentBeforeChange, ok2 = cp.copy(before)
	if !ok1 || !ok2 {
		// Not copyable (see deepcopy.go): decode this listener's own.
		if ev.FullDocument, err = decodeDoc[T](w.FullDocument); err != nil {
			return nil, &DecodeError{Raw: ev.Raw, Err: fmt.Errorf("fullDocument: %w", err)}
		}
		if ev.FullDocumentBeforeChange, err = decodeDoc[T](w.FullDocumentBeforeChange); err != nil {
			return nil, &DecodeError{Raw: ev.Raw, Err: fmt.Errorf("fullDocumentBeforeChange: %w", err)}
		}
	}
	return ev, nil
}

// decodeSolo is decodeEvent for an event with a single consumer: its
// documents are decoded directly into values only this event references.
func decodeSolo[T any](pe *parsedEvent, w *wireEvent) (*ChangeEvent[T], error) {
	ev, fullDst := newEvent[T](pe, w, w.FullDocument.Type == bson.TypeEmbeddedDocument)
	if fullDst != nil {
		if err := bson.Unmarshal(w.FullDocument.Value, fullDst); err != nil {
			return nil, &DecodeError{Raw: ev.Raw, Err: fmt.Errorf("fullDocument: %w", err)}
		}
		ev.FullDocument = fullDst
	}
	before, err := decodeDoc[T](w.FullDocumentBeforeChange)
	if err != nil {
		return nil, &DecodeError{Raw: ev.Raw, Err: fmt.Errorf("fullDocumentBeforeChange: %w", err)}
	}
	ev.FullDocumentBeforeChange = before
	return ev, nil
}

// newEvent allocates a listener's own event and fills in the fields every
// event has. With withDoc the event and its post-image (returned for the
// caller to fill) are allocated together: one allocation fewer per listener
// and event. The three byte slices share one allocation, capped so that
// appending to one cannot overwrite another; they are copies, not
// sub-slices of pe: the listener checkpoints pe.token after the handler,
// which may mutate what it received.
func newEvent[T any](pe *parsedEvent, w *wireEvent, withDoc bool) (*ChangeEvent[T], *T) {
	buf := make([]byte, 0, len(pe.raw)+len(w.ID)+len(w.DocumentKey))
	carve := func(b bson.Raw) bson.Raw {
		if b == nil {
			return nil
		}
		i := len(buf)
		buf = append(buf, b...)
		return bson.Raw(buf[i:len(buf):len(buf)])
	}
	var ev *ChangeEvent[T]
	var fullDst *T
	if withDoc {
		box := new(eventWithDoc[T])
		ev, fullDst = &box.ev, &box.doc
	} else {
		ev = new(ChangeEvent[T])
	}
	*ev = ChangeEvent[T]{
		ID:            carve(w.ID),
		OperationType: w.OperationType,
		ClusterTime:   w.ClusterTime,
		NS:            w.NS,
		DocumentKey:   carve(w.DocumentKey),
		Raw:           carve(pe.raw),
	}
	if w.To != nil {
		to := *w.To
		ev.To = &to
	}
	if u := w.UpdateDescription; u != nil {
		ev.UpdateDescription = &UpdateDescription{
			UpdatedFields:   clone(u.UpdatedFields),
			RemovedFields:   append([]string(nil), u.RemovedFields...),
			TruncatedArrays: append([]TruncatedArray(nil), u.TruncatedArrays...),
		}
	}
	if w.WallTime != 0 {
		ev.WallTime = w.WallTime.Time()
	}
	return ev, fullDst
}

type eventWithDoc[T any] struct {
	ev  ChangeEvent[T]
	doc T
}

func decodeDoc[T any](v bson.RawValue) (*T, error) {
	if v.Type != bson.TypeEmbeddedDocument {
		return nil, nil
	}
	t := new(T)
	if err := bson.Unmarshal(v.Value, t); err != nil {
		return nil, err
	}
	return t, nil
}

// DocumentID renders documentKey._id the way handlers receive it: an
// ObjectID as hex, a string as itself, anything else as canonical extended
// JSON. It returns "" when the key has no _id.
func DocumentID(documentKey bson.Raw) string {
	v, err := documentKey.LookupErr("_id")
	if err != nil {
		return ""
	}
	return idString(v)
}

func idString(v bson.RawValue) string {
	if oid, ok := v.ObjectIDOK(); ok {
		return oid.Hex()
	}
	if s, ok := v.StringValueOK(); ok {
		return s
	}
	// Fast paths for common numeric ids, in canonical extended JSON.
	if i, ok := v.Int32OK(); ok {
		return `{"$numberInt":"` + strconv.FormatInt(int64(i), 10) + `"}`
	}
	if i, ok := v.Int64OK(); ok {
		return `{"$numberLong":"` + strconv.FormatInt(i, 10) + `"}`
	}
	b, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: v}}, true, false)
	if err != nil {
		return v.String()
	}
	s := strings.TrimPrefix(string(b), `{"v":`)
	return strings.TrimSuffix(s, "}")
}

// DecodeEvent decodes one change event as the server sent it (raw BSON, for
// example carried through a relay stream) into the value a handler of T
// receives, with DocumentID's id for the handler's id argument. The event
// owns raw from then on.
func DecodeEvent[T any](raw bson.Raw) (*ChangeEvent[T], string, error) {
	pe := parseEvent(raw)
	w, err := pe.wire()
	if err != nil {
		return nil, "", &DecodeError{Raw: raw, Err: err}
	}
	ev, err := decodeSolo[T](pe, w)
	if err != nil {
		return nil, "", err
	}
	return ev, pe.docID(), nil
}
