package embedded_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestAggregateMerge(t *testing.T) {
	db := testDB(t)
	ctx := testCtx(t)
	src, target := db.Collection("c"), db.Collection("m")
	seedNumbers(t, src, 4) // _id 1..4, x 11..44
	seed(t, target, bson.D{{Key: "_id", Value: 1}, {Key: "keep", Value: true}, {Key: "x", Value: 0}}, bson.D{{Key: "_id", Value: 9}})
	merge := func(spec any, pre ...bson.D) error {
		p := bson.A{}
		for _, st := range pre {
			p = append(p, st)
		}
		docs, err := src.Aggregate(ctx, append(p, bson.D{{Key: "$merge", Value: spec}}))
		if err == nil {
			if got := all(t)(docs, nil); len(got) != 0 {
				t.Fatalf("$merge returned documents: %v", got)
			}
		}
		return err
	}
	sorted := func() []bson.D {
		return all(t)(target.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})))
	}
	project := bson.D{{Key: "$project", Value: bson.D{{Key: "x", Value: 1}}}}
	// Default: merge matching documents, insert the others.
	if err := merge("m", project); err != nil {
		t.Fatal(err)
	}
	wantJSON(t, sorted(), `[{"_id":1,"keep":true,"x":11},{"_id":2,"x":22},{"_id":3,"x":33},{"_id":4,"x":44},{"_id":9}]`)
	// replace + discard.
	if err := merge(bson.D{{Key: "into", Value: "m"}, {Key: "whenMatched", Value: "replace"}, {Key: "whenNotMatched", Value: "discard"}},
		bson.D{{Key: "$match", Value: bson.D{{Key: "_id", Value: bson.D{{Key: "$lte", Value: 2}}}}}}, bson.D{{Key: "$project", Value: bson.D{{Key: "even", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	wantJSON(t, sorted()[:2], `[{"_id":1,"even":false},{"_id":2,"even":true}]`)
	// keepExisting leaves matches alone; fail refuses them.
	if err := merge(bson.D{{Key: "into", Value: "m"}, {Key: "whenMatched", Value: "keepExisting"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 0}}}}); err != nil {
		t.Fatal(err)
	}
	wantJSON(t, sorted()[2], `{"_id":3,"x":33}`)
	wantCode(t, merge(bson.D{{Key: "into", Value: "m"}, {Key: "whenMatched", Value: "fail"}}), 11000, "")
	wantCode(t, merge(bson.D{{Key: "into", Value: "fresh"}, {Key: "whenNotMatched", Value: "fail"}}), 13113, "")
	// "on" other than _id needs a unique index on those fields.
	wantCode(t, merge(bson.D{{Key: "into", Value: "m"}, {Key: "on", Value: "x"}}), 51183, "")
	if _, err := db.Collection("byx").Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "x", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
	seed(t, db.Collection("byx"), bson.D{{Key: "_id", Value: "a"}, {Key: "x", Value: 22}})
	if err := merge(bson.D{{Key: "into", Value: "byx"}, {Key: "on", Value: "x"}, {Key: "whenNotMatched", Value: "discard"}},
		bson.D{{Key: "$project", Value: bson.D{{Key: "_id", Value: 0}, {Key: "x", Value: 1}, {Key: "even", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	wantJSON(t, all(t)(db.Collection("byx").Find(ctx, bson.D{})), `[{"_id":"a","x":22,"even":true}]`)
	wantCode(t, merge(bson.D{{Key: "into", Value: "m"}, {Key: "bogus", Value: 1}}), 40415, "")
}
