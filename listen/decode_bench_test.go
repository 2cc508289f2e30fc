package listen

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

type decodeBenchDoc struct {
	ID        int    `bson:"_id"`
	Title     string `bson:"title"`
	N         int    `bson:"n"`
	Published bool   `bson:"published"`
}

func decodeBenchRaw(b *testing.B) bson.Raw {
	raw, err := bson.Marshal(bson.D{
		{Key: "_id", Value: bson.D{{Key: "_data", Value: "82654321000000012B022C0100296E5A1004"}}},
		{Key: "operationType", Value: "insert"},
		{Key: "clusterTime", Value: bson.Timestamp{T: 7, I: 3}},
		{Key: "wallTime", Value: bson.NewDateTimeFromTime(time.Now())},
		{Key: "fullDocument", Value: bson.D{{Key: "_id", Value: 1}, {Key: "title", Value: "a title"}, {Key: "n", Value: 1}, {Key: "published", Value: true}}},
		{Key: "ns", Value: bson.D{{Key: "db", Value: "d"}, {Key: "coll", Value: "c"}}},
		{Key: "documentKey", Value: bson.D{{Key: "_id", Value: 1}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkDecodeEvent is the listener-side cost of one event: solo is a
// stream with one listener (direct decode), shared the fan-out path
// (template decoded once, then a deep copy per listener; here one listener).
func BenchmarkDecodeEvent(b *testing.B) {
	raw := decodeBenchRaw(b)
	for _, solo := range []bool{true, false} {
		name := "shared"
		if solo {
			name = "solo"
		}
		b.Run(name, func(b *testing.B) {
			cp := newDocCopier[decodeBenchDoc]()
			b.ReportAllocs()
			for b.Loop() {
				pe := parseEvent(raw)
				pe.solo = solo
				ev, err := decodeEvent(pe, cp)
				if err != nil || ev.FullDocument == nil || ev.FullDocument.N != 1 {
					b.Fatalf("decode: %v %+v", err, ev)
				}
			}
		})
	}
}

// BenchmarkWire compares the one-pass metadata parse with the reflective
// Unmarshal it replaced.
func BenchmarkWire(b *testing.B) {
	raw := decodeBenchRaw(b)
	b.Run("parseWire", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseWire(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var w wireEvent
			if err := bson.Unmarshal(raw, &w); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkParseEvent(b *testing.B) {
	raw := decodeBenchRaw(b)
	b.ReportAllocs()
	for b.Loop() {
		if pe := parseEvent(raw); pe.op != Insert {
			b.Fatal(pe.op)
		}
	}
}
