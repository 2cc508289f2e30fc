package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Note is the demo's document.
type Note struct {
	ID      bson.ObjectID `bson:"_id"`
	Text    string        `bson:"text"`
	Written string        `bson:"written"` // "local" or "remote": where the app wrote it
	Edits   int           `bson:"edits"`
}

// seedRemote writes n notes on an empty remote collection, as if other
// devices had synced them earlier: the worker's bootstrap copies them down.
func seedRemote(ctx context.Context, coll *mongo.Collection, n int, lg *log.Logger) error {
	if n <= 0 {
		return nil
	}
	have, err := coll.EstimatedDocumentCount(ctx)
	if err != nil {
		return fmt.Errorf("demo: count remote %s: %w", coll.Name(), err)
	}
	if have > 0 {
		return nil
	}
	docs := make([]any, n)
	for i := range docs {
		docs[i] = Note{ID: bson.NewObjectID(), Text: fmt.Sprintf("note %d, already on the remote", i+1), Written: "remote"}
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		return fmt.Errorf("demo: seed remote %s: %w", coll.Name(), err)
	}
	lg.Printf("demo: %d notes written on the remote before the worker starts", len(docs))
	return nil
}

// demoWrites plays an app on each side until ctx ends, one step per tick:
// a note written locally, a note written on the remote, the local note
// edited on the remote, the remote note deleted locally, and the local note
// edited on both sides at once (its text locally, its edit count on the
// remote). Each shows up a moment later as a "synced" line in the other
// direction; the concurrent edits as a conflict, resolved by the -conflict
// policy (field-merge keeps both edits; the others keep one and log the
// other). A failed write is logged, not fatal: the worker is the point, not
// the demo.
func demoWrites(ctx context.Context, local, remote *mongo.Collection, every time.Duration, lg *log.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var lastLocal, lastRemote bson.ObjectID
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		// Each step is logged before its write, so that the "synced" line it
		// causes comes after it.
		var err error
		switch i % 5 {
		case 0:
			lastLocal = bson.NewObjectID()
			text := fmt.Sprintf("note %d, written locally", i)
			lg.Printf("demo: local  insert %s/%s %q", local.Name(), lastLocal.Hex(), text)
			_, err = local.InsertOne(ctx, Note{ID: lastLocal, Text: text, Written: "local"})
		case 1:
			lastRemote = bson.NewObjectID()
			text := fmt.Sprintf("note %d, written on the remote", i)
			lg.Printf("demo: remote insert %s/%s %q", remote.Name(), lastRemote.Hex(), text)
			_, err = remote.InsertOne(ctx, Note{ID: lastRemote, Text: text, Written: "remote"})
		case 2:
			lg.Printf("demo: remote update %s/%s (edits +1)", remote.Name(), lastLocal.Hex())
			var res *mongo.UpdateResult
			if res, err = remote.UpdateByID(ctx, lastLocal, bson.D{{Key: "$inc", Value: bson.D{{Key: "edits", Value: 1}}}}); err == nil && res.MatchedCount == 0 {
				lg.Printf("demo: (%s was not on the remote yet)", lastLocal.Hex())
			}
		case 3:
			lg.Printf("demo: local  delete %s/%s", local.Name(), lastRemote.Hex())
			var res *mongo.DeleteResult
			if res, err = local.DeleteOne(ctx, bson.D{{Key: "_id", Value: lastRemote}}); err == nil && res.DeletedCount == 0 {
				lg.Printf("demo: (%s was not local yet)", lastRemote.Hex())
			}
		case 4:
			// Back to back through two clients: each write lands before
			// the other is synced (sync takes a millisecond or two), so the
			// syncer sees two concurrent edits.
			lg.Printf("demo: local and remote edit %s/%s at once (text locally, edits +1 on the remote)", local.Name(), lastLocal.Hex())
			if _, err = local.UpdateByID(ctx, lastLocal, bson.D{{Key: "$set", Value: bson.D{{Key: "text", Value: fmt.Sprintf("note %d, edited locally", i)}}}}); err == nil {
				_, err = remote.UpdateByID(ctx, lastLocal, bson.D{{Key: "$inc", Value: bson.D{{Key: "edits", Value: 1}}}})
			}
		}
		if err != nil && ctx.Err() == nil {
			lg.Printf("demo: write failed: %v", err)
		}
	}
}
