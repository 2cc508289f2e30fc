package sync

import (
	"context"
	"fmt"
	"slices"
	gosync "sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// remoteBatch is one bootstrap batch read from the remote: the next
// documents in _id order and the remote versions of their _ids (by idKey).
type remoteBatch struct {
	docs     []bson.Raw
	versions map[string]docMeta
	err      error
}

// prefetch reads the remote batches that follow after (from the start when
// hasAfter is false) one batch ahead of the copy, so the next batch travels
// while the current one is written locally. It ends after the last (short)
// batch, after an error (sent as the batch's err) or when ctx ends. The
// batches only go to the caller: the durable checkpoint still moves after
// each local write, so prefetched batches a crash loses are read again.
// stop ends the reader and waits for it.
func (s *Syncer) prefetch(ctx context.Context, cs *collState, after bson.RawValue, hasAfter bool) (batches <-chan remoteBatch, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan remoteBatch, 1)
	var wg gosync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(ch)
		for {
			b := s.readBatch(ctx, cs, after, hasAfter)
			select {
			case ch <- b:
			case <-ctx.Done():
				return
			}
			if b.err != nil || len(b.docs) < s.cfg.BatchSize {
				return
			}
			after, hasAfter = b.docs[len(b.docs)-1].Lookup("_id"), true
		}
	}()
	return ch, func() {
		cancel()
		wg.Wait()
	}
}

// readBatch reads the Config.BatchSize remote documents that follow after
// in BSON order of _id, and their remote versions.
func (s *Syncer) readBatch(ctx context.Context, cs *collState, after bson.RawValue, hasAfter bool) remoteBatch {
	remote := s.cfg.Remote.Collection(cs.name)
	owner := bson.D{}
	if o := s.cfg.Owner; o != nil && o.Func == nil {
		// Narrows the copy on the server; the copy checks each document
		// exactly (same BSON type) anyway.
		owner = bson.D{{Key: o.Field, Value: o.Value}}
	}
	n := s.cfg.BatchSize
	var docs []bson.Raw
	var err error
	if !hasAfter {
		docs, err = s.fetchBatch(ctx, remote, owner, n)
	} else {
		// Mixed _id types: {_id: {$gt: last}} is served by the _id index
		// but only sees _ids of last's type bracket (MongoDB's comparison
		// semantics). When it runs short, the rest of the batch comes from
		// {$expr: {$gt: ["$_id", last]}}, which compares across brackets
		// in BSON order (the order of the _id index and of sort {_id: 1}),
		// so the next bracket's _ids follow on. last is wrapped in $literal:
		// a string _id starting with "$" or a document _id holding one
		// would otherwise be read as an expression. On a single-typed
		// collection the $expr query runs once, for the last batch.
		docs, err = s.fetchBatch(ctx, remote, append(slices.Clone(owner),
			bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}}), n)
		if err == nil && len(docs) < n {
			from := after
			if len(docs) > 0 {
				from = docs[len(docs)-1].Lookup("_id")
			}
			var more []bson.Raw
			more, err = s.fetchBatch(ctx, remote, append(slices.Clone(owner),
				bson.E{Key: "$expr", Value: bson.D{{Key: "$gt", Value: bson.A{"$_id", bson.D{{Key: "$literal", Value: from}}}}}}), n-len(docs))
			docs = append(docs, more...)
		}
	}
	if err != nil {
		return remoteBatch{err: fmt.Errorf("sync: bootstrap %q: %w", cs.name, err)}
	}
	keys := make(bson.A, len(docs))
	for i, d := range docs {
		keys[i] = bsonValue(metaKey(cs.name, d.Lookup("_id")))
	}
	var versions map[string]docMeta
	if len(docs) > 0 {
		versions, err = loadMetas(ctx, s.remoteVers, keys)
		s.remoteResult(err)
		if err != nil {
			return remoteBatch{err: fmt.Errorf("sync: read remote versions of %s: %w", cs.name, err)}
		}
	}
	return remoteBatch{docs: docs, versions: versions}
}

// fetchBatch reads the next limit remote documents matching filter in _id
// order, in one reply.
func (s *Syncer) fetchBatch(ctx context.Context, remote *mongo.Collection, filter bson.D, limit int) ([]bson.Raw, error) {
	cur, err := remote.Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "_id", Value: 1}}).
		SetLimit(int64(limit)).SetBatchSize(int32(limit)))
	s.remoteResult(err)
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	docs := make([]bson.Raw, 0, limit)
	for cur.Next(ctx) {
		docs = append(docs, append(bson.Raw(nil), cur.Current...))
	}
	s.remoteResult(cur.Err())
	return docs, cur.Err()
}
