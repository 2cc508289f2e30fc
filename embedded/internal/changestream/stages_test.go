package changestream

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestMatchStageAndHighWaterMark(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil, bson.D{{Key: "$match", Value: bson.D{{Key: "fullDocument.z", Value: int32(3)}}}})
	log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(1)}, {Key: "y", Value: int32(2)}}))
	log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(2)}, {Key: "z", Value: int32(3)}}))
	log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(3)}, {Key: "y", Value: int32(4)}}))
	docs, _ := nextAll(t, s)
	if len(docs) != 1 || docs[0].Lookup("fullDocument", "z").Int32() != 3 {
		t.Fatalf("docs %v", docs)
	}
	tok, _ := decodeTokenData(dataOf(t, s.PostBatchResumeToken()))
	if tok.kind != kindHighWater || tok.pos != log.OplogLast() {
		t.Fatalf("postBatchResumeToken must pass events the $match filtered out: %+v", tok)
	}
}

func TestProjectionStages(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil, bson.D{{Key: "$project", Value: bson.D{
		{Key: "optype", Value: "$operationType"}, {Key: "ns", Value: int32(1)}, {Key: "newField", Value: "value"},
	}}})
	log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(1)}}))
	docs, _ := nextAll(t, s)
	// As in MongoDB: included fields keep their place, computed ones follow.
	wantKeys(t, docs[0], "_id", "ns", "optype", "newField")
	if str(t, docs[0], "optype") != "insert" || str(t, docs[0], "newField") != "value" {
		t.Fatalf("%s", docs[0])
	}

	set := openT(t, log, Scope{DB: "db", Coll: "a"}, nil, bson.D{{Key: "$set", Value: bson.D{{Key: "extra", Value: "x"}}}},
		bson.D{{Key: "$unset", Value: "wallTime"}})
	log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(2)}}))
	docs, _ = nextAll(t, set)
	wantKeys(t, docs[0], "_id", "operationType", "clusterTime", "fullDocument", "ns", "documentKey", "extra")
}

func TestPipelineMustKeepID(t *testing.T) {
	for name, stage := range map[string]bson.D{
		"project out":  {{Key: "$project", Value: bson.D{{Key: "_id", Value: int32(0)}}}},
		"unset":        {{Key: "$unset", Value: "_id"}},
		"replace root": {{Key: "$replaceRoot", Value: bson.D{{Key: "newRoot", Value: "$fullDocument"}}}},
		"overwrite":    {{Key: "$set", Value: bson.D{{Key: "_id", Value: "mine"}}}},
	} {
		t.Run(name, func(t *testing.T) {
			log := newFakeLog()
			s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil, stage)
			log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(1)}, {Key: "a", Value: int32(1)}}))
			_, _, err := s.Next(ctx(t), 0, 0)
			wantCode(t, err, CodeChangeStreamFatal)
			if !hasLabel(err, LabelNonResumable) {
				t.Fatalf("280 must carry %s", LabelNonResumable)
			}
		})
	}
}

func TestMatchCanHideInvalidateButStreamEnds(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, nil, bson.D{{Key: "$match", Value: bson.D{{Key: "operationType", Value: "insert"}}}})
	log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(1)}}))
	log.commit(engine.Entry{Op: engine.OpDrop, NS: nsA})
	log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(2)}}))
	docs, done := nextAll(t, s)
	if len(docs) != 1 || !done {
		t.Fatalf("%d docs done=%v", len(docs), done)
	}
}

// bigDoc returns a document with two fields of about size/2 bytes each.
func bigDoc(id int32, size int) bson.D {
	half := strings.Repeat("x", size/2)
	return bson.D{{Key: "_id", Value: id}, {Key: "a", Value: half}, {Key: "b", Value: half}}
}

func TestLargeEventWithoutSplitFails(t *testing.T) {
	log := newFakeLog()
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, bson.D{{Key: "fullDocumentBeforeChange", Value: "whenAvailable"}})
	doc := raw(t, bigDoc(1, 10<<20))
	log.commit(engine.Entry{Op: engine.OpReplace, NS: nsA, DocumentKey: raw(t, bson.D{{Key: "_id", Value: int32(1)}}),
		Document: doc, PreImage: doc, ImagesEnabled: true})
	_, _, err := s.Next(ctx(t), 0, 0)
	wantCode(t, err, CodeBSONObjectTooLarge)
}

func TestSplitLargeEvent(t *testing.T) {
	log := newFakeLog()
	spec := bson.D{{Key: "fullDocumentBeforeChange", Value: "whenAvailable"}}
	split := bson.D{{Key: "$changeStreamSplitLargeEvent", Value: bson.D{}}}
	s := openT(t, log, Scope{DB: "db", Coll: "a"}, spec, split)
	doc := raw(t, bigDoc(1, 10<<20))
	log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(0)}}))
	log.commit(engine.Entry{Op: engine.OpReplace, NS: nsA, DocumentKey: raw(t, bson.D{{Key: "_id", Value: int32(1)}}),
		Document: doc, PreImage: doc, ImagesEnabled: true})
	log.commit(insertEntry(t, nsA, bson.D{{Key: "_id", Value: int32(2)}}))

	var all []bson.Raw
	for {
		docs, _, err := s.Next(ctx(t), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(docs) == 0 {
			break
		}
		size := 0
		for _, d := range docs {
			size += len(d)
		}
		if len(docs) > 1 && size > maxBatchBytes {
			t.Fatalf("batch of %d bytes", size)
		}
		all = append(all, docs...)
	}
	if len(all) != 4 {
		t.Fatalf("%d documents, want insert + 2 fragments + insert", len(all))
	}
	frags := all[1:3]
	seen := map[string]bool{}
	for i, f := range frags {
		if len(f) > maxChangeEventSize {
			t.Fatalf("fragment %d has %d bytes", i, len(f))
		}
		ks := keys(t, f)
		if ks[0] != "_id" || ks[1] != "splitEvent" {
			t.Fatalf("fragment %d fields %v", i, ks)
		}
		se := f.Lookup("splitEvent").Document()
		if se.Lookup("fragment").Int32() != int32(i+1) || se.Lookup("of").Int32() != 2 {
			t.Fatalf("fragment %d splitEvent %s", i, se)
		}
		for _, k := range ks[2:] {
			seen[k] = true
		}
	}
	// The smallest fields come first, the two big images are split apart.
	for _, k := range []string{"operationType", "clusterTime", "wallTime", "ns", "documentKey", "fullDocument", "fullDocumentBeforeChange"} {
		if !seen[k] {
			t.Fatalf("field %s missing from the fragments", k)
		}
	}
	if keys(t, frags[0])[2] != "operationType" && keys(t, frags[0])[2] != "wallTime" {
		t.Fatalf("first fragment should start with the smallest field: %v", keys(t, frags[0]))
	}
	t1, t2 := dataOf(t, tokenOf(t, frags[0])), dataOf(t, tokenOf(t, frags[1]))
	if !(dataOf(t, tokenOf(t, all[0])) < t1 && t1 < t2 && t2 < dataOf(t, tokenOf(t, all[3]))) {
		t.Fatal("fragment tokens must sort between the neighbouring events")
	}

	// Resume from the first fragment: the second fragment comes next.
	r := openT(t, log, Scope{DB: "db", Coll: "a"}, append(spec, bson.E{Key: "resumeAfter", Value: tokenOf(t, frags[0])}), split)
	docs, _, err := r.Next(ctx(t), 1, 0)
	if err != nil || len(docs) != 1 || !bytes.Equal(docs[0], frags[1]) {
		t.Fatalf("resume from fragment 1: %d docs, %v", len(docs), err)
	}
	// Resume from the last fragment: the next event.
	r2 := openT(t, log, Scope{DB: "db", Coll: "a"}, append(spec, bson.E{Key: "resumeAfter", Value: tokenOf(t, frags[1])}), split)
	if got := collectIDs(t, r2); len(got) != 1 || got[0] != "2" {
		t.Fatalf("resume from last fragment: %v", got)
	}
	// Resume from a fragment with a pipeline that no longer splits it.
	r3 := openT(t, log, Scope{DB: "db", Coll: "a"}, bson.D{{Key: "resumeAfter", Value: tokenOf(t, frags[0])}}, split)
	_, _, err = r3.Next(ctx(t), 0, 0)
	wantCode(t, err, CodeChangeStreamFatal)
}
