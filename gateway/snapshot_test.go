package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestSnapshotThenPullGapFree: while alice's and bob's documents are
// inserted, updated and deleted, a client pages a snapshot and then pulls
// from the snapshot's cursor; applying both gives exactly alice's
// documents in the database, and none of bob's.
func TestSnapshotThenPullGapFree(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.tok("alice")
	coll := e.db.Collection("notes")
	ctx := context.Background()
	for i := range 50 {
		e.insert("notes", bson.D{{Key: "_id", Value: i}, {Key: "owner", Value: ownerOf(i)}, {Key: "v", Value: 0}})
	}
	writerDone := make(chan error, 1)
	go func() {
		for round := 1; round <= 6; round++ {
			for i := range 60 {
				var err error
				switch {
				case i >= 50 && round == 1:
					_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "owner", Value: ownerOf(i)}, {Key: "v", Value: round}})
				case i%7 == round:
					_, err = coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: i}})
				default:
					_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: i}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: round}}}})
				}
				if err != nil {
					writerDone <- err
					return
				}
			}
		}
		writerDone <- nil
	}()

	state := map[string]map[string]any{}
	var cursor string
	after := ""
	for {
		q := "/v1/snapshot?collection=notes&limit=7"
		if after != "" {
			q += "&after=" + url.QueryEscape(after)
		}
		r := e.do("GET", q, alice, "")
		if r.status != 200 {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
		var pg struct {
			Documents []map[string]any `json:"documents"`
			Next      *string          `json:"next"`
			Cursor    string           `json:"cursor"`
		}
		if err := json.Unmarshal(r.body, &pg); err != nil {
			t.Fatal(err)
		}
		if after == "" {
			cursor = pg.Cursor
			if cursor == "" {
				t.Fatal("the first snapshot page has no cursor")
			}
		} else if pg.Cursor != "" {
			t.Fatal("a later snapshot page has a cursor")
		}
		for _, d := range pg.Documents {
			state[fmt.Sprint(d["_id"])] = d
		}
		if pg.Next == nil {
			break
		}
		after = *pg.Next
	}
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	cur, err := coll.Find(ctx, bson.D{{Key: "owner", Value: "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		ID int `bson:"_id"`
		V  int `bson:"v"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		want[fmt.Sprint(d.ID)] = d.V
	}
	matches := func() (bool, string) {
		if len(state) != len(want) {
			return false, fmt.Sprintf("%d documents, want %d", len(state), len(want))
		}
		for id, v := range want {
			d, ok := state[id]
			if !ok || d["v"] != float64(v) || d["owner"] != "alice" {
				return false, fmt.Sprintf("document %s: %v, want v=%d", id, d, v)
			}
		}
		return true, ""
	}
	testenv.EventuallySays(t, 20*time.Second, "snapshot + pulls to equal alice's documents", func() (bool, string) {
		p := e.pull(alice, "collections=notes&limit=25&since="+url.QueryEscape(cursor))
		for _, c := range p.Changes {
			var id any
			_ = json.Unmarshal(c.ID, &id)
			key := fmt.Sprint(id)
			if c.Op == "delete" {
				delete(state, key)
			} else {
				if c.Doc["owner"] != "alice" {
					t.Fatalf("pulled another owner's document: %v", c.Doc)
				}
				state[key] = c.Doc
			}
		}
		cursor = p.Cursor
		return matches()
	})
	for id, d := range state {
		if d["owner"] != "alice" {
			t.Fatalf("document %s of %v in alice's state", id, d["owner"])
		}
	}
}

func ownerOf(i int) string {
	if i%3 == 0 {
		return "bob"
	}
	return "alice"
}

// TestIDScopedFilterIsTopLevel: the snapshot's lower bound and a document
// read put _id and the owner at the top level of the filter (a server
// planning from top-level fields walks the _id index instead of scanning
// the collection for each page: the embedded server did, making a 100,000
// document snapshot quadratic), and still AND the scope as a clause of its
// own when the owner field is _id itself.
func TestIDScopedFilterIsTopLevel(t *testing.T) {
	f := newFeed("notes", Rule{OwnerField: "owner", ReadRoles: []string{"*"}}, nil, 1)
	cond := bson.D{{Key: "$gt", Value: 5}}
	got := f.idScopedFilter("alice", cond)
	want := bson.D{{Key: "_id", Value: cond}, {Key: "owner", Value: bson.D{{Key: "$eq", Value: "alice"}}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("owner field: %v, want %v", got, want)
	}
	shared := newFeed("board", Rule{Shared: true, ReadRoles: []string{"*"}}, nil, 1)
	if got := shared.idScopedFilter("alice", cond); fmt.Sprint(got) != fmt.Sprint(bson.D{{Key: "_id", Value: cond}}) {
		t.Errorf("shared: %v", got)
	}
	byID := newFeed("me", Rule{OwnerField: "_id", ReadRoles: []string{"*"}}, nil, 1)
	got = byID.idScopedFilter("alice", cond)
	if len(got) != 1 || got[0].Key != "$and" {
		t.Errorf("owner field _id: %v, want an $and of the bound and the scope", got)
	}
}
