package sync

import (
	"testing"
	"time"

	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// A download that meets a pending local edit leaves the remote change to
// that edit's upload. When the application undoes the edit before the
// upload runs (it deletes the document it inserted, so the local side
// equals the base again: no document), the upload must still bring the
// remote change down rather than see nothing to do: nothing else would
// (the download was handled). Found by TestChaos (seed
// 12834922817093212182: a remote replace never reached the local side).
// The handlers are called directly, in the order the two streams met them.
func TestRemoteChangeLeftToUndoneLocalEdit(t *testing.T) {
	ctx := testCtx(t)
	local, remote := newDB(t, "local"), newDB(t, "remote")
	lc, rc := local.Collection("c"), remote.Collection("c")
	s, err := New(Config{Local: local, Remote: remote, Collections: []string{"c"}, ReplicaID: "A", Backoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	cs, id := s.collState("c"), rawID(t, 4)
	rdoc := mustMarshal(t, bson.D{{Key: "_id", Value: 4}, {Key: "v", Value: "remote"}})
	if _, err := rc.InsertOne(ctx, rdoc); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: 4}, {Key: "v", Value: "local"}}); err != nil {
		t.Fatal(err)
	}
	// The remote insert's download: a local edit is pending.
	if err := s.download(ctx, cs, id, nil, false, time.Now(), bson.Timestamp{}); err != nil {
		t.Fatal(err)
	}
	if got := findOne(t, ctx, lc, 4); got["v"] != "local" {
		t.Fatalf("local = %v; the download must leave the pending local edit alone", got)
	}
	if _, err := lc.DeleteOne(ctx, bson.D{{Key: "_id", Value: 4}}); err != nil {
		t.Fatal(err)
	}
	// The local insert's and delete's uploads, after the delete.
	if err := s.upload(ctx, cs, id, listen.Insert, nil, time.Now(), bson.Timestamp{}); err != nil {
		t.Fatal(err)
	}
	if err := s.upload(ctx, cs, id, listen.Delete, nil, time.Now(), bson.Timestamp{}); err != nil {
		t.Fatal(err)
	}
	got, err := readDoc(ctx, lc, id)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(rdoc) {
		t.Fatalf("local = %v, remote holds %v; the remote insert never came down", got, rdoc)
	}
	base, _, err := loadMeta(ctx, s.localDocs, "c", id)
	if err != nil || base.Hash != contentHash(rdoc) || base.RemoteAhead {
		t.Fatalf("base = %+v, %v; want the remote document, no flag", base, err)
	}
	// Settled: a redelivery finds nothing to do.
	if err := s.upload(ctx, cs, id, listen.Delete, nil, time.Now(), bson.Timestamp{}); err != nil {
		t.Fatal(err)
	}
	if err := s.download(ctx, cs, id, nil, false, time.Now(), bson.Timestamp{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := readDoc(ctx, rc, id); string(got) != string(rdoc) {
		t.Fatalf("remote = %v after redelivery, want %v", got, rdoc)
	}
}
