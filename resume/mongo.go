package resume

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// MongoStore keeps one document per key in a collection:
//
//	{_id: <key>, token: <resume token document>, updatedAt: <date>}
//
// The token is stored as an embedded document so operators can read it in
// the shell. Use a collection that is not itself watched by the listener
// whose checkpoints it holds, or each checkpoint becomes an event.
type MongoStore struct {
	coll *mongo.Collection
}

// NewMongoStore returns a MongoStore writing to coll.
func NewMongoStore(coll *mongo.Collection) *MongoStore {
	return &MongoStore{coll: coll}
}

// Load implements Store.
func (s *MongoStore) Load(ctx context.Context, key string) (bson.Raw, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	if s.coll == nil {
		return nil, errors.New("resume: MongoStore has a nil collection")
	}
	doc, err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("resume: load key %q: %w", key, err)
	}
	val, err := doc.LookupErr("token")
	if err != nil {
		return nil, fmt.Errorf("%w: key %q: document has no token field", ErrCorruptToken, key)
	}
	tok, ok := val.DocumentOK()
	if !ok {
		return nil, fmt.Errorf("%w: key %q: token field is %s, want a document", ErrCorruptToken, key, val.Type)
	}
	return CheckLoaded(key, append([]byte(nil), tok...))
}

// Save implements Store.
func (s *MongoStore) Save(ctx context.Context, key string, token bson.Raw) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckSave(key, token); err != nil {
		return err
	}
	if s.coll == nil {
		return errors.New("resume: MongoStore has a nil collection")
	}
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "token", Value: token},
		{Key: "updatedAt", Value: time.Now().UTC()},
	}}}
	filter := bson.D{{Key: "_id", Value: key}}
	opts := options.UpdateOne().SetUpsert(true)
	_, err := s.coll.UpdateOne(ctx, filter, update, opts)
	if mongo.IsDuplicateKeyError(err) {
		// Two concurrent upserts of a new key: one inserted, the other lost
		// the race on _id. The document exists now, so a retry updates it.
		_, err = s.coll.UpdateOne(ctx, filter, update, opts)
	}
	if err != nil {
		return fmt.Errorf("resume: save key %q: %w", key, err)
	}
	return nil
}

// SaveFenced implements FencedStore: the document keeps the greatest fence
// seen in a "fence" field, and the update only matches a document whose
// fence is not greater.
func (s *MongoStore) SaveFenced(ctx context.Context, key string, token bson.Raw, fence uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckSave(key, token); err != nil {
		return err
	}
	if s.coll == nil {
		return errors.New("resume: MongoStore has a nil collection")
	}
	if fence > math.MaxInt64 {
		return fmt.Errorf("resume: fence %d does not fit a BSON int64", fence)
	}
	f := int64(fence)
	filter := bson.D{{Key: "_id", Value: key}, {Key: "$or", Value: bson.A{
		bson.D{{Key: "fence", Value: bson.D{{Key: "$lte", Value: f}}}},
		bson.D{{Key: "fence", Value: bson.D{{Key: "$exists", Value: false}}}},
	}}}
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "token", Value: token},
		{Key: "fence", Value: f},
		{Key: "updatedAt", Value: time.Now().UTC()},
	}}}
	opts := options.UpdateOne().SetUpsert(true)
	for attempt := 0; ; attempt++ {
		_, err := s.coll.UpdateOne(ctx, filter, update, opts)
		if err == nil {
			return nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("resume: save key %q: %w", key, err)
		}
		// The filter missed an existing document: either its fence is
		// greater (fenced), or a concurrent first save created it (retry
		// once to find out).
		if attempt == 1 {
			var doc struct {
				Fence int64 `bson:"fence"`
			}
			if ferr := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&doc); ferr != nil {
				return fmt.Errorf("resume: save key %q: %w", key, ferr)
			}
			return fenced(key, fence, uint64(doc.Fence))
		}
	}
}
