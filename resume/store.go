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
