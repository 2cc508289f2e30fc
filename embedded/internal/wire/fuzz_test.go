package wire

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// FuzzDecode checks that no input makes the decoder panic, that every
// failure is classified, and that whatever decodes is internally consistent.
// The committed corpus in testdata/fuzz/FuzzDecode holds driver-like
// messages (handshake OP_QUERY, OP_MSG with sequences and checksums).
func FuzzDecode(f *testing.F) {
	body, _ := bson.Marshal(bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
	f.Add(AppendMsg(nil, 1, 0, FlagChecksumPresent, body))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupportedOpCode) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		switch m := m.(type) {
		case *Msg:
			checkDoc(t, m.Body)
			for _, s := range m.Sequences {
				for _, d := range s.Documents {
					checkDoc(t, d)
				}
			}
		case *Query:
			checkDoc(t, m.Query)
		default:
			t.Fatalf("unexpected message type %T", m)
		}
	})
}

// checkDoc decodes a validated document fully: it must not fail.
func checkDoc(t *testing.T, b []byte) {
	var d bson.D
	if err := bson.Unmarshal(b, &d); err != nil {
		t.Fatalf("validated document does not unmarshal: %v", err)
	}
	if _, err := bson.Raw(b).Elements(); err != nil {
		t.Fatalf("validated document has bad elements: %v", err)
	}
}
