package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Names of sync's side collections. User documents never carry sync
// metadata; see docs/sync.md.
const (
	localDocsColl        = metaPrefix + "_docs"        // local: base version+hash per document
	localCheckpointsColl = metaPrefix + "_checkpoints" // local: resume tokens of both directions
	localStateColl       = metaPrefix + "_state"       // local: replica id, bootstrap progress
	remoteVersionsColl   = metaPrefix + "_versions"    // remote: current version per document
)

// absentHash is the content hash of a document that does not exist.
const absentHash = "absent"

// contentHash identifies a document's exact bytes: two documents with the
// same hash are the same BSON, field order and types included.
func contentHash(doc bson.Raw) string {
	if doc == nil {
		return absentHash
	}
	sum := sha256.Sum256(doc)
	return hex.EncodeToString(sum[:])
}

// docMeta is one entry of the local docs collection or of the remote
// versions collection: the version and content hash of a document. Locally
// it is the base (what both sides last agreed on); remotely the version of
// the remote document as last written through mongotide.
type docMeta struct {
	Version `bson:",inline"`
	Hash    string `bson:"x"`
	Deleted bool   `bson:"d"`
}

// metaKey is the _id of a meta entry; field order is fixed so equality
// matches work.
func metaKey(coll string, id bson.RawValue) bson.D {
	return bson.D{{Key: "c", Value: coll}, {Key: "id", Value: id}}
}

// idFilter selects a document by its _id.
func idFilter(id bson.RawValue) bson.D { return bson.D{{Key: "_id", Value: id}} }

// loadMeta returns the meta entry of (coll, id) in mc, or ok=false.
func loadMeta(ctx context.Context, mc *mongo.Collection, coll string, id bson.RawValue) (docMeta, bool, error) {
	var m docMeta
	err := mc.FindOne(ctx, idFilter(bsonValue(metaKey(coll, id)))).Decode(&m)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return docMeta{Hash: absentHash}, false, nil
	}
	if err != nil {
		return docMeta{}, false, err
	}
	return m, true, nil
}

func saveMeta(ctx context.Context, mc *mongo.Collection, coll string, id bson.RawValue, m docMeta) error {
	_, err := mc.UpdateOne(ctx, idFilter(bsonValue(metaKey(coll, id))),
		bson.D{{Key: "$set", Value: bson.D{
			{Key: "h", Value: m.HLC}, {Key: "r", Value: m.Replica},
			{Key: "x", Value: m.Hash}, {Key: "d", Value: m.Deleted},
		}}}, options.UpdateOne().SetUpsert(true))
	return err
}

// bsonValue marshals a document into a RawValue so that it can be used as
// an _id in filters.
func bsonValue(d bson.D) bson.RawValue {
	t, data, err := bson.MarshalValue(d)
	if err != nil {
		// bson.D of strings and RawValues always marshals.
		return bson.RawValue{}
	}
	return bson.RawValue{Type: t, Value: data}
}

// readDoc returns the document with _id id in coll, or nil if absent.
func readDoc(ctx context.Context, coll *mongo.Collection, id bson.RawValue) (bson.Raw, error) {
	raw, err := coll.FindOne(ctx, idFilter(id)).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// The driver reuses nothing after FindOne, but copy to own the bytes.
	return append(bson.Raw(nil), raw...), nil
}

// writeDoc makes coll hold doc under id (replace-upsert), or no document
// when doc is nil.
func writeDoc(ctx context.Context, coll *mongo.Collection, id bson.RawValue, doc bson.Raw) error {
	if doc == nil {
		_, err := coll.DeleteOne(ctx, idFilter(id))
		return err
	}
	_, err := coll.ReplaceOne(ctx, idFilter(id), doc, options.Replace().SetUpsert(true))
	return err
}
