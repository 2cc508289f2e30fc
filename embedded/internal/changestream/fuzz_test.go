package changestream

import (
	"testing"

	"github.com/mongotide/mongotide/embedded/internal/engine"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// FuzzResumeToken feeds arbitrary _data strings to the token decoder: it
// must answer with a token that re-encodes to the same string, or with an
// error carrying a MongoDB code, never panic.
func FuzzResumeToken(f *testing.F) {
	for _, tk := range []token{
		{kind: kindHighWater},
		{pos: engine.Position{TS: bson.Timestamp{T: 1_700_000_000, I: 3}, Index: 2}, kind: kindEvent, frag: 1},
		{pos: engine.Position{TS: bson.Timestamp{T: 5, I: 1}}, kind: kindInvalidate},
	} {
		f.Add(tk.hex())
	}
	f.Add("")
	f.Add("82")
	f.Add("zz")
	f.Add("8264A1B2C3000000010000000010")
	f.Fuzz(func(t *testing.T, data string) {
		tk, err := decodeTokenData(data)
		if err != nil {
			if codeOf(err) == 0 {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		again, err := decodeTokenData(tk.hex())
		if err != nil || again != tk {
			t.Fatalf("%q decoded to %+v, which does not round-trip: %+v, %v", data, tk, again, err)
		}
	})
}
