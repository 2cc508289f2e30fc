package embedded_test

import (
	"bytes"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// propRefusals are the errors a random write may legitimately get: MongoDB
// refuses it and changes nothing (the test checks that). Anything else
// (InternalError, an unknown operator, a network error) fails the test.
var propRefusals = map[int]string{
	2:     "BadValue",                   // $push to a non-array, positional without a match, ...
	14:    "TypeMismatch",               // $inc of a string, $pop of a non-array, ...
	15:    "Overflow",                   // $inc past int64
	28:    "PathNotViable",              // a path through a scalar
	40:    "ConflictingUpdateOperators", // $rename onto a path in use
	54:    "NotSingleValueField",        // $setOnInsert/$set of a field through an array
	53:    "InvalidIdField",             // _id set to an array, regex or undefined
	66:    "ImmutableField",             // _id changed
	11000: "DuplicateKey",               // an insert or upsert of an existing _id
}

// checkError accepts no error or a refusal from propRefusals.
func (h *propHarness) checkError(err error) {
	if err == nil {
		return
	}
	codes, ok := serverCodes(err)
	if !ok {
		h.fatalf("write failed with a non-server error: %v", err)
	}
	for _, c := range codes {
		name, ok := propRefusals[c]
		if !ok {
			h.fatalf("write failed with unexpected code %d: %v", c, err)
		}
		h.stats.byCode[name]++
	}
	h.stats.refused++
}

// serverCodes returns the codes of a server error (write errors included).
func serverCodes(err error) ([]int, bool) {
	var we mongo.WriteException
	if errors.As(err, &we) {
		if we.WriteConcernError != nil {
			return nil, false
		}
		var cs []int
		for _, e := range we.WriteErrors {
			cs = append(cs, e.Code)
		}
		return cs, len(cs) > 0
	}
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) {
		if bwe.WriteConcernError != nil {
			return nil, false
		}
		var cs []int
		for _, e := range bwe.WriteErrors {
			cs = append(cs, e.Code)
		}
		return cs, len(cs) > 0
	}
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return []int{int(ce.Code)}, true
	}
	return nil, false
}

// singleDoc reports whether a failed write of this step must have changed
// nothing (one-document writes are atomic; insertMany, updateMany and
// deleteMany may stop half-way, as in MongoDB).
func singleDoc(desc bson.D) bool {
	switch opName(desc) {
	case "insert", "update", "pipeline", "replace", "delete", "findAndModify":
		return true
	}
	return false
}

// checkEvents checks the step's events against the documents before (pre)
// and after (post) it.
func (h *propHarness) checkEvents(out propOutcome, pre, post map[string]bson.Raw, images, lookup []bson.Raw) {
	show := func() string {
		return fmt.Sprintf("\n  events: %s\n  before: %s\n  after:  %s", extJSONs(images), stateJSON(pre), stateJSON(post))
	}
	if len(lookup) != len(images) {
		h.fatalf("updateLookup stream got %d events, images stream %d\n  lookup: %s%s", len(lookup), len(images), extJSONs(lookup), show())
	}
	if out.err != nil && singleDoc(h.cur.desc) && !sameState(pre, post) {
		h.fatalf("the write failed (%v) but changed documents%s", out.err, show())
	}
	if out.counted {
		if n := int64(len(images)); n != out.events && (!out.atLeast || n < out.events) {
			h.fatalf("%d events, want %d (the write's counts)%s", len(images), out.events, show())
		}
	} else {
		h.checkExpected(out, pre, post, images, show)
	}
	h.checkShape(out, images, show)
	h.replay(pre, post, images, show)
	for i := range images {
		h.checkLookup(images[i], lookup[i], post, show)
	}
	if out.fam && out.err == nil {
		h.checkReturned(out, pre, post, show)
	}
}

// checkExpected: a one-statement write yields one event per document whose
// stored version changed, of the kind the change needs.
func (h *propHarness) checkExpected(out propOutcome, pre, post map[string]bson.Raw, evs []bson.Raw, show func() string) {
	want := map[string]string{}
	for k, p := range pre {
		q, ok := post[k]
		switch {
		case !ok:
			want[k] = "delete"
		case !bytes.Equal(p, q):
			want[k] = out.kind
		}
	}
	for k := range post {
		if _, ok := pre[k]; !ok {
			want[k] = "insert"
		}
	}
	if len(evs) != len(want) {
		h.fatalf("%d events, want %d (one per changed document)%s", len(evs), len(want), show())
	}
	for _, ev := range evs {
		k := idKey(ev.Lookup("documentKey", "_id"))
		op := ev.Lookup("operationType").StringValue()
		w, ok := want[k]
		if !ok {
			h.fatalf("event for a document that did not change (or a second one): %s%s", extJSON(ev), show())
		}
		if w != op && (w != "either" || (op != "update" && op != "replace")) {
			h.fatalf("%s event, want %s: %s%s", op, w, extJSON(ev), show())
		}
		delete(want, k)
	}
}

// checkShape checks every event's fixed fields: ns, documentKey, times and
// transaction fields.
func (h *propHarness) checkShape(out propOutcome, evs []bson.Raw, show func() string) {
	var first bson.Timestamp
	for i, ev := range evs {
		if db, _ := ev.Lookup("ns", "db").StringValueOK(); db != "d" {
			h.fatalf("event %d: ns %v%s", i, ev.Lookup("ns"), show())
		}
		if coll, _ := ev.Lookup("ns", "coll").StringValueOK(); coll != "c" {
			h.fatalf("event %d: ns %v%s", i, ev.Lookup("ns"), show())
		}
		dk, ok := ev.Lookup("documentKey").DocumentOK()
		if n, _ := dk.Elements(); !ok || len(n) != 1 || n[0].Key() != "_id" {
			h.fatalf("event %d: documentKey %v, want {_id: ...}%s", i, dk, show())
		}
		t, inc, ok := ev.Lookup("clusterTime").TimestampOK()
		if !ok {
			h.fatalf("event %d: no clusterTime%s", i, show())
		}
		ts := bson.Timestamp{T: t, I: inc}
		if _, ok := ev.Lookup("wallTime").DateTimeOK(); !ok {
			h.fatalf("event %d: no wallTime%s", i, show())
		}
		_, hasTxn := ev.Lookup("txnNumber").Int64OK()
		_, hasLsid := ev.Lookup("lsid").DocumentOK()
		if out.txn {
			if !hasTxn || !hasLsid {
				h.fatalf("event %d of a transaction has no txnNumber/lsid%s", i, show())
			}
			if i == 0 {
				first = ts
				if !h.lastTime.Before(ts) {
					h.fatalf("transaction clusterTime %v not after %v%s", ts, h.lastTime, show())
				}
			} else if ts != first {
				h.fatalf("events of one transaction have clusterTimes %v and %v%s", first, ts, show())
			}
		} else {
			if hasTxn || hasLsid {
				h.fatalf("event %d outside a transaction has txnNumber/lsid%s", i, show())
			}
			if !h.lastTime.Before(ts) {
				h.fatalf("event %d clusterTime %v not after %v%s", i, ts, h.lastTime, show())
			}
		}
		h.lastTime = ts
	}
}

// replay applies the events in order to pre, checking each pre-image
// against the document before it, each update description against the
// post-image, and ends with post.
func (h *propHarness) replay(pre, post map[string]bson.Raw, evs []bson.Raw, show func() string) {
	cur := make(map[string]bson.Raw, len(pre))
	for k, v := range pre {
		cur[k] = v
	}
	for i, ev := range evs {
		k := idKey(ev.Lookup("documentKey", "_id"))
		op := ev.Lookup("operationType").StringValue()
		before, had := cur[k]
		full, hasFull := ev.Lookup("fullDocument").DocumentOK()
		if op != "insert" {
			if !had {
				h.fatalf("event %d: %s of a document that does not exist%s", i, op, show())
			}
			img, ok := ev.Lookup("fullDocumentBeforeChange").DocumentOK()
			if !ok || !bytes.Equal(img, before) {
				h.fatalf("event %d: pre-image %s, want %s%s", i, extJSON(img), extJSON(before), show())
			}
		}
		switch op {
		case "insert", "replace":
			if op == "insert" && had {
				h.fatalf("event %d: insert of an existing document%s", i, show())
			}
			if !hasFull {
				h.fatalf("event %d: %s without fullDocument%s", i, op, show())
			}
			if !bytes.Equal(full.Lookup("_id").Value, ev.Lookup("documentKey", "_id").Value) {
				h.fatalf("event %d: fullDocument _id differs from documentKey%s", i, show())
			}
			cur[k] = bson.Raw(full)
		case "update":
			if !hasFull {
				h.fatalf("event %d: update without its post-image%s", i, show())
			}
			ud, _ := ev.Lookup("updateDescription").DocumentOK()
			if applied, err := appliesTo(before, bson.Raw(ud), bson.Raw(full)); err != nil {
				h.fatalf("event %d: %v (applied: %s), post-image %s%s", i, err, extJSON(applied), extJSON(full), show())
			}
			cur[k] = bson.Raw(full)
		case "delete":
			if hasFull {
				h.fatalf("event %d: delete with a fullDocument%s", i, show())
			}
			delete(cur, k)
		default:
			h.fatalf("event %d: operationType %q%s", i, op, show())
		}
	}
	if !sameState(cur, post) {
		h.fatalf("the events applied to the documents before give %s, stored %s%s", stateJSON(cur), stateJSON(post), show())
	}
}

// appliesTo checks that ud applied to pre gives post, reading its paths
// one field per segment or through dotted field names (see
// applyUpdateDescription).
func appliesTo(pre, ud, post bson.Raw) (bson.D, error) {
	var first bson.D
	var firstErr error
	for _, dotted := range []bool{false, true} {
		applied, err := applyUpdateDescription(pre, ud, post, dotted)
		if err == nil {
			var same bool
			if same, err = sameUnordered(applied, post); err == nil && same {
				return applied, nil
			}
			if err == nil {
				err = errors.New("pre-image + updateDescription differs from the post-image")
			}
		} else {
			err = fmt.Errorf("cannot apply its updateDescription: %w", err)
		}
		if !dotted {
			first, firstErr = applied, err
		}
	}
	return first, firstErr
}

// checkLookup compares the updateLookup stream's event with the images
// stream's: the same event except fullDocument of an update, which is the
// stored document (null once deleted).
func (h *propHarness) checkLookup(img, lk bson.Raw, post map[string]bson.Raw, show func() string) {
	if !bytes.Equal(img.Lookup("_id").Value, lk.Lookup("_id").Value) {
		h.fatalf("the streams' resume tokens differ: %v and %v%s", img.Lookup("_id"), lk.Lookup("_id"), show())
	}
	if img.Lookup("operationType").StringValue() != "update" {
		if !bytes.Equal(img, lk) {
			h.fatalf("the streams' events differ:\n  images: %s\n  lookup: %s%s", extJSON(img), extJSON(lk), show())
		}
		return
	}
	a, b := withoutField(img, "fullDocument"), withoutField(lk, "fullDocument")
	if !bytes.Equal(a, b) {
		h.fatalf("the streams' update events differ beyond fullDocument:\n  images: %s\n  lookup: %s%s", extJSON(img), extJSON(lk), show())
	}
	k := idKey(lk.Lookup("documentKey", "_id"))
	fd := lk.Lookup("fullDocument")
	stored, ok := post[k]
	switch {
	case ok && !bytes.Equal(fd.Value, stored):
		h.fatalf("updateLookup fullDocument %s, stored %s%s", extJSON(lk), extJSON(stored), show())
	case !ok && fd.Type != bson.TypeNull:
		h.fatalf("updateLookup of a deleted document: %v, want null%s", fd, show())
	}
}

// checkReturned: findAndModify returns the version before or after.
func (h *propHarness) checkReturned(out propOutcome, pre, post map[string]bson.Raw, show func() string) {
	k := idKeyOf(out.famID)
	if out.returned == nil {
		// Nothing matched (a positional filter, or no document), or an
		// upsert asked for the version before it.
		if _, had := pre[k]; !sameDoc(pre, post, k) && (had || out.famAfter) {
			h.fatalf("findAndModify returned nothing but changed the document%s", show())
		}
		return
	}
	want, when := pre[k], "before"
	if out.famAfter {
		want, when = post[k], "after"
	}
	if !bytes.Equal(out.returned, want) {
		h.fatalf("findAndModify returned %s, want the version %s: %s%s", extJSON(out.returned), when, extJSON(want), show())
	}
}

func sameDoc(a, b map[string]bson.Raw, k string) bool {
	x, okx := a[k]
	y, oky := b[k]
	return okx == oky && bytes.Equal(x, y)
}

func sameState(a, b map[string]bson.Raw) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !sameDoc(a, b, k) {
			return false
		}
	}
	return true
}

func stateJSON(st map[string]bson.Raw) string {
	var b bytes.Buffer
	b.WriteString("{")
	for _, v := range st {
		b.WriteString("\n    ")
		b.WriteString(extJSON(v))
	}
	b.WriteString("}")
	return b.String()
}

// withoutField returns ev without its top-level field name.
func withoutField(ev bson.Raw, name string) []byte {
	elems, _ := ev.Elements()
	out := bson.D{}
	for _, e := range elems {
		if e.Key() != name {
			out = append(out, bson.E{Key: e.Key(), Value: e.Value()})
		}
	}
	b, _ := bson.Marshal(out)
	return b
}
