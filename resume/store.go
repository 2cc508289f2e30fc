package resume

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Store persists one resume token per key.
//
// Implementations must be safe for concurrent use. Concurrent Saves of the
// same key must leave exactly one of the saved tokens in place (last writer
// wins), never a mixture.
type Store interface {
	// Load returns the token last saved under key, or (nil, nil) when no
	// token was ever saved. A stored value that is not a valid token yields
	// an error wrapping ErrCorruptToken that names the key.
	Load(ctx context.Context, key string) (bson.Raw, error)
	// Save replaces the token stored under key. The token must be a BSON
	// document with a _data field (ErrInvalidToken otherwise).
	Save(ctx context.Context, key string, token bson.Raw) error
}

// FencedStore is a Store that refuses writes from a writer that was fenced
// off (see package lease): SaveFenced saves token under key like Save,
// unless a SaveFenced with a greater fence was already made for key, in
// which case it saves nothing and returns an error wrapping ErrFenced. A
// fence equal to the greatest seen is accepted (the same holder saving
// again). Plain Saves neither check nor move the fence. Every store in
// this module implements it; resumetest checks it.
type FencedStore interface {
	Store
	SaveFenced(ctx context.Context, key string, token bson.Raw, fence uint64) error
}
