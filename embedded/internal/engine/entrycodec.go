package engine

import (
	"fmt"
	"time"

	"github.com/mongotide/mongotide/internal/bsonx"
	"github.com/mongotide/mongotide/internal/mql"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Oplog entries are persisted (journal and snapshot) as BSON documents with
// short field names, built with bsoncore to keep the per-commit cost low.

func appendEntry(dst []byte, key string, en *Entry) ([]byte, error) {
	idx, dst := bsoncore.AppendDocumentElementStart(dst, key)
	dst = bsoncore.AppendTimestampElement(dst, "ts", en.Pos.TS.T, en.Pos.TS.I)
	dst = bsoncore.AppendInt64Element(dst, "i", int64(en.Pos.Index))
	dst = bsoncore.AppendDateTimeElement(dst, "w", en.Wall.UnixMilli())
	dst = bsoncore.AppendInt32Element(dst, "op", int32(en.Op))
	dst = bsoncore.AppendStringElement(dst, "db", en.NS.DB)
	dst = bsoncore.AppendStringElement(dst, "c", en.NS.Coll)
	if en.DocumentKey != nil {
		dst = bsoncore.AppendDocumentElement(dst, "dk", en.DocumentKey)
	}
	if en.Document != nil {
		dst = bsoncore.AppendDocumentElement(dst, "d", en.Document)
	}
	if en.PreImage != nil {
		dst = bsoncore.AppendDocumentElement(dst, "pre", en.PreImage)
	}
	if en.ImagesEnabled {
		dst = bsoncore.AppendBooleanElement(dst, "img", true)
	}
	if ud := en.UpdateDescription; ud != nil {
		var err error
		if dst, err = appendUpdateDescription(dst, ud); err != nil {
			return nil, err
		}
	}
	if en.Op == OpRename {
		dst = bsoncore.AppendStringElement(dst, "tdb", en.To.DB)
		dst = bsoncore.AppendStringElement(dst, "tc", en.To.Coll)
	}
	if en.LSID != nil {
		dst = bsoncore.AppendDocumentElement(dst, "lsid", en.LSID)
	}
	if en.TxnNumber != nil {
		dst = bsoncore.AppendInt64Element(dst, "txn", *en.TxnNumber)
	}
	if en.Object != nil {
		dst = bsoncore.AppendDocumentElement(dst, "o", en.Object)
	}
	return bsoncore.AppendDocumentEnd(dst, idx)
}

func appendUpdateDescription(dst []byte, ud *mql.UpdateDescription) ([]byte, error) {
	idx, dst := bsoncore.AppendDocumentElementStart(dst, "ud")
	aidx, dst := bsoncore.AppendArrayElementStart(dst, "u")
	for i, f := range ud.UpdatedFields {
		fidx, d := bsoncore.AppendDocumentElementStart(dst, itoa(i))
		d = bsoncore.AppendStringElement(d, "p", f.Path)
		d, err := bsonx.AppendValueElement(d, "v", f.Value)
		if err != nil {
			return nil, fmt.Errorf("engine: encode updated field %q: %w", f.Path, err)
		}
		dst, _ = bsoncore.AppendDocumentEnd(d, fidx)
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, aidx)
	aidx, dst = bsoncore.AppendArrayElementStart(dst, "r")
	for i, p := range ud.RemovedFields {
		dst = bsoncore.AppendStringElement(dst, itoa(i), p)
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, aidx)
	aidx, dst = bsoncore.AppendArrayElementStart(dst, "t")
	for i, ta := range ud.TruncatedArrays {
		fidx, d := bsoncore.AppendDocumentElementStart(dst, itoa(i))
		d = bsoncore.AppendStringElement(d, "f", ta.Field)
		d = bsoncore.AppendInt32Element(d, "n", ta.NewSize)
		dst, _ = bsoncore.AppendDocumentEnd(d, fidx)
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, aidx)
	if ud.Replaced {
		// A pipeline update logged as a replacement: its event is a
		// "replace" after a restart too.
		dst = bsoncore.AppendBooleanElement(dst, "x", true)
	}
	return bsoncore.AppendDocumentEnd(dst, idx)
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return fmt.Sprint(i)
}

// cloneRaw copies b: decoded entries must not alias a reused read buffer.
func cloneRaw(b []byte) bson.Raw {
	out := make([]byte, len(b))
	copy(out, b)
	return out
}

func decodeEntry(doc bsoncore.Document) (Entry, error) {
	var en Entry
	elems, err := doc.Elements()
	if err != nil {
		return en, err
	}
	for _, el := range elems {
		v := el.Value()
		var ok bool
		switch el.Key() {
		case "ts":
			en.Pos.TS.T, en.Pos.TS.I, ok = v.TimestampOK()
		case "i":
			var n int64
			n, ok = v.Int64OK()
			en.Pos.Index = uint32(n)
		case "w":
			var ms int64
			ms, ok = v.DateTimeOK()
			en.Wall = time.UnixMilli(ms)
		case "op":
			var n int32
			n, ok = v.Int32OK()
			en.Op = OpType(n)
		case "db":
			en.NS.DB, ok = v.StringValueOK()
		case "c":
			en.NS.Coll, ok = v.StringValueOK()
		case "tdb":
			en.To.DB, ok = v.StringValueOK()
		case "tc":
			en.To.Coll, ok = v.StringValueOK()
		case "dk", "d", "pre", "lsid", "o":
			var d bsoncore.Document
			d, ok = v.DocumentOK()
			raw := cloneRaw(d)
			switch el.Key() {
			case "dk":
				en.DocumentKey = raw
			case "d":
				en.Document = raw
			case "pre":
				en.PreImage = raw
			case "lsid":
				en.LSID = raw
			case "o":
				en.Object = raw
			}
		case "img":
			en.ImagesEnabled, ok = v.BooleanOK()
		case "txn":
			var n int64
			n, ok = v.Int64OK()
			en.TxnNumber = &n
		case "ud":
			var d bsoncore.Document
			if d, ok = v.DocumentOK(); ok {
				en.UpdateDescription, err = decodeUpdateDescription(d)
				if err != nil {
					return en, err
				}
			}
		default:
			ok = true
		}
		if !ok {
			return en, fmt.Errorf("engine: bad oplog entry field %q", el.Key())
		}
	}
	return en, nil
}

func decodeUpdateDescription(d bsoncore.Document) (*mql.UpdateDescription, error) {
	var raw struct {
		U []struct {
			P string        `bson:"p"`
			V bson.RawValue `bson:"v"`
		} `bson:"u"`
		R []string `bson:"r"`
		T []struct {
			F string `bson:"f"`
			N int32  `bson:"n"`
		} `bson:"t"`
		X bool `bson:"x"`
	}
	if err := bson.Unmarshal(d, &raw); err != nil {
		return nil, err
	}
	ud := &mql.UpdateDescription{Replaced: raw.X}
	for _, u := range raw.U {
		v, _, err := bsonx.DecodeValue(bsoncore.Type(u.V.Type), u.V.Value)
		if err != nil {
			return nil, err
		}
		ud.UpdatedFields = append(ud.UpdatedFields, mql.Field{Path: u.P, Value: v})
	}
	ud.RemovedFields = raw.R
	for _, t := range raw.T {
		ud.TruncatedArrays = append(ud.TruncatedArrays, mql.TruncatedArray{Field: t.F, NewSize: t.N})
	}
	return ud, nil
}
