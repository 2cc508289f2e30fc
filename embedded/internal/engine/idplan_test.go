package engine

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestIDPlanMatchesFullScan checks that finds, counts and deletes answered
// from the _id tree (points, $gt/$gte bounds, $expr bounds, sort {_id: 1})
// give exactly what a full scan with the matcher gives, over _ids of every
// type bracket inserted in shuffled order.
func TestIDPlanMatchesFullScan(t *testing.T) {
	e := newTestEngine(t, Options{})
	oid := bson.ObjectID{1, 2, 3}
	ids := []any{
		bson.MinKey{}, nil, math.NaN(), math.Inf(-1), int32(-5), int64(-1), 0.5, int32(1), int64(2), 2.5,
		bson.NewDecimal128(0, 30), int32(100), "", "$a", "a", "b", "b\x00",
		bson.D{{Key: "a", Value: int32(1)}}, bson.D{{Key: "a", Value: "$x"}}, bson.D{{Key: "b", Value: int32(0)}},
		bson.Binary{Subtype: 0, Data: []byte{1}}, bson.Binary{Subtype: 4, Data: []byte{1}},
		oid, bson.ObjectID{9}, false, true, bson.DateTime(-5), bson.DateTime(7),
		bson.Timestamp{T: 1, I: 2}, bson.MaxKey{},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	order := rng.Perm(len(ids))
	for i, j := range order {
		mustInsert(t, e, testNS, bson.D{{Key: "_id", Value: ids[j]}, {Key: "k", Value: int32(i % 3)}})
	}
	natural, err := e.Find(testNS, FindArgs{})
	if err != nil {
		t.Fatal(err)
	}
	var filters []bson.D
	for _, id := range ids {
		for _, op := range []string{"$gt", "$gte"} {
			filters = append(filters,
				bson.D{{Key: "_id", Value: bson.D{{Key: op, Value: id}}}},
				bson.D{{Key: "k", Value: int32(1)}, {Key: "_id", Value: bson.D{{Key: op, Value: id}, {Key: "$lt", Value: int32(50)}}}},
				bson.D{{Key: "$expr", Value: bson.D{{Key: op, Value: bson.A{"$_id", bson.D{{Key: "$literal", Value: id}}}}}}},
			)
		}
		filters = append(filters,
			bson.D{{Key: "_id", Value: id}},
			bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{id, int32(1), 1.0, "b", "zz"}}}}},
			bson.D{{Key: "k", Value: int32(2)}, {Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{id, oid}}}}},
		)
	}
	filters = append(filters,
		bson.D{{Key: "$expr", Value: bson.D{{Key: "$gt", Value: bson.A{"$_id", "a"}}}}},
		bson.D{{Key: "$expr", Value: bson.D{{Key: "$gt", Value: bson.A{"$_id", int32(1)}}}}},
		bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{}}}}},
		nil,
	)
	for _, f := range filters {
		m, err := mql.NewMatcher(f)
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		var want []bson.Raw
		for _, raw := range natural {
			if m.Match(decode(t, raw)) {
				want = append(want, raw)
			}
		}
		sorted := slices.Clone(want)
		slices.SortStableFunc(sorted, func(a, b bson.Raw) int {
			return mql.Compare(field(decode(t, a), "_id"), field(decode(t, b), "_id"))
		})
		got, err := e.Find(testNS, FindArgs{Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		sameRaws(t, "natural order", f, got, want)
		for _, w := range []struct{ skip, limit int64 }{{0, 0}, {0, 1}, {0, 3}, {2, 3}, {1, 0}} {
			got, err := e.Find(testNS, FindArgs{Filter: f, Sort: bson.D{{Key: "_id", Value: int32(1)}}, Skip: w.skip, Limit: w.limit})
			if err != nil {
				t.Fatal(err)
			}
			sameRaws(t, "sort _id", f, got, window(slices.Clone(sorted), w.skip, w.limit))
		}
		n, err := e.Count(testNS, CountArgs{Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(len(want)) {
			t.Errorf("count %v = %d, want %d", f, n, len(want))
		}
	}
	for _, f := range filters[:9] {
		if p := planID(f); !p.hasPoints && !p.hasLo {
			t.Errorf("filter %v is not answered from the _id tree", f)
		}
	}
	// Deletes find their documents through the same plan.
	f := bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: int32(1)}}}}
	before := findAll(t, e, testNS, nil)
	want, err := e.Count(testNS, CountArgs{Filter: f})
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.Delete(testNS, f, 0)
	if err != nil {
		t.Fatal(err)
	}
	left := findAll(t, e, testNS, nil)
	if n != want || want < 3 || len(left) != len(before)-int(n) {
		t.Fatalf("deleted %d documents with %v, want %d; left %v", n, f, want, left)
	}
}

func sameRaws(t *testing.T, what string, f bson.D, got, want []bson.Raw) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s %v: %d docs, want %d", what, f, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s %v: doc %d = %v, want %v", what, f, i, bson.Raw(got[i]), bson.Raw(want[i]))
		}
	}
}
