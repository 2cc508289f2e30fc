package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"

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
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		owner := bson.D{}
		if o := s.cfg.Owner; o != nil && o.Func == nil {
			// Narrows the copy on the server; the copy checks each
			// document exactly (same BSON type) anyway.
			owner = bson.D{{Key: o.Field, Value: o.Value}}
		}
		var docs []bson.Raw
		var err error
		if !st.HasLast {
			docs, err = s.fetchBatch(ctx, remote, owner)
		} else {
			// {_id: {$gt: last}} uses the _id index but is type-bracketed:
			// it only sees _ids of last's type. When it runs short, the
			// $expr form (BSON order across types, a collection scan)
			// finishes the batch, so mixed-type _ids are all copied.
			docs, err = s.fetchBatch(ctx, remote, append(slices.Clone(owner),
				bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: st.Last}}}))
			if err == nil && len(docs) < s.cfg.BatchSize {
				docs, err = s.fetchBatch(ctx, remote, append(slices.Clone(owner),
					bson.E{Key: "$expr", Value: bson.D{{Key: "$gt", Value: bson.A{"$_id", st.Last}}}}))
			}
		}
		if err != nil {
			return fmt.Errorf("sync: bootstrap %q: %w", cs.name, err)
		}
		if err := s.copyBatch(ctx, cs, docs); err != nil {
			return err
		}
		if len(docs) > 0 {
			st.Last, st.HasLast = docs[len(docs)-1].Lookup("_id"), true
			st.Copied += int64(len(docs))
		}
		st.Done = len(docs) < s.cfg.BatchSize
		if st.Done {
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
			s.cfg.OnBootstrap(BootstrapProgress{Collection: cs.name, Copied: st.Copied, Done: st.Done})
		}
		if st.Done {
			return nil
		}
	}
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

// fetchBatch reads the next Config.BatchSize remote documents matching
// filter in _id order.
func (s *Syncer) fetchBatch(ctx context.Context, remote *mongo.Collection, filter bson.D) ([]bson.Raw, error) {
	cur, err := remote.Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "_id", Value: 1}}).
		SetLimit(int64(s.cfg.BatchSize)).SetBatchSize(int32(s.cfg.BatchSize)))
	s.remoteResult(err)
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	var docs []bson.Raw
	for cur.Next(ctx) {
		docs = append(docs, append(bson.Raw(nil), cur.Current...))
	}
	s.remoteResult(cur.Err())
	return docs, cur.Err()
}
