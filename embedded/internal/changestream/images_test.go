package changestream

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// imageLog has one update, one replace and one delete with images, then the
// same three without.
func imageLog(t *testing.T) (*fakeLog, func(spec bson.D) *Stream) {
	log := newFakeLog()
	opener := func(spec bson.D) *Stream {
		return openT(t, log, Scope{DB: "db", Coll: "a"}, append(spec, bson.E{Key: "startAtOperationTime", Value: bson.Timestamp{T: 1}}))
	}
	key := raw(t, bson.D{{Key: "_id", Value: int32(1)}})
	pre := raw(t, bson.D{{Key: "_id", Value: int32(1)}, {Key: "v", Value: "pre"}})
	post := raw(t, bson.D{{Key: "_id", Value: int32(1)}, {Key: "v", Value: "post"}})
	ud := &mql.UpdateDescription{UpdatedFields: []mql.Field{{Path: "v", Value: "post"}}}
	for _, images := range []bool{true, false} {
		var p bson.Raw
		if images {
			p = pre
		}
		log.commit(engine.Entry{Op: engine.OpUpdate, NS: nsA, DocumentKey: key, Document: post, PreImage: p, ImagesEnabled: images, UpdateDescription: ud})
		log.commit(engine.Entry{Op: engine.OpReplace, NS: nsA, DocumentKey: key, Document: post, PreImage: p, ImagesEnabled: images})
		log.commit(engine.Entry{Op: engine.OpDelete, NS: nsA, DocumentKey: key, PreImage: p, ImagesEnabled: images})
	}
	return log, opener
}

func field(t *testing.T, d bson.Raw, key string) (bson.RawValue, bool) {
	t.Helper()
	v, err := d.LookupErr(key)
	return v, err == nil
}

func TestFullDocumentModes(t *testing.T) {
	log, opener := imageLog(t)
	post := raw(t, bson.D{{Key: "_id", Value: int32(1)}, {Key: "v", Value: "post"}})
	current := raw(t, bson.D{{Key: "_id", Value: int32(1)}, {Key: "v", Value: "now"}})

	// default: the update has no fullDocument at all.
	docs, _ := nextAll(t, opener(nil))
	if _, ok := field(t, docs[0], "fullDocument"); ok {
		t.Fatal("default mode: update must not carry fullDocument")
	}
	if v, _ := field(t, docs[1], "fullDocument"); !bytes.Equal(v.Document(), post) {
		t.Fatal("replace must carry fullDocument")
	}

	// updateLookup: the current document, at read time; null once gone.
	log.setDoc(nsA, int32(1), current)
	docs, _ = nextAll(t, opener(bson.D{{Key: "fullDocument", Value: "updateLookup"}}))
	wantKeys(t, docs[0], "_id", "operationType", "clusterTime", "wallTime", "fullDocument", "ns", "documentKey", "updateDescription")
	if v, _ := field(t, docs[0], "fullDocument"); !bytes.Equal(v.Document(), current) {
		t.Fatalf("updateLookup: %s", v)
	}
	if _, ok := field(t, docs[2], "fullDocument"); ok {
		t.Fatal("delete never carries fullDocument")
	}
	log.setDoc(nsA, int32(1), nil)
	docs, _ = nextAll(t, opener(bson.D{{Key: "fullDocument", Value: "updateLookup"}}))
	if v, _ := field(t, docs[0], "fullDocument"); v.Type != bson.TypeNull {
		t.Fatalf("updateLookup of a deleted document: %s, want null", v)
	}

	// whenAvailable: the post-image only when images were enabled.
	docs, _ = nextAll(t, opener(bson.D{{Key: "fullDocument", Value: "whenAvailable"}}))
	if v, _ := field(t, docs[0], "fullDocument"); !bytes.Equal(v.Document(), post) {
		t.Fatalf("whenAvailable with images: %s", v)
	}
	if v, _ := field(t, docs[3], "fullDocument"); v.Type != bson.TypeNull {
		t.Fatalf("whenAvailable without images: %s, want null", v)
	}

	// required: an error at the update without images.
	s := opener(bson.D{{Key: "fullDocument", Value: "required"}})
	docs, _, err := s.Next(ctx(t), 3, 0)
	if err != nil || len(docs) != 3 {
		t.Fatalf("required, images enabled: %d docs, %v", len(docs), err)
	}
	_, _, err = s.Next(ctx(t), 0, 0)
	wantCode(t, err, CodeNoMatchingDocument)
}

func TestFullDocumentBeforeChangeModes(t *testing.T) {
	_, opener := imageLog(t)
	pre := raw(t, bson.D{{Key: "_id", Value: int32(1)}, {Key: "v", Value: "pre"}})

	docs, _ := nextAll(t, opener(bson.D{{Key: "fullDocumentBeforeChange", Value: "off"}}))
	for _, d := range docs {
		if _, ok := field(t, d, "fullDocumentBeforeChange"); ok {
			t.Fatal("off: no fullDocumentBeforeChange")
		}
	}

	docs, _ = nextAll(t, opener(bson.D{{Key: "fullDocumentBeforeChange", Value: "whenAvailable"}}))
	if len(docs) != 6 {
		t.Fatalf("%d docs", len(docs))
	}
	wantKeys(t, docs[0], "_id", "operationType", "clusterTime", "wallTime", "ns", "documentKey", "updateDescription", "fullDocumentBeforeChange")
	wantKeys(t, docs[2], "_id", "operationType", "clusterTime", "wallTime", "ns", "documentKey", "fullDocumentBeforeChange")
	for i, d := range docs {
		v, _ := field(t, d, "fullDocumentBeforeChange")
		if i < 3 && !bytes.Equal(v.Document(), pre) {
			t.Fatalf("event %d: pre-image %s", i, v)
		}
		if i >= 3 && v.Type != bson.TypeNull {
			t.Fatalf("event %d: %s, want null", i, v)
		}
	}

	s := opener(bson.D{{Key: "fullDocumentBeforeChange", Value: "required"}})
	if docs, _, err := s.Next(ctx(t), 3, 0); err != nil || len(docs) != 3 {
		t.Fatalf("required with images: %d, %v", len(docs), err)
	}
	_, _, err := s.Next(ctx(t), 0, 0)
	wantCode(t, err, CodeNoMatchingDocument)

	// Both images together: fullDocument in its slot, the pre-image last.
	docs, _ = nextAll(t, opener(bson.D{{Key: "fullDocument", Value: "whenAvailable"}, {Key: "fullDocumentBeforeChange", Value: "whenAvailable"}}))
	wantKeys(t, docs[0], "_id", "operationType", "clusterTime", "wallTime", "fullDocument", "ns", "documentKey", "updateDescription", "fullDocumentBeforeChange")
}

func TestRequiredPreImageErrorComesFirst(t *testing.T) {
	_, opener := imageLog(t)
	s := opener(bson.D{{Key: "fullDocument", Value: "required"}, {Key: "fullDocumentBeforeChange", Value: "required"}})
	if docs, _, err := s.Next(ctx(t), 3, 0); err != nil || len(docs) != 3 {
		t.Fatalf("images enabled: %d docs, %v", len(docs), err)
	}
	_, _, err := s.Next(ctx(t), 0, 0)
	wantCode(t, err, CodeNoMatchingDocument)
	if !strings.Contains(err.Error(), "pre-image") {
		t.Fatalf("want the pre-image error first, got %v", err)
	}
}
