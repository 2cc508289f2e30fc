package mql_test

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongotide/mongotide/internal/mql"
)

func ExampleNewUpdate() {
	u, err := mql.NewUpdate(bson.D{
		{Key: "$set", Value: bson.D{{Key: "profile.name", Value: "Ada"}}},
		{Key: "$push", Value: bson.D{{Key: "tags", Value: "new"}}},
		{Key: "$inc", Value: bson.D{{Key: "visits", Value: int32(1)}}},
	}, mql.UpdateOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	doc := bson.D{{Key: "_id", Value: int32(1)}, {Key: "tags", Value: bson.A{"a", "b"}}, {Key: "visits", Value: int32(4)}}
	out, desc, err := u.Apply(doc, mql.ApplyContext{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out)
	for _, f := range desc.UpdatedFields {
		fmt.Println(f.Path, f.Value)
	}
	// Output:
	// {"_id":{"$numberInt":"1"},"tags":["a","b","new"],"visits":{"$numberInt":"5"},"profile":{"name":"Ada"}}
	// visits 5
	// profile {"name":"Ada"}
	// tags.2 new
}

func ExampleNewPipeline() {
	p, err := mql.NewPipeline([]bson.D{
		{{Key: "$match", Value: bson.D{{Key: "qty", Value: bson.D{{Key: "$gt", Value: int32(1)}}}}}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$cat"}, {Key: "total", Value: bson.D{{Key: "$sum", Value: "$qty"}}}}}},
	}, mql.PipelineOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := p.Run([]bson.D{
		{{Key: "cat", Value: "a"}, {Key: "qty", Value: int32(2)}},
		{{Key: "cat", Value: "b"}, {Key: "qty", Value: int32(1)}},
		{{Key: "cat", Value: "a"}, {Key: "qty", Value: int32(3)}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out)
	// Output:
	// [{"_id":"a","total":{"$numberInt":"5"}}]
}
