package sync

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// bootstrapState is the durable progress of one collection's initial copy,
// kept in the local state collection.
type bootstrapState struct {
	// Last is the _id of the last copied document; copying resumes after it.
	Last    bson.RawValue `bson:"last,omitempty"`
	HasLast bool          `bson:"hasLast"`
	Copied  int64         `bson:"copied"`
	Done    bool          `bson:"done"`
	// LocalEmpty is true when the local collection had no documents and
	// no bases as the copy began (see localUntouched).
	LocalEmpty bool `bson:"localEmpty"`
}

func bootstrapKey(coll string) string { return "bootstrap." + coll }

// bootstrap copies the remote collection to the local side the first time,
// resuming after the last checkpointed _id when a previous run stopped
// midway. The remote resume point is captured before the first document is
// read, so the download stream that follows covers every write made during
// the copy (applying one twice is a no-op: its hash equals the base).
func (s *Syncer) bootstrap(ctx context.Context, cs *collState) error {
	key := bootstrapKey(cs.name)
	var st bootstrapState
	err := s.localState.FindOne(ctx, idFilter(stringValue(key))).Decode(&st)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
	case err != nil:
		return fmt.Errorf("sync: load bootstrap state of %q: %w", cs.name, err)
	}
	if st.Done {
		return nil
	}
	remote := s.cfg.Remote.Collection(cs.name)
	if err := s.captureResumePoint(ctx, remote, downloadKey(cs.name)); err != nil {
		s.remoteResult(err)
		return fmt.Errorf("sync: capture remote resume point of %q: %w", cs.name, err)
	}
	if !st.HasLast && st.Copied == 0 {
		if st.LocalEmpty, err = s.localUntouched(ctx, cs); err != nil {
			return err
		}
	}
	batches, stop := s.prefetch(ctx, cs, st.Last, st.HasLast)
	defer stop()
	for {
		var b remoteBatch
		select {
		case b = <-batches:
		case <-ctx.Done():
			return ctx.Err()
		}
		if b.err != nil {
			return b.err
		}
		if err := s.copyBatch(ctx, cs, b); err != nil {
			return err
		}
		docs := b.docs
		if len(docs) > 0 {
			st.Last, st.HasLast = docs[len(docs)-1].Lookup("_id"), true
			st.Copied += int64(len(docs))
		}
		st.Done = len(docs) < s.cfg.BatchSize
		if st.Done && !st.LocalEmpty {
			// Documents that existed locally before the first sync have
			// no change event to upload them.
			if _, err := s.reconcileLocal(ctx, cs); err != nil {
				return err
			}
		}
		if err := s.saveBootstrap(ctx, key, st); err != nil {
			return err
		}
		if s.cfg.OnBootstrap != nil {
			s.callback(func() { s.cfg.OnBootstrap(BootstrapProgress{Collection: cs.name, Copied: st.Copied, Done: st.Done}) })
		}
		if st.Done {
			return nil
		}
	}
}

// localUntouched reports whether the local side has nothing the copy's
// final local scan could find: no documents and no bases in this
// collection, checked after the upload stream's resume point was captured
// (Start does that first), so every local write from then on reaches the
// upload stream. The answer is kept with the bootstrap state; without it
// the copy ends with a scan of the whole local collection.
func (s *Syncer) localUntouched(ctx context.Context, cs *collState) (bool, error) {
	tok, err := s.store.Load(ctx, uploadKey(cs.name))
	if err != nil || tok == nil {
		return false, err
	}
	err = s.cfg.Local.Collection(cs.name).FindOne(ctx, bson.D{}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	switch {
	case err == nil:
		return false, nil
	case !errors.Is(err, mongo.ErrNoDocuments):
		return false, fmt.Errorf("sync: read local %q: %w", cs.name, err)
	}
	// Base keys are {c, id}: this range holds exactly coll's.
	inColl := bson.D{{Key: "_id", Value: bson.D{
		{Key: "$gte", Value: metaKey(cs.name, bson.RawValue{Type: bson.TypeMinKey})},
		{Key: "$lte", Value: metaKey(cs.name, bson.RawValue{Type: bson.TypeMaxKey})},
	}}}
	err = s.localDocs.FindOne(ctx, inColl, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	switch {
	case err == nil:
		return false, nil
	case !errors.Is(err, mongo.ErrNoDocuments):
		return false, fmt.Errorf("sync: read bases of %q: %w", cs.name, err)
	}
	return true, nil
}

func (s *Syncer) saveBootstrap(ctx context.Context, key string, st bootstrapState) error {
	_, err := s.localState.ReplaceOne(ctx, idFilter(stringValue(key)), st, options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("sync: save bootstrap checkpoint %s: %w", key, err)
	}
	return nil
}

// captureResumePoint saves the current position of coll's change stream
// under key, unless a checkpoint is already stored there.
func (s *Syncer) captureResumePoint(ctx context.Context, coll *mongo.Collection, key string) error {
	tok, err := s.store.Load(ctx, key)
	if err != nil || tok != nil {
		return err
	}
	cs, err := coll.Watch(ctx, mongo.Pipeline{})
	if err != nil {
		return err
	}
	defer cs.Close(context.WithoutCancel(ctx))
	// The initial batch's postBatchResumeToken; reading an event instead
	// would move the point past that event and lose it.
	tok = cs.ResumeToken()
	if tok == nil {
		return ErrNoResumePoint
	}
	return s.store.Save(ctx, key, append(bson.Raw(nil), tok...))
}

func stringValue(v string) bson.RawValue {
	t, data, _ := bson.MarshalValue(v)
	return bson.RawValue{Type: t, Value: data}
}
