package listen_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

type bigDoc struct {
	ID   int    `bson:"_id"`
	Body string `bson:"body"`
}

// An event over 16 MiB (9 MiB pre-image + 9 MiB post-image) arrives in
// fragments under $changeStreamSplitLargeEvent and is delivered whole.
func TestSplitLargeEventReassembled(t *testing.T) {
	ctx := context.Background()
	coll := newColl(t, testenv.Client(t))
	db := coll.Database()
	if err := db.CreateCollection(ctx, coll.Name(), options.CreateCollection().SetChangeStreamPreAndPostImages(bson.D{{Key: "enabled", Value: true}})); err != nil {
		t.Fatal(err)
	}
	got := make(chan *listen.ChangeEvent[bigDoc], 4)
	sub, err := listen.Listen[bigDoc](ctx, coll, func(_ context.Context, _ string, ev *listen.ChangeEvent[bigDoc]) error {
		got <- ev
		return nil
	}, listen.WithOperationTypes(listen.Replace),
		listen.WithFullDocumentBeforeChange(options.Required),
		listen.WithPipeline(mongo.Pipeline{{{Key: "$changeStreamSplitLargeEvent", Value: bson.D{}}}}))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	// Without the stage the same event is too large: proof that it was split.
	unsplit, err := listen.Listen[bigDoc](ctx, coll, func(context.Context, string, *listen.ChangeEvent[bigDoc]) error { return nil },
		listen.WithOperationTypes(listen.Replace), listen.WithFullDocumentBeforeChange(options.Required))
	if err != nil {
		t.Fatal(err)
	}
	defer unsplit.Unsubscribe()
	a, b := strings.Repeat("a", 9<<20), strings.Repeat("b", 9<<20)
	if _, err := coll.InsertOne(ctx, bigDoc{ID: 1, Body: a}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: 1}}, bigDoc{ID: 1, Body: b}); err != nil {
		t.Fatal(err)
	}
	var ev *listen.ChangeEvent[bigDoc]
	testenv.Eventually(t, 2*time.Minute, "the replace event (18 MiB of images, slow under -race)", func() bool {
		select {
		case ev = <-got:
			return true
		default:
			return sub.Err() != nil
		}
	})
	if ev == nil {
		t.Fatalf("subscription ended: %v", sub.Err())
	}
	if ev.FullDocument == nil || ev.FullDocument.Body != b {
		t.Fatal("post-image missing or wrong")
	}
	if ev.FullDocumentBeforeChange == nil || ev.FullDocumentBeforeChange.Body != a {
		t.Fatal("pre-image missing or wrong")
	}
	if _, err := ev.Raw.LookupErr("splitEvent"); err == nil {
		t.Fatal("reassembled event still carries splitEvent")
	}
	<-unsplit.Done()
	var ce mongo.CommandError
	if !errors.As(unsplit.Err(), &ce) || ce.Code != 10334 {
		t.Fatalf("unsplit listener ended with %v, want error 10334", unsplit.Err())
	}
}
