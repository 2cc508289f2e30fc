package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// errBadCursor is answered 400: the cursor was not made by a gateway with
// this key, was altered, or belongs to another owner or collection list.
var errBadCursor = errors.New("invalid cursor")

// position is a point in one collection's change stream: after the event
// whose resume token is tok (at cluster time t), or, when tok is nil, after
// every event committed at or before t.
type position struct {
	T   bson.Timestamp `bson:"t"`
	Tok bson.Raw       `bson:"k,omitempty"`
}

func (p position) String() string { return fmt.Sprintf("%d.%d/%x", p.T.T, p.T.I, []byte(p.Tok)) }

type cursorColl struct {
	Name string   `bson:"n"`
	Pos  position `bson:"p"`
}

// cursor is what a client holds between pulls: a position per collection,
// bound to the owner and to the ordered collection list it was made for.
// It names no instance, so any gateway with the same key continues it.
type cursor struct {
	V     int          `bson:"v"`
	Owner string       `bson:"o"`
	Colls []cursorColl `bson:"c"`
}

const cursorVersion = 1

// cursorDomain separates cursor MACs from anything else a deployment might
// sign with the same key.
const cursorDomain = "mongotide/gateway/cursor/v1\x00"

func cursorMAC(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(cursorDomain))
	m.Write(payload)
	return m.Sum(nil)
}

func encodeCursor(key []byte, c cursor) (string, error) {
	c.V = cursorVersion
	payload, err := bson.Marshal(c)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(cursorMAC(key, payload)), nil
}

// decodeCursor verifies s before decoding anything in it, so that no
// unsigned byte reaches the BSON decoder.
func decodeCursor(key []byte, s string) (cursor, error) {
	p64, m64, ok := strings.Cut(s, ".")
	if !ok {
		return cursor{}, errBadCursor
	}
	// Strict: one cursor has one spelling; lenient decoding would accept
	// variants differing in the unused bits of the last character.
	enc := base64.RawURLEncoding.Strict()
	payload, err1 := enc.DecodeString(p64)
	mac, err2 := enc.DecodeString(m64)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, cursorMAC(key, payload)) {
		return cursor{}, errBadCursor
	}
	var c cursor
	if err := bson.Unmarshal(payload, &c); err != nil || c.V != cursorVersion {
		return cursor{}, errBadCursor
	}
	for _, cc := range c.Colls {
		if cc.Pos.Tok != nil && cc.Pos.Tok.Validate() != nil {
			return cursor{}, errBadCursor
		}
	}
	return c, nil
}

// check verifies that c was made for owner and exactly names (in the
// same order): a cursor is not transferable between owners or collection
// lists.
func (c cursor) check(owner string, names []string) error {
	if c.Owner != owner || len(c.Colls) != len(names) {
		return errBadCursor
	}
	for i, n := range names {
		if c.Colls[i].Name != n {
			return errBadCursor
		}
	}
	return nil
}
