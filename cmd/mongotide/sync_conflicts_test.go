package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// A field-level conflict (FieldMerge) lists its clashing fields and can be
// dismissed; --conflict accepts field-merge.
func TestSyncConflictsListsFields(t *testing.T) {
	ctx, localURI, remoteURI, _, _ := syncServers(t)
	log := testenv.Connect(t, localURI, nil).Database("app").Collection("_mongotide_sync_conflicts")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := log.InsertOne(ctx, bson.D{{Key: "_id", Value: "c1"}, {Key: "coll", Value: "books"}, {Key: "docId", Value: 7},
		{Key: "kept", Value: "remote"}, {Key: "policy", Value: "field-merge"}, {Key: "fields", Value: bson.A{"a", "n.x"}},
		{Key: "reason", Value: "fields changed on both sides"}, {Key: "at", Value: at}}); err != nil {
		t.Fatal(err)
	}
	conn := []string{"--local", localURI, "--remote", remoteURI, "--db", "app", "-c", "books", "--conflict", "field-merge"}
	var out, errOut syncBuffer
	if code := run(ctx, append([]string{"sync", "conflicts"}, conn...), &out, &errOut); code != exitOK ||
		out.String() != "c1\tbooks\t{\"$numberInt\":\"7\"}\tkept=remote\t2026-01-02T03:04:05Z\tfields=a,n.x\n" {
		t.Fatalf("conflicts: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	out, errOut = syncBuffer{}, syncBuffer{}
	if code := run(ctx, append([]string{"sync", "conflicts", "dismiss", "c1"}, conn...), &out, &errOut); code != exitOK || !strings.Contains(out.String(), "dismiss c1") {
		t.Fatalf("dismiss: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	if n, err := log.CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
		t.Fatalf("log holds %d entries after dismiss (%v)", n, err)
	}
}
