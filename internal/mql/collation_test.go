package mql

import (
	"flag"
	"math/rand/v2"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/text/collate"
	"golang.org/x/text/language"
)

var collationRounds = flag.Int("collation.rounds", 2000, "random string pairs per strength in TestCollationMatchesXText")

func mustCollation(t *testing.T, spec bson.D) *Collation {
	t.Helper()
	c, err := ParseCollation(spec)
	if err != nil {
		t.Fatalf("ParseCollation(%v): %v", spec, err)
	}
	return c
}

// randomString draws from letters of both cases, accented letters, digits,
// spaces and punctuation: the characters collation options are about.
func randomString(r *rand.Rand) string {
	alphabet := []rune("aAbBeEéÉèzZ019 -_.,!ßøÅ")
	n := r.IntN(6)
	out := make([]rune, n)
	for i := range out {
		out[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(out)
}

// TestCollationMatchesXText is a property test: for random strings, the
// order under {locale, strength} equals x/text/collate's order for the same
// locale and level, the order is antisymmetric, and Key agrees with equality.
func TestCollationMatchesXText(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	// x/text's Loose (no accents, case or width) is ICU's primary strength
	// for these alphabets, IgnoreCase its secondary.
	levels := map[int32]collate.Option{1: collate.Loose, 2: collate.IgnoreCase}
	for _, strength := range []int32{1, 2, 3} {
		for _, locale := range []string{"en", "fr", "de"} {
			c := mustCollation(t, bson.D{{Key: "locale", Value: locale}, {Key: "strength", Value: strength}})
			var opts []collate.Option
			if o, ok := levels[strength]; ok {
				opts = append(opts, o)
			}
			ref := collate.New(language.MustParse(locale), opts...)
			for range *collationRounds {
				a, b := randomString(r), randomString(r)
				got, want := c.CompareStrings(a, b), ref.CompareString(a, b)
				if got != want {
					t.Fatalf("seed %d: %s strength %d: compare(%q, %q) = %d, x/text says %d", seed, locale, strength, a, b, got, want)
				}
				if back := c.CompareStrings(b, a); back != -got {
					t.Fatalf("seed %d: not antisymmetric: %q %q: %d and %d", seed, a, b, got, back)
				}
				if (c.Key(a) == c.Key(b)) != (got == 0) {
					t.Fatalf("seed %d: %s strength %d: Key equality of %q and %q disagrees with compare %d", seed, locale, strength, a, b, got)
				}
			}
		}
	}
}

func TestCollationOptions(t *testing.T) {
	cases := []struct {
		spec bson.D
		a, b string
		want int
	}{
		{bson.D{{Key: "locale", Value: "en_US"}}, "a", "A", -1},
		{bson.D{{Key: "locale", Value: "en_US"}, {Key: "caseFirst", Value: "upper"}}, "a", "A", 1},
		{bson.D{{Key: "locale", Value: "en_US"}, {Key: "strength", Value: int32(2)}}, "a", "A", 0},
		{bson.D{{Key: "locale", Value: "en_US"}, {Key: "strength", Value: int32(2)}}, "e", "é", -1},
		{bson.D{{Key: "locale", Value: "en_US"}, {Key: "strength", Value: int32(1)}}, "e", "É", 0},
		{bson.D{{Key: "locale", Value: "en_US"}, {Key: "strength", Value: int32(1)}, {Key: "caseLevel", Value: true}}, "e", "é", 0},
		{bson.D{{Key: "locale", Value: "en_US"}, {Key: "strength", Value: int32(1)}, {Key: "caseLevel", Value: true}}, "e", "E", -1},
		{bson.D{{Key: "locale", Value: "en_US"}, {Key: "numericOrdering", Value: true}}, "a10", "a9", 1},
		{bson.D{{Key: "locale", Value: "en_US"}}, "a10", "a9", -1},
		{bson.D{{Key: "locale", Value: "en_US"}, {Key: "alternate", Value: "shifted"}}, "a-b", "ab", 0},
		{bson.D{{Key: "locale", Value: "en_US"}, {Key: "alternate", Value: "shifted"}}, "ab", "ac", -1},
		{bson.D{{Key: "locale", Value: "en_US"}, {Key: "alternate", Value: "shifted"}, {Key: "maxVariable", Value: "space"}}, "a b", "ab", 0},
		{bson.D{{Key: "locale", Value: "en_US"}, {Key: "alternate", Value: "shifted"}, {Key: "maxVariable", Value: "space"}}, "a-b", "ab", -1},
		{bson.D{{Key: "locale", Value: "en_US"}, {Key: "strength", Value: int32(5)}}, "a", "a", 0},
		{bson.D{{Key: "locale", Value: "de@collation=phonebook"}}, "ä", "af", -1},
	}
	for _, tc := range cases {
		c := mustCollation(t, tc.spec)
		if got := c.CompareStrings(tc.a, tc.b); got != tc.want {
			t.Errorf("%v: compare(%q, %q) = %d, want %d", tc.spec, tc.a, tc.b, got, tc.want)
		}
		if (c.Key(tc.a) == c.Key(tc.b)) != (tc.want == 0) {
			t.Errorf("%v: Key equality of %q and %q disagrees with %d", tc.spec, tc.a, tc.b, tc.want)
		}
	}
}

func TestParseCollationErrors(t *testing.T) {
	cases := []struct {
		spec any
		code int32
	}{
		{"en", CodeTypeMismatch},
		{bson.D{{Key: "strength", Value: int32(2)}}, 40414},
		{bson.D{{Key: "locale", Value: "en"}, {Key: "bogus", Value: true}}, 40415},
		{bson.D{{Key: "locale", Value: "en"}, {Key: "strength", Value: int32(6)}}, CodeFailedToParse},
		{bson.D{{Key: "locale", Value: "en"}, {Key: "strength", Value: "2"}}, CodeTypeMismatch},
		{bson.D{{Key: "locale", Value: "en"}, {Key: "caseFirst", Value: "sideways"}}, CodeFailedToParse},
		{bson.D{{Key: "locale", Value: "en"}, {Key: "alternate", Value: "x"}}, CodeFailedToParse},
		{bson.D{{Key: "locale", Value: "en"}, {Key: "caseLevel", Value: int32(1)}}, CodeTypeMismatch},
		{bson.D{{Key: "locale", Value: "xx_YY"}}, CodeBadValue},
		{bson.D{{Key: "locale", Value: "de@collation=nonsense=1"}}, CodeBadValue},
		{bson.D{{Key: "locale", Value: "simple"}, {Key: "strength", Value: int32(1)}}, CodeFailedToParse},
	}
	for _, tc := range cases {
		_, err := ParseCollation(tc.spec)
		e, ok := err.(*Error)
		if !ok || e.Code != tc.code {
			t.Errorf("ParseCollation(%v) = %v, want code %d", tc.spec, err, tc.code)
		}
	}
	if c, err := ParseCollation(bson.D{{Key: "locale", Value: "simple"}}); c != nil || err != nil {
		t.Errorf("simple: got %v, %v; want nil, nil", c, err)
	}
	c := mustCollation(t, bson.D{{Key: "locale", Value: "fr_CA"}, {Key: "strength", Value: int64(1)}})
	doc := c.Doc()
	if doc[0].Value != "fr_CA" || doc[3].Value != int32(1) || len(doc) != 10 {
		t.Errorf("Doc() = %v", doc)
	}
	// The reported document parses back to the same collation.
	if back := mustCollation(t, doc); !SameCollation(back, c) {
		t.Errorf("round trip of %v differs", doc)
	}
}

// TestCollationInQueries: the collation reaches filters (also inside
// arrays and documents), $in, sorts, $group keys and expressions, and not
// regular expressions.
func TestCollationInQueries(t *testing.T) {
	ci := mustCollation(t, bson.D{{Key: "locale", Value: "en"}, {Key: "strength", Value: int32(2)}})
	docs := []bson.D{
		{{Key: "s", Value: "b"}},
		{{Key: "s", Value: "A"}},
		{{Key: "s", Value: bson.A{"x", "B"}}},
		{{Key: "s", Value: bson.D{{Key: "k", Value: "A"}}}},
		{{Key: "s", Value: "a"}},
	}
	count := func(filter bson.D, coll *Collation) int {
		m, err := NewMatcherCollation(filter, coll)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range docs {
			if m.Match(d) {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		filter       bson.D
		simple, coll int
	}{
		{bson.D{{Key: "s", Value: "a"}}, 1, 2},
		{bson.D{{Key: "s", Value: "B"}}, 1, 2},
		{bson.D{{Key: "s", Value: bson.D{{Key: "k", Value: "a"}}}}, 0, 1},
		{bson.D{{Key: "s", Value: bson.D{{Key: "$in", Value: bson.A{"A", "z"}}}}}, 1, 2},
		{bson.D{{Key: "s", Value: bson.D{{Key: "$gte", Value: "a"}, {Key: "$lt", Value: "b"}}}}, 2, 2},
		{bson.D{{Key: "s", Value: bson.Regex{Pattern: "^a"}}}, 1, 1},
		{bson.D{{Key: "$expr", Value: bson.D{{Key: "$eq", Value: bson.A{"$s", "A"}}}}}, 1, 2},
	} {
		if got := count(tc.filter, nil); got != tc.simple {
			t.Errorf("%v simple: %d matches, want %d", tc.filter, got, tc.simple)
		}
		if got := count(tc.filter, ci); got != tc.coll {
			t.Errorf("%v collated: %d matches, want %d", tc.filter, got, tc.coll)
		}
	}

	en := mustCollation(t, bson.D{{Key: "locale", Value: "en"}})
	p, err := NewPipeline([]bson.D{{{Key: "$sort", Value: bson.D{{Key: "s", Value: 1}}}}}, PipelineOptions{Collation: en})
	if err != nil {
		t.Fatal(err)
	}
	in := []bson.D{{{Key: "s", Value: "b"}}, {{Key: "s", Value: "B"}}, {{Key: "s", Value: "a"}}, {{Key: "s", Value: "A"}}}
	out, err := p.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	var got []any
	for _, d := range out {
		got = append(got, d[0].Value)
	}
	if want := []any{"a", "A", "b", "B"}; !Equal(bson.A(got), bson.A(want)) {
		t.Errorf("collated $sort = %v, want %v", got, want)
	}

	g, err := NewPipeline([]bson.D{{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$s"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}}}, PipelineOptions{Collation: ci})
	if err != nil {
		t.Fatal(err)
	}
	out, err = g.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 {
		t.Errorf("collated $group made %d groups, want 2: %v", len(out), out)
	}
}
