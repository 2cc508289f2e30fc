package engine

import (
	"bytes"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// FuzzDecodeDoc checks that the reflection-free decoder never panics on
// arbitrary bytes and agrees with the driver on every document the driver
// accepts (compared through encodeDoc and bson.Marshal).
func FuzzDecodeDoc(f *testing.F) {
	for _, d := range []bson.D{
		{},
		{{Key: "_id", Value: int32(1)}, {Key: "a", Value: bson.A{"x", bson.D{{Key: "b", Value: 1.5}}}}},
		{{Key: "r", Value: bson.Regex{Pattern: "a", Options: "i"}}, {Key: "t", Value: bson.Timestamp{T: 1, I: 2}}, {Key: "n", Value: nil}},
	} {
		raw, err := bson.Marshal(d)
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(raw))
	}
	f.Add([]byte{5, 0, 0, 0})
	f.Add([]byte{12, 0, 0, 0, 3, 'a', 0, 200, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		mine, err := decodeDoc(data)
		if bson.Raw(data).Validate() != nil {
			return
		}
		var viaDriver bson.D
		if derr := bson.Unmarshal(data, &viaDriver); derr != nil {
			return
		}
		if err != nil {
			t.Fatalf("driver decodes %x, decodeDoc fails: %v", data, err)
		}
		// compare through the encoders: array keys are renumbered and NaN
		// defeats reflect.DeepEqual, bytes do not lie
		again, err := encodeDoc(mine)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		want, err := bson.Marshal(viaDriver)
		if err != nil {
			return
		}
		if !bytes.Equal(again, want) {
			t.Fatalf("decodeDoc+encodeDoc differ from the driver:\n%x\n%x", []byte(want), []byte(again))
		}
	})
}
