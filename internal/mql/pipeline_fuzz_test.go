package mql

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// FuzzPipelineRun checks that no pipeline panics when compiled and run.
func FuzzPipelineRun(f *testing.F) {
	for _, s := range []string{
		`[{"$match":{"a":{"$gt":1}}},{"$project":{"a":1,"b.c":"$x"}}]`,
		`[{"$group":{"_id":"$g","n":{"$sum":1},"f":{"$firstN":{"input":"$a","n":2}}}},{"$sort":{"n":-1}}]`,
		`[{"$unwind":{"path":"$arr","includeArrayIndex":"i.j"}},{"$count":"c"}]`,
		`[{"$addFields":{"arr.x":1,"s":{"y":"$a"}}},{"$unset":["a","s.y"]}]`,
		`[{"$facet":{"x":[{"$limit":1}],"y":[{"$sortByCount":"$g"}]}}]`,
		`[{"$replaceWith":{"$mergeObjects":["$$ROOT",{"z":1}]}},{"$skip":1}]`,
	} {
		f.Add(s)
	}
	docs := []bson.D{
		{{Key: "_id", Value: int32(1)}, {Key: "a", Value: int32(2)}, {Key: "g", Value: "x"},
			{Key: "arr", Value: bson.A{int32(1), bson.D{{Key: "k", Value: "v"}}, bson.A{}}}},
		{{Key: "_id", Value: int32(2)}, {Key: "a", Value: "s"}, {Key: "arr", Value: nil}},
		{{Key: "_id", Value: int32(3)}, {Key: "b", Value: bson.D{{Key: "c", Value: 1.5}}}},
	}
	f.Fuzz(func(t *testing.T, stagesJSON string) {
		var wrapped bson.D
		if bson.UnmarshalExtJSON([]byte(`{"p":`+stagesJSON+`}`), false, &wrapped) != nil || len(wrapped) != 1 {
			return
		}
		arr, ok := wrapped[0].Value.(bson.A)
		if !ok {
			return
		}
		var stages []bson.D
		for _, s := range arr {
			d, ok := s.(bson.D)
			if !ok {
				return
			}
			stages = append(stages, d)
		}
		p, err := NewPipeline(stages, PipelineOptions{})
		if err != nil {
			return
		}
		_, _ = p.Run(docs)
		_, _, _ = p.ApplyOne(docs[0])
	})
}
