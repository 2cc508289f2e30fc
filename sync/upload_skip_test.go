package sync

import (
	"testing"

	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// skipUpload is the pure first step of upload: no server needed. Each case
// names the reason (from upload's comments) it skips or goes on.
func TestSkipUploadPlanner(t *testing.T) {
	mk := func(v int) bson.Raw {
		raw, err := bson.Marshal(bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: v}})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	a, b := mk(1), mk(2)
	ha, hb := contentHash(a), contentHash(b)
	pending := &pendingConflict{Result: Version{HLC: 5, Replica: "r"}}
	cases := []struct {
		name  string
		op    listen.OperationType
		evDoc bson.Raw
		doc   bson.Raw
		base  docMeta
		skip  bool
	}{
		{"echo of a downloaded write", listen.Replace, a, a, docMeta{Hash: ha}, true},
		{"pending conflict is handled in full even when equal to base", listen.Replace, a, a, docMeta{Hash: ha, Pending: pending}, false},
		{"remote ahead, local edit undone: handled in full", listen.Update, nil, a, docMeta{Hash: ha, RemoteAhead: true}, false},
		{"post-image re-states the base (echo after a later change)", listen.Replace, a, b, docMeta{Hash: ha}, true},
		{"delete of a document already absent in the base", listen.Delete, nil, b, docMeta{Hash: absentHash}, true},
		{"superseded: written again after this change", listen.Insert, b, a, docMeta{Hash: absentHash}, true},
		{"superseded delete: the document exists again", listen.Delete, nil, a, docMeta{Hash: hb}, true},
		{"a plain local edit uploads", listen.Replace, b, b, docMeta{Hash: ha}, false},
		{"an update (no post-image) uploads", listen.Update, nil, b, docMeta{Hash: ha}, false},
		{"reconciliation (no op) uploads a difference", "", nil, b, docMeta{Hash: ha}, false},
		{"a local delete uploads", listen.Delete, nil, nil, docMeta{Hash: ha}, false},
	}
	for _, c := range cases {
		got := skipUpload(c.op, c.evDoc, c.doc, contentHash(c.doc), c.base)
		if got != c.skip {
			t.Errorf("%s: skipUpload = %v, want %v", c.name, got, c.skip)
		}
	}
}
