package mql

import (
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// benchSortGroupDocs are 10,000 documents of about 100 bytes.
func benchSortGroupDocs() []bson.D {
	docs := make([]bson.D, 10_000)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: int32(i)}, {Key: "g", Value: int32(i % 100)},
			{Key: "name", Value: fmt.Sprintf("user-%d", (i*7919)%10_000)}, {Key: "score", Value: float64(i) / 3},
			{Key: "sub", Value: bson.D{{Key: "a", Value: int32(i)}, {Key: "b", Value: "x"}}}}
	}
	return docs
}

// benchSortGroup runs the blocking stages' hot path: a $sort of every
// document and a $group with a $push, with opts' memory limits.
func benchSortGroup(b *testing.B, opts PipelineOptions) {
	docs := benchSortGroupDocs()
	for _, tc := range []struct{ name, stages string }{
		{"sort", `[{"$sort":{"name":1}}]`},
		{"group", `[{"$group":{"_id":"$g","n":{"$sum":1},"s":{"$avg":"$score"},"names":{"$push":"$name"},"first":{"$first":"$sub"}}}]`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p, err := NewPipeline(stagesOf(b, tc.stages), opts)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if out, err := p.Run(docs); err != nil || len(out) == 0 {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPipelineSortGroup(b *testing.B) { benchSortGroup(b, PipelineOptions{}) }
