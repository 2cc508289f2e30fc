package sync

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// localGatewayDocsColl keeps the base of every document under a gateway
// remote (gwBase). Not the docs collection of a database remote: the two
// record different things (a version there is an HLC, here the gateway's
// content hash), and a local database switched from one remote to the
// other must not read one as the other.
const localGatewayDocsColl = metaPrefix + "_gwdocs"

// gwStateKey is the local state entry of a collection's pull: its cursor
// and the snapshot's progress.
func gwStateKey(coll string) string { return bootstrapKey(coll) }

// gwState is a collection's pull state, in the local state collection
// under bootstrapKey (so Bootstrapped reads Done as for a database remote).
type gwState struct {
	Done bool `bson:"done"`
	// Cursor is where the pull continues (after Done), or the snapshot's
	// starting position (while paging).
	Cursor string `bson:"gwCursor"`
	// After is the last snapshot page's Next ("" before the first page).
	After  string `bson:"gwAfter"`
	Copied int64  `bson:"copied"`
	// Resnapshot is true while a snapshot taken again (the cursor
	// expired) is paging; its end deletes the local documents the
	// snapshot did not contain (gwSweep).
	Resnapshot bool `bson:"gwResnapshot"`
	// Epoch marks the bases the current snapshot saw (gwBase has no
	// field for it: kept in the base entries' "e").
	Epoch int64 `bson:"gwEpoch"`
}

func (s *Syncer) gwDocs() *mongo.Collection { return s.cfg.Local.Collection(localGatewayDocsColl) }

func (s *Syncer) gwLoadState(ctx context.Context, coll string) (gwState, error) {
	var st gwState
	err := s.localState.FindOne(ctx, idFilter(stringValue(gwStateKey(coll)))).Decode(&st)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return gwState{}, nil
	}
	return st, err
}

func (s *Syncer) gwSaveState(ctx context.Context, coll string, st gwState) error {
	_, err := s.localState.UpdateOne(ctx, idFilter(stringValue(gwStateKey(coll))),
		bson.D{{Key: "$set", Value: st}}, options.UpdateOne().SetUpsert(true))
	return err
}

// gwLoadBase returns the base of (coll, id); a document never synced has
// newGwBase.
func gwLoadBase(ctx context.Context, mc *mongo.Collection, coll string, id bson.RawValue) (gwBase, error) {
	var b gwBase
	err := mc.FindOne(ctx, idFilter(bsonValue(metaKey(coll, id)))).Decode(&b)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return newGwBase(), nil
	}
	if b.Hash == "" {
		b.Hash = absentHash
	}
	return b, err
}

// gwSaveBase writes b as the base of (coll, id), marked with the snapshot
// epoch (0: none). The base document is kept under FieldMerge only (and
// up to the size cap of base documents), dropped otherwise.
func (s *Syncer) gwSaveBase(ctx context.Context, coll string, id bson.RawValue, b gwBase, epoch int64) error {
	_, err := s.gwDocs().UpdateOne(ctx, idFilter(bsonValue(metaKey(coll, id))), s.gwBaseUpdate(b, epoch), options.UpdateOne().SetUpsert(true))
	return err
}

// gwBaseUpdate is the update that makes a base entry hold b.
func (s *Syncer) gwBaseUpdate(b gwBase, epoch int64) bson.D {
	set := bson.D{{Key: "x", Value: b.Hash}, {Key: "v", Value: b.Version}, {Key: "w", Value: b.Await}, {Key: "wt", Value: b.AwaitT}, {Key: "ra", Value: b.RemoteAhead}}
	if epoch != 0 {
		set = append(set, bson.E{Key: "e", Value: epoch})
	}
	if doc := s.baseDoc(b.Doc); doc != nil && s.cfg.Conflict == FieldMerge && contentHash(doc) == b.Hash {
		return bson.D{{Key: "$set", Value: append(set, bson.E{Key: "b", Value: doc})}}
	}
	return bson.D{{Key: "$set", Value: set}, {Key: "$unset", Value: bson.D{{Key: "b", Value: ""}}}}
}

// gwApplyLocal makes the local document (coll, id) doc (nil: none) only if
// it still is expect, with b as its base and logs added to the conflict
// log, in one local transaction (see applyLocal for why conditional and
// why together). It reports false, writing nothing, when the document
// changed since the caller read it; added are the log entries that are
// new, for OnConflict.
func (s *Syncer) gwApplyLocal(ctx context.Context, coll string, id bson.RawValue, expect, doc bson.Raw, b gwBase, epoch int64, logs []Conflict) (bool, []Conflict, error) {
	ok, added, _, err := s.casLocal(ctx, coll, id, expect, doc, true,
		func(tctx context.Context) error { return s.gwSaveBase(tctx, coll, id, b, epoch) }, logs)
	return ok, added, err
}
