package resume

import (
	"context"
	"errors"
	"fmt"
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
