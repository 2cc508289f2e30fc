package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

func mustDoc(t testing.TB, v any) []byte {
	t.Helper()
	b, err := bson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMsgRoundTripWithSequencesAndChecksum(t *testing.T) {
	body := mustDoc(t, bson.D{{Key: "insert", Value: "c"}, {Key: "$db", Value: "test"}})
	docs := [][]byte{mustDoc(t, bson.D{{Key: "_id", Value: 1}}), mustDoc(t, bson.D{{Key: "_id", Value: 2}})}
	for _, flags := range []uint32{0, FlagChecksumPresent, FlagChecksumPresent | FlagExhaustAllowed} {
		b := AppendMsgWithSequences(nil, 7, flags, body, []Sequence{{Identifier: "documents", Documents: docs}})
		m, err := Decode(b)
		if err != nil {
			t.Fatalf("flags %x: %v", flags, err)
		}
		msg, ok := m.(*Msg)
		if !ok {
			t.Fatalf("got %T, want *Msg", m)
		}
		if msg.Header.RequestID != 7 || !bytes.Equal(msg.Body, body) || msg.Flags != flags {
			t.Fatalf("flags %x: decoded %+v", flags, msg)
		}
		if len(msg.Sequences) != 1 || msg.Sequences[0].Identifier != "documents" || len(msg.Sequences[0].Documents) != 2 ||
			!bytes.Equal(msg.Sequences[0].Documents[1], docs[1]) {
			t.Fatalf("flags %x: sequences %+v", flags, msg.Sequences)
		}
		if msg.ExhaustAllowed() != (flags&FlagExhaustAllowed != 0) {
			t.Fatalf("ExhaustAllowed mismatch for flags %x", flags)
		}
	}
}

func TestReplyEncodingDecodes(t *testing.T) {
	doc := mustDoc(t, bson.D{{Key: "ok", Value: 1.0}})
	b := AppendMsg(nil, 3, 9, FlagMoreToCome|FlagChecksumPresent, doc)
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	msg := m.(*Msg)
	if msg.Header.ResponseTo != 9 || !msg.MoreToCome() || !bytes.Equal(msg.Body, doc) {
		t.Fatalf("decoded %+v", msg)
	}
	r := AppendReply(nil, 4, 5, 0, doc)
	h, err := ParseHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ParseReply(h, r)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Header.OpCode != OpReply || rep.Header.ResponseTo != 5 || len(rep.Documents) != 1 || !bytes.Equal(rep.Documents[0], doc) {
		t.Fatalf("reply %+v", rep)
	}
}

func TestQueryHandshake(t *testing.T) {
	q := mustDoc(t, bson.D{{Key: "isMaster", Value: 1}, {Key: "helloOk", Value: true}})
	b := AppendQuery(nil, 11, "admin.$cmd", q)
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	qq, ok := m.(*Query)
	if !ok || qq.FullCollectionName != "admin.$cmd" || !bytes.Equal(qq.Query, q) || qq.NumberToReturn != -1 {
		t.Fatalf("decoded %#v", m)
	}
}

func TestDecodeErrors(t *testing.T) {
	body := mustDoc(t, bson.D{{Key: "ping", Value: 1}})
	good := AppendMsg(nil, 1, 0, FlagChecksumPresent, body)

	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-6] ^= 0xFF // inside the body, so the checksum no longer matches
	badKind := AppendMsg(nil, 1, 0, 0, body)
	badKind[20] = 5
	unknownRequired := AppendMsg(nil, 1, 0, 0, body)
	binary.LittleEndian.PutUint32(unknownRequired[16:], 1<<4)
	twoBodies := AppendMsg(nil, 1, 0, 0, body)
	twoBodies = append(twoBodies, 0)
	twoBodies = append(twoBodies, body...)
	binary.LittleEndian.PutUint32(twoBodies, uint32(len(twoBodies)))
	noBody := AppendMsgWithSequences(nil, 1, 0, nil, nil)
	noBody = noBody[:20]
	binary.LittleEndian.PutUint32(noBody, 20)
	badBSON := AppendMsg(nil, 1, 0, 0, body)
	badBSON[len(badBSON)-1] = 7 // document no longer NUL-terminated
	nestedBad := AppendMsg(nil, 1, 0, 0, mustDoc(t, bson.D{{Key: "a", Value: bson.D{{Key: "b", Value: "xyz"}}}}))
	binary.LittleEndian.PutUint32(nestedBad[21+4+3+4+3:], 100) // inner string length lies
	oldBinary := AppendMsg(nil, 1, 0, 0, mustDoc(t, bson.D{{Key: "b", Value: bson.Binary{Subtype: 2, Data: []byte{4, 0, 0, 0, 1, 2, 3, 4}}}}))
	binary.LittleEndian.PutUint32(oldBinary[21+4+3+5:], 900) // the inner length of an old binary lies
	compressed := AppendMsg(nil, 1, 0, 0, body)
	binary.LittleEndian.PutUint32(compressed[12:], uint32(OpCompressed))
	insert := AppendMsg(nil, 1, 0, 0, body)
	binary.LittleEndian.PutUint32(insert[12:], 2002)
	huge := bytes.Clone(good[:16])
	binary.LittleEndian.PutUint32(huge, MaxMessageSizeBytes+1)

	cases := []struct {
		name string
		b    []byte
		want error
		msg  string
	}{
		{"short", []byte{1, 2, 3}, ErrMalformed, "shorter than the 16-byte header"},
		{"checksum", corrupt, ErrMalformed, "checksum mismatch"},
		{"section kind", badKind, ErrMalformed, "unknown section kind 5"},
		{"required bits", unknownRequired, ErrMalformed, "unknown required flag bits"},
		{"two bodies", twoBodies, ErrMalformed, "more than one kind-0"},
		{"no body", noBody, ErrMalformed, "no kind-0 body"},
		{"bad bson", badBSON, ErrMalformed, "invalid BSON"},
		{"nested bad bson", nestedBad, ErrMalformed, "invalid BSON"},
		{"old binary", oldBinary, ErrMalformed, "inner length 900"},
		{"compressed", compressed, ErrUnsupportedOpCode, "OP_COMPRESSED"},
		{"op insert", insert, ErrUnsupportedOpCode, "opcode(2002)"},
		{"too large", huge, ErrMalformed, "exceeds maxMessageSizeBytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.b)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("Decode error = %v, want %v containing %q", err, c.want, c.msg)
			}
		})
	}
}

func TestReadMessage(t *testing.T) {
	body := mustDoc(t, bson.D{{Key: "ping", Value: 1}})
	a := AppendMsg(nil, 1, 0, 0, body)
	b := AppendMsg(nil, 2, 0, 0, body)
	r := bytes.NewReader(append(bytes.Clone(a), b...))
	m1, err := ReadMessage(r, nil)
	if err != nil || !bytes.Equal(m1, a) {
		t.Fatalf("first: %v", err)
	}
	m2, err := ReadMessage(r, nil)
	if err != nil || !bytes.Equal(m2, b) {
		t.Fatalf("second: %v", err)
	}
	if _, err := ReadMessage(r, nil); err == nil || err.Error() != "EOF" {
		t.Fatalf("at end: %v, want EOF", err)
	}
	if _, err := ReadMessage(bytes.NewReader(a[:len(a)-2]), nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated: %v, want ErrMalformed", err)
	}
	doc := bytes.Repeat([]byte{0}, 20)
	binary.LittleEndian.PutUint32(doc, MaxMessageSizeBytes+100)
	if _, err := ReadMessage(bytes.NewReader(doc), nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("oversized: %v, want ErrMalformed", err)
	}
}

// A document over maxBsonObjectSize is well-formed wire input: the server
// answers it with BSONObjectTooLarge instead of dropping the connection.
func TestDocumentOverMaxBSONSizeDecodes(t *testing.T) {
	big := bsoncore.NewDocumentBuilder().AppendBinary("x", 0, make([]byte, MaxBSONObjectSize)).Build()
	msg := AppendMsg(nil, 1, 0, 0, big)
	m, err := Decode(msg)
	if err != nil {
		t.Fatalf("Decode = %v, want the document", err)
	}
	if got := len(m.(*Msg).Body); got != len(big) {
		t.Fatalf("body is %d bytes, want %d", got, len(big))
	}
}
