package resume_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/mongotide/mongotide/resume"
	"github.com/mongotide/mongotide/resume/resumetest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

var collSeq atomic.Int64

func TestMongoStoreConformance(t *testing.T) {
	client := testenv.Client(t)
	resumetest.Run(t, func(t *testing.T) (resume.Store, resumetest.CorruptFunc) {
		coll := client.Database("resume_test").Collection(fmt.Sprintf("tokens_%d", collSeq.Add(1)))
		s := resume.NewMongoStore(coll)
		return s, func(t *testing.T, key string, raw []byte) {
			// Valid documents are stored as the token itself; other bytes
			// as binary, which no Save ever writes.
			var v any = bson.Binary{Data: raw}
			if bson.Raw(raw).Validate() == nil {
				v = bson.Raw(raw)
			}
			_, err := coll.UpdateOne(context.Background(), bson.D{{Key: "_id", Value: key}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "token", Value: v}}}}, options.UpdateOne().SetUpsert(true))
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestMongoStoreDocumentShape(t *testing.T) {
	coll := testenv.Client(t).Database("resume_test").Collection(fmt.Sprintf("shape_%d", collSeq.Add(1)))
	s := resume.NewMongoStore(coll)
	ctx := context.Background()
	if err := s.Save(ctx, "books-indexer", resumetest.Token(1)); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ID        string   `bson:"_id"`
		Token     bson.Raw `bson:"token"`
		UpdatedAt bson.DateTime
	}
	raw, err := coll.FindOne(ctx, bson.D{}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	if err := bson.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ID != "books-indexer" || string(doc.Token) != string(resumetest.Token(1)) {
		t.Fatalf("stored %v", raw)
	}
	if _, err := raw.LookupErr("updatedAt"); err != nil {
		t.Fatalf("no updatedAt in %v", raw)
	}
}
