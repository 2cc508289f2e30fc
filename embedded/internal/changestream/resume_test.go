package changestream

import (
	"bytes"
	"fmt"
	"sort"
	"testing"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestTokenRoundTripAndOrder(t *testing.T) {
	toks := []token{
		{pos: engine.Position{}, kind: kindHighWater},
		{pos: engine.Position{TS: bson.Timestamp{T: 1, I: 0}, Index: 0}, kind: kindEvent},
		{pos: engine.Position{TS: bson.Timestamp{T: 1, I: 0}, Index: 0}, kind: kindEvent, frag: 1},
		{pos: engine.Position{TS: bson.Timestamp{T: 1, I: 0}, Index: 0}, kind: kindEvent, frag: 2},
		{pos: engine.Position{TS: bson.Timestamp{T: 1, I: 0}, Index: 0}, kind: kindInvalidate},
		{pos: engine.Position{TS: bson.Timestamp{T: 1, I: 0}, Index: 0}, kind: kindHighWater},
		{pos: engine.Position{TS: bson.Timestamp{T: 1, I: 0}, Index: 1}, kind: kindEvent},
		{pos: engine.Position{TS: bson.Timestamp{T: 1, I: 5}, Index: 0}, kind: kindEvent},
		{pos: engine.Position{TS: bson.Timestamp{T: 2, I: 0}, Index: 0}, kind: kindEvent},
		{pos: engine.Position{TS: bson.Timestamp{T: ^uint32(0), I: ^uint32(0)}, Index: ^uint32(0)}, kind: kindHighWater},
	}
	var hexes []string
	for i, tk := range toks {
		data, err := tokenData("resumeAfter", tk.raw())
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeTokenData(data)
		if err != nil || got != tk {
			t.Fatalf("round trip %d: got %+v, %v; want %+v", i, got, err, tk)
		}
		if i > 0 && toks[i-1].compare(tk) >= 0 {
			t.Fatalf("token %d does not sort after token %d", i, i-1)
		}
		hexes = append(hexes, data)
	}
	if !sort.StringsAreSorted(hexes) {
		t.Fatalf("hex strings are not in stream order: %v", hexes)
	}
}

func TestTokensMonotonicAcrossBatches(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	last := dataOf(t, s.PostBatchResumeToken())
	advance := func(what string, cur string) {
		t.Helper()
		if cur < last {
			t.Fatalf("%s: token %s went backwards from %s", what, cur, last)
		}
		last = cur
	}
	for i := 0; i < 20; i++ {
		if i%3 == 0 {
			log.commit(insertEntry(t, nsB, bson.D{{Key: "_id", Value: i}}))
		} else {
			log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: i}}), insertEntry(t, nsA, bson.D{{Key: "_id", Value: i + 1000}}))
		}
		docs, _, err := s.Next(ctx(t), 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			advance("event", dataOf(t, tokenOf(t, d)))
		}
		advance("postBatchResumeToken", dataOf(t, s.PostBatchResumeToken()))
	}
	for {
		docs, _ := nextAll(t, s)
		if len(docs) == 0 {
			break
		}
		for _, d := range docs {
			advance("event", dataOf(t, tokenOf(t, d)))
		}
	}
	log.commit(engine.Entry{Op: engine.OpDrop, NS: nsA})
	docs, _ := nextAll(t, s)
	for _, d := range docs {
		advance("event", dataOf(t, tokenOf(t, d)))
	}
	advance("final postBatchResumeToken", dataOf(t, s.PostBatchResumeToken()))
}

// collect drains a stream and returns the documentKey._id of each event.
func collectIDs(t *testing.T, s *Stream) []string {
	t.Helper()
	var out []string
	for {
		docs, done := nextAll(t, s)
		for _, d := range docs {
			if v, err := d.LookupErr("documentKey", "_id"); err == nil {
				if i, ok := v.Int32OK(); ok {
					out = append(out, fmt.Sprint(i))
				} else {
					out = append(out, v.String())
				}
			} else {
				out = append(out, str(t, d, "operationType"))
			}
		}
		if len(docs) == 0 || done {
			return out
		}
	}
}

func TestResumeFromEveryPosition(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	for i := 0; i < 10; i++ {
		log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(i)}}), insertEntry(t, nsB, bson.D{{Key: "_id", Value: int32(i)}}))
	}
	docs, _ := nextAll(t, s)
	if len(docs) != 10 {
		t.Fatalf("%d events", len(docs))
	}
	for i, d := range docs {
		for _, opt := range []string{"resumeAfter", "startAfter"} {
			r := openT(t, log, Scope{DB: "db", Coll: "a"}, bson.D{{Key: opt, Value: tokenOf(t, d)}})
			if !bytes.Equal(r.PostBatchResumeToken(), tokenOf(t, d)) {
				t.Fatalf("initial postBatchResumeToken of a resumed stream must be its resume token")
			}
			got := collectIDs(t, r)
			if len(got) != 9-i {
				t.Fatalf("%s event %d: got %v", opt, i, got)
			}
			for j, id := range got {
				if want := fmt.Sprint(i + 1 + j); id != want {
					t.Fatalf("%s event %d: got %v", opt, i, got)
				}
			}
		}
	}
	// A token of another collection's stream is accepted, as MongoDB does.
	other := openT(t, log, Scope{DB: "db", Coll: "b"}, bson.D{{Key: "startAtOperationTime", Value: bson.Timestamp{T: 1}}})
	bdocs, _ := nextAll(t, other)
	r := openT(t, log, Scope{DB: "db", Coll: "a"}, bson.D{{Key: "resumeAfter", Value: tokenOf(t, bdocs[4])}})
	if got := collectIDs(t, r); len(got) != 5 || got[0] != "5" {
		t.Fatalf("resume from another collection's token: %v", got)
	}
}

func TestResumeAfterHighWaterMark(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(1)}}))
	log.commit(insertEntry(t, nsB, bson.D{{Key: "_id", Value: int32(2)}}))
	docs, _ := nextAll(t, s)
	if len(docs) != 1 {
		t.Fatalf("%d docs", len(docs))
	}
	hwm := s.PostBatchResumeToken()
	if bytes.Equal(hwm, tokenOf(t, docs[0])) {
		t.Fatal("postBatchResumeToken must move past the filtered insert into b")
	}
	log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(3)}}))
	r := openT(t, log, Scope{DB: "db", Coll: "a"}, bson.D{{Key: "resumeAfter", Value: hwm}})
	if got := collectIDs(t, r); len(got) != 1 || got[0] != "3" {
		t.Fatalf("resume after high-water mark: %v", got)
	}
}

func TestPostBatchResumeTokenAdvancesOnEmptyBatches(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	before := dataOf(t, s.PostBatchResumeToken())
	log.commit(insertEntry(t, nsB, bson.D{{Key: "_id", Value: 1}}))
	if docs, _ := nextAll(t, s); len(docs) != 0 {
		t.Fatalf("%d docs", len(docs))
	}
	after := dataOf(t, s.PostBatchResumeToken())
	if after <= before {
		t.Fatalf("postBatchResumeToken did not advance on an empty batch: %s -> %s", before, after)
	}
	tok, _ := decodeTokenData(after)
	if tok.pos != log.OplogLast() || tok.kind != kindHighWater {
		t.Fatalf("postBatchResumeToken %+v, want high-water mark at %+v", tok, log.OplogLast())
	}
}

func TestPostBatchResumeTokenIsLastEventWhenBatchEndsOnEvent(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: 1}}), insertEntry(t, nsA, bson.D{{Key: "_id", Value: 2}}),
		insertEntry(t, nsA, bson.D{{Key: "_id", Value: 3}}))
	log.commit(insertEntry(t, nsB, bson.D{{Key: "_id", Value: 4}}))
	docs, _, err := s.Next(ctx(t), 2, 0)
	if err != nil || len(docs) != 2 {
		t.Fatalf("%d docs, %v", len(docs), err)
	}
	if !bytes.Equal(s.PostBatchResumeToken(), tokenOf(t, docs[1])) {
		t.Fatalf("postBatchResumeToken %s, want last event's %s", s.PostBatchResumeToken(), tokenOf(t, docs[1]))
	}
	docs, _, _ = s.Next(ctx(t), 2, 0)
	if len(docs) != 1 {
		t.Fatalf("%d docs", len(docs))
	}
	// The batch ended after the filtered insert into b: a high-water mark.
	tok, _ := decodeTokenData(dataOf(t, s.PostBatchResumeToken()))
	if tok.kind != kindHighWater || tok.pos != log.OplogLast() {
		t.Fatalf("postBatchResumeToken %+v", tok)
	}
}

func TestStartAfterInvalidate(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(1)}}))
	log.commit(engine.Entry{Op: engine.OpDrop, NS: nsA})
	log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(2)}}))
	docs, done := nextAll(t, s)
	if got := opTypes(t, docs); len(got) != 3 || got[2] != "invalidate" || !done {
		t.Fatalf("%v done=%v", got, done)
	}
	inv := tokenOf(t, docs[2])

	_, err := open(log, Scope{DB: "db", Coll: "a"}, bson.D{{Key: "resumeAfter", Value: inv}}, nil)
	wantCode(t, err, CodeInvalidResumeToken)

	r := openT(t, log, Scope{DB: "db", Coll: "a"}, bson.D{{Key: "startAfter", Value: inv}})
	if got := collectIDs(t, r); len(got) != 1 || got[0] != "2" {
		t.Fatalf("startAfter invalidate: %v", got)
	}
	if r.PostBatchResumeToken() == nil || dataOf(t, r.PostBatchResumeToken()) <= dataOf(t, inv) {
		t.Fatal("postBatchResumeToken must be past the invalidate")
	}

	// Resuming from the drop event itself re-delivers the invalidate.
	again := openT(t, log, Scope{DB: "db", Coll: "a"}, bson.D{{Key: "resumeAfter", Value: tokenOf(t, docs[1])}})
	d2, done := nextAll(t, again)
	if got := opTypes(t, d2); len(got) != 1 || got[0] != "invalidate" || !done {
		t.Fatalf("resume after drop: %v done=%v", got, done)
	}
	if !bytes.Equal(tokenOf(t, d2[0]), inv) {
		t.Fatal("re-delivered invalidate must carry the same token")
	}
}

func TestStartAtOperationTimeIsInclusive(t *testing.T) {
	log := newFakeLog()
	var ts []bson.Timestamp
	for i := 0; i < 5; i++ {
		p := log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(i)}}), insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(100 + i)}}))
		ts = append(ts, p[0].TS)
	}
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, bson.D{{Key: "startAtOperationTime", Value: ts[2]}})
	got := collectIDs(t, s)
	want := []string{"2", "102", "3", "103", "4", "104"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestNewStreamStartsAfterExistingEntries(t *testing.T) {
	log := newFakeLog()
	log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(1)}}))
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(2)}}))
	if got := collectIDs(t, s); len(got) != 1 || got[0] != "2" {
		t.Fatalf("got %v", got)
	}
}

func TestHistoryLost(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil)
	for i := 0; i < 5; i++ {
		log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(i)}}))
	}
	docs, _ := nextAll(t, s)
	old := tokenOf(t, docs[0])
	lagging := openT(t, log, Scope{DB: "db", Coll: "a"}, bson.D{{Key: "resumeAfter", Value: old}})
	log.truncate(2) // entries 0, 1, 2 are gone

	_, err := open(log, Scope{DB: "db", Coll: "a"}, bson.D{{Key: "resumeAfter", Value: old}}, nil)
	wantCode(t, err, CodeChangeStreamHistory)
	if !hasLabel(err, LabelNonResumable) {
		t.Fatalf("286 must carry %s: %#v", LabelNonResumable, err)
	}
	_, err = open(log, Scope{DB: "db", Coll: "a"}, bson.D{{Key: "startAtOperationTime", Value: bson.Timestamp{T: 1}}}, nil)
	wantCode(t, err, CodeChangeStreamHistory)

	// As in MongoDB, an event whose own entry is gone cannot be resumed
	// from (its presence cannot be verified), but retained ones can.
	_, err = open(log, Scope{DB: "db", Coll: "a"}, bson.D{{Key: "resumeAfter", Value: tokenOf(t, docs[2])}}, nil)
	wantCode(t, err, CodeChangeStreamHistory)
	r := openT(t, log, Scope{DB: "db", Coll: "a"}, bson.D{{Key: "resumeAfter", Value: tokenOf(t, docs[3])}})
	if got := collectIDs(t, r); fmt.Sprint(got) != "[4]" {
		t.Fatalf("got %v", got)
	}

	// A stream that fell behind the oplog fails its next read with 286.
	lagging.buf = nil
	_, _, err = lagging.Next(ctx(t), 0, 0)
	wantCode(t, err, CodeChangeStreamHistory)
}
