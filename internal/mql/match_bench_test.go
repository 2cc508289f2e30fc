package mql

import (
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// benchDoc returns a document of about 1 KiB of BSON with the usual mix of
// scalars, a subdocument and arrays.
func benchDoc(tb testing.TB) bson.D {
	d := bson.D{
		{Key: "_id", Value: bson.ObjectID{1, 2, 3}},
		{Key: "name", Value: "benchmark document"},
		{Key: "status", Value: "active"},
		{Key: "qty", Value: int32(42)},
		{Key: "price", Value: 19.99},
		{Key: "created", Value: bson.DateTime(1700000000000)},
		{Key: "tags", Value: bson.A{"red", "green", "blue", "yellow"}},
		{Key: "owner", Value: bson.D{
			{Key: "name", Value: "alice"}, {Key: "age", Value: int32(30)},
			{Key: "address", Value: bson.D{{Key: "city", Value: "Paris"}, {Key: "zip", Value: "75001"}}},
		}},
		{Key: "items", Value: bson.A{
			bson.D{{Key: "sku", Value: "a1"}, {Key: "n", Value: int32(1)}},
			bson.D{{Key: "sku", Value: "b2"}, {Key: "n", Value: int32(5)}},
			bson.D{{Key: "sku", Value: "c3"}, {Key: "n", Value: int32(9)}},
		}},
	}
	for i := 0; i < 20; i++ {
		d = append(d, bson.E{Key: fmt.Sprintf("field%02d", i), Value: fmt.Sprintf("value number %02d....", i)})
	}
	raw, err := bson.Marshal(d)
	if err != nil {
		tb.Fatal(err)
	}
	if len(raw) < 960 || len(raw) > 1100 {
		tb.Fatalf("bench document is %d bytes, want about 1 KiB", len(raw))
	}
	return d
}

func benchMatch(b *testing.B, filter bson.D, want bool) {
	doc := benchDoc(b)
	m, err := NewMatcher(filter)
	if err != nil {
		b.Fatal(err)
	}
	if m.Match(doc) != want {
		b.Fatalf("filter %v: Match = %v, want %v", filter, !want, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if m.Match(doc) != want {
			b.Fatal("result changed")
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	b.Run("equality", func(b *testing.B) {
		benchMatch(b, bson.D{{Key: "status", Value: "active"}}, true)
	})
	b.Run("equality-miss-last-field", func(b *testing.B) {
		benchMatch(b, bson.D{{Key: "field19", Value: "nope"}}, false)
	})
	b.Run("compound", func(b *testing.B) {
		benchMatch(b, bson.D{
			{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{"active", "pending"}}}},
			{Key: "qty", Value: bson.D{{Key: "$gte", Value: 10}, {Key: "$lt", Value: 100}}},
			{Key: "owner.address.city", Value: "Paris"},
			{Key: "tags", Value: "blue"},
			{Key: "items.n", Value: bson.D{{Key: "$gt", Value: 8}}},
			{Key: "$or", Value: bson.A{
				bson.D{{Key: "price", Value: bson.D{{Key: "$lt", Value: 10}}}},
				bson.D{{Key: "name", Value: bson.D{{Key: "$exists", Value: true}}}},
			}},
		}, true)
	})
	b.Run("elemMatch", func(b *testing.B) {
		benchMatch(b, bson.D{{Key: "items", Value: bson.D{{Key: "$elemMatch", Value: bson.D{
			{Key: "sku", Value: "c3"}, {Key: "n", Value: bson.D{{Key: "$gt", Value: 5}}},
		}}}}}, true)
	})
	b.Run("regex", func(b *testing.B) {
		benchMatch(b, bson.D{{Key: "name", Value: bson.Regex{Pattern: "^bench", Options: "i"}}}, true)
	})
}

func BenchmarkSortCompare(b *testing.B) {
	s, err := NewSort(bson.D{{Key: "status", Value: 1}, {Key: "qty", Value: -1}, {Key: "items.n", Value: 1}})
	if err != nil {
		b.Fatal(err)
	}
	d1, d2 := benchDoc(b), benchDoc(b)
	d2[3].Value = int32(43) // qty
	if s.Compare(d1, d2) <= 0 {
		b.Fatal("qty descending: 42 must sort after 43")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Compare(d1, d2)
	}
}

func BenchmarkProjectionApply(b *testing.B) {
	p, err := NewProjection(bson.D{{Key: "name", Value: 1}, {Key: "owner.address.city", Value: 1}, {Key: "items.sku", Value: 1}})
	if err != nil {
		b.Fatal(err)
	}
	doc := benchDoc(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.Apply(doc); err != nil {
			b.Fatal(err)
		}
	}
}
