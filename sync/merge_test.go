package sync

import (
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func mustRaw(t *testing.T, d bson.D) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDiffDocsShapedLikeUpdateDescription(t *testing.T) {
	base := mustRaw(t, bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: 1}, {Key: "n", Value: bson.D{{Key: "x", Value: 1}, {Key: "y", Value: 2}}},
		{Key: "arr", Value: bson.A{1, 2}}, {Key: "gone", Value: true}})
	doc := mustRaw(t, bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: int64(1)}, {Key: "n", Value: bson.D{{Key: "x", Value: 1}, {Key: "y", Value: 3}, {Key: "z", Value: "new"}}},
		{Key: "arr", Value: bson.A{1, 2, 3}}, {Key: "added", Value: "v"}})
	got, err := diffDocs(base, doc)
	if err != nil {
		t.Fatal(err)
	}
	var updated, removed []string
	for _, c := range got {
		if c.Removed {
			removed = append(removed, c.Path.String())
		} else {
			updated = append(updated, c.Path.String())
		}
	}
	// int32 1 -> int64 1 is a change; the array is one whole value.
	if want := []string{"a", "n.y", "n.z", "arr", "added"}; !slices.Equal(updated, want) {
		t.Fatalf("updatedFields = %v, want %v", updated, want)
	}
	if want := []string{"gone"}; !slices.Equal(removed, want) {
		t.Fatalf("removedFields = %v, want %v", removed, want)
	}
}

func TestMerge3(t *testing.T) {
	base := bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "base"}, {Key: "b", Value: "base"},
		{Key: "n", Value: bson.D{{Key: "x", Value: 1}, {Key: "y", Value: 1}}}, {Key: "arr", Value: bson.A{1}}}
	with := func(changes ...bson.E) bson.D {
		out := slices.Clone(base)
		for _, c := range changes {
			i := slices.IndexFunc(out, func(e bson.E) bool { return e.Key == c.Key })
			switch {
			case c.Value == "$remove":
				out = slices.Delete(out, i, i+1)
			case i < 0:
				out = append(out, c)
			default:
				out[i] = c
			}
		}
		return out
	}
	for _, tc := range []struct {
		name          string
		local, remote bson.D
		localWins     bool
		want          bson.D
		clashes       []string
	}{
		{"different fields both survive", with(bson.E{Key: "a", Value: "L"}), with(bson.E{Key: "b", Value: "R"}), false,
			with(bson.E{Key: "a", Value: "L"}, bson.E{Key: "b", Value: "R"}), nil},
		{"same field same value", with(bson.E{Key: "a", Value: "X"}), with(bson.E{Key: "a", Value: "X"}), false,
			with(bson.E{Key: "a", Value: "X"}), nil},
		{"same field, remote wins", with(bson.E{Key: "a", Value: "L"}, bson.E{Key: "b", Value: "L"}), with(bson.E{Key: "a", Value: "R"}), false,
			with(bson.E{Key: "a", Value: "R"}, bson.E{Key: "b", Value: "L"}), []string{"a"}},
		{"same field, local wins", with(bson.E{Key: "a", Value: "L"}), with(bson.E{Key: "a", Value: "R"}, bson.E{Key: "b", Value: "R"}), true,
			with(bson.E{Key: "a", Value: "L"}, bson.E{Key: "b", Value: "R"}), []string{"a"}},
		{"nested fields both survive", with(bson.E{Key: "n", Value: bson.D{{Key: "x", Value: 2}, {Key: "y", Value: 1}}}),
			with(bson.E{Key: "n", Value: bson.D{{Key: "x", Value: 1}, {Key: "y", Value: 2}}}), false,
			with(bson.E{Key: "n", Value: bson.D{{Key: "x", Value: 2}, {Key: "y", Value: 2}}}), nil},
		{"nested field vs removed parent, local wins", with(bson.E{Key: "n", Value: bson.D{{Key: "x", Value: 2}, {Key: "y", Value: 1}}}),
			with(bson.E{Key: "n", Value: "$remove"}), true,
			with(bson.E{Key: "n", Value: bson.D{{Key: "x", Value: 2}, {Key: "y", Value: 1}}}), []string{"n", "n.x"}},
		{"nested field vs removed parent, remote wins", with(bson.E{Key: "n", Value: bson.D{{Key: "x", Value: 2}, {Key: "y", Value: 1}}}),
			with(bson.E{Key: "n", Value: "$remove"}), false,
			with(bson.E{Key: "n", Value: "$remove"}), []string{"n", "n.x"}},
		{"arrays are whole values", with(bson.E{Key: "arr", Value: bson.A{1, 2}}), with(bson.E{Key: "arr", Value: bson.A{0, 1}}), false,
			with(bson.E{Key: "arr", Value: bson.A{0, 1}}), []string{"arr"}},
		{"removal vs untouched", with(bson.E{Key: "a", Value: "$remove"}), with(bson.E{Key: "b", Value: "R"}), false,
			with(bson.E{Key: "a", Value: "$remove"}, bson.E{Key: "b", Value: "R"}), nil},
		{"new fields appended, remote's first", with(bson.E{Key: "l", Value: int32(1)}), with(bson.E{Key: "r", Value: int64(1)}), true,
			append(slices.Clone(base), bson.E{Key: "r", Value: int64(1)}, bson.E{Key: "l", Value: int32(1)}), nil},
		{"type change is a change", with(bson.E{Key: "a", Value: int32(1)}), with(bson.E{Key: "a", Value: int64(1)}), true,
			with(bson.E{Key: "a", Value: int32(1)}), []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := merge3(mustRaw(t, base), mustRaw(t, tc.local), mustRaw(t, tc.remote), tc.localWins)
			if err != nil {
				t.Fatal(err)
			}
			want := mustRaw(t, tc.want)
			if string(got.Doc) != string(want) {
				t.Fatalf("merged = %s\nwant     %s", got.Doc, want)
			}
			if !slices.Equal(got.Clashes, tc.clashes) {
				t.Fatalf("clashes = %v, want %v", got.Clashes, tc.clashes)
			}
		})
	}
}

func TestMerge3InsertInsertFromEmptyBase(t *testing.T) {
	local := mustRaw(t, bson.D{{Key: "_id", Value: 7}, {Key: "l", Value: bson.NewDecimal128(1, 2)}, {Key: "same", Value: 1}})
	remote := mustRaw(t, bson.D{{Key: "_id", Value: 7}, {Key: "same", Value: 1}, {Key: "r", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}})
	got, err := merge3(emptyDoc(), local, remote, false)
	if err != nil {
		t.Fatal(err)
	}
	want := mustRaw(t, bson.D{{Key: "_id", Value: 7}, {Key: "same", Value: 1}, {Key: "r", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}, {Key: "l", Value: bson.NewDecimal128(1, 2)}})
	if string(got.Doc) != string(want) || len(got.Clashes) != 0 {
		t.Fatalf("merged = %s clashes %v\nwant     %s", got.Doc, got.Clashes, want)
	}
}
