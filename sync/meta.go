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
	// Doc is the base document itself (local entries, FieldMerge only):
	// a three-way merge needs to know what each side changed, which the
	// hash cannot tell. Nil when not kept or deleted.
	Doc bson.Raw `bson:"b,omitempty"`
	// Pending is a conflict an upload decided whose log entry may not be
	// written yet (local entries only): it is set before the remote
	// transaction commits and cleared when the base moves, so a crash in
	// between loses no conflict (see settlePending).
	Pending *pendingConflict `bson:"pc,omitempty"`
	// RemoteAhead is set (local entries only) when a download left a
	// remote change to the upload of a pending local edit; cleared when
	// the base moves. The upload then handles the document in full even
	// when the local edit was undone meanwhile (the local document equals
	// the base again), so the remote change still comes down.
	RemoteAhead bool `bson:"ra,omitempty"`
	// Acks (remote entries only) holds, per replica (under ackKey), the
	// HLC of the last upload of that replica written to the entry. It
	// outlives later writes of other replicas, so a replica can tell that
	// an upload whose commit it never heard of did land, after the remote
	// has moved on (see pendingConflict.landedUpload).
	Acks map[string]int64 `bson:"a,omitempty"`
	// noAck (not stored) keeps a remote write from recording its
	// replica's ack: the replica id names one edit only (a RemoteEdit of
	// an Ephemeral replica), so the ack would never be read and the
	// entry would grow by one key per edit.
	noAck bool
}

// ackKey is the key of replica in docMeta.Acks: hex, so any replica ID
// makes a valid field name for a dotted $set.
func ackKey(replica string) string { return "r" + hex.EncodeToString([]byte(replica)) }

// acked reports whether m, a remote entry, was once written with version v
// by v's replica, whatever was written to it since.
func (m docMeta) acked(v Version) bool {
	h, ok := m.Acks[ackKey(v.Replica)]
	return ok && h == v.HLC
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

// saveMeta writes m as the entry of (coll, id) in mc. A local base entry
// also gets m.Doc (or loses its stored document) and loses any pending
// conflict: the base moved, so that conflict is settled.
func saveMeta(ctx context.Context, mc *mongo.Collection, coll string, id bson.RawValue, m docMeta) error {
	_, err := mc.UpdateOne(ctx, idFilter(bsonValue(metaKey(coll, id))), metaUpdate(m, mc.Name() == localDocsColl),
		options.UpdateOne().SetUpsert(true))
	return err
}

// metaUpdate is the update that makes an entry hold m; base entries (local)
// also set or drop the base document and drop the pending conflict.
func metaUpdate(m docMeta, base bool) bson.D {
	set := bson.D{
		{Key: "h", Value: m.HLC}, {Key: "r", Value: m.Replica},
		{Key: "x", Value: m.Hash}, {Key: "d", Value: m.Deleted},
	}
	if !base {
		if m.Replica != "" && m.Replica != RemoteReplica && !m.noAck {
			set = append(set, bson.E{Key: "a." + ackKey(m.Replica), Value: m.HLC})
		}
		// Remote entries carry the remote's time of the write, which
		// compaction compares with how far every replica has synced.
		return bson.D{{Key: "$set", Value: set}, {Key: "$currentDate", Value: bson.D{{Key: "t", Value: bson.D{{Key: "$type", Value: "timestamp"}}}}}}
	}
	unset := bson.D{{Key: "pc", Value: ""}, {Key: "ra", Value: ""}}
	if m.Doc != nil {
		set = append(set, bson.E{Key: "b", Value: m.Doc})
	} else {
		unset = append(unset, bson.E{Key: "b", Value: ""})
	}
	return bson.D{{Key: "$set", Value: set}, {Key: "$unset", Value: unset}}
}

// markPending records c as the pending conflict of (coll, id)'s base entry
// (nil clears it).
func markPending(ctx context.Context, mc *mongo.Collection, coll string, id bson.RawValue, c *pendingConflict) error {
	up := bson.D{{Key: "$unset", Value: bson.D{{Key: "pc", Value: ""}}}}
	if c != nil {
		// A document never synced has no entry yet: the one created
		// here says "absent", like no entry.
		up = bson.D{{Key: "$set", Value: bson.D{{Key: "pc", Value: c}}},
			{Key: "$setOnInsert", Value: bson.D{{Key: "h", Value: int64(0)}, {Key: "r", Value: ""}, {Key: "x", Value: absentHash}, {Key: "d", Value: true}}}}
	}
	_, err := mc.UpdateOne(ctx, idFilter(bsonValue(metaKey(coll, id))), up, options.UpdateOne().SetUpsert(true))
	return err
}

// markRemoteAhead sets the RemoteAhead flag of (coll, id)'s base entry.
func markRemoteAhead(ctx context.Context, mc *mongo.Collection, coll string, id bson.RawValue) error {
	up := bson.D{{Key: "$set", Value: bson.D{{Key: "ra", Value: true}}},
		{Key: "$setOnInsert", Value: bson.D{{Key: "h", Value: int64(0)}, {Key: "r", Value: ""}, {Key: "x", Value: absentHash}, {Key: "d", Value: true}}}}
	_, err := mc.UpdateOne(ctx, idFilter(bsonValue(metaKey(coll, id))), up, options.UpdateOne().SetUpsert(true))
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
