package resume

import (
	"errors"
	"fmt"
)

// ErrCorruptToken is wrapped by Load when the stored value for a key is not a
// usable resume token: not a valid BSON document, or a document without a
// _data field. Resuming from it is impossible, so the caller must decide
// (usually an operator: delete the key to start from "now", or restore it).
// The wrapping error names the key and what was wrong.
var ErrCorruptToken = errors.New("resume: stored token is corrupt")

// ErrInvalidToken is returned by Save when the token to store is not a BSON
// document with a _data field. Refusing it up front keeps a store from ever
// holding a value that Load would later reject.
var ErrInvalidToken = errors.New("resume: invalid resume token")

// ErrInvalidKey is returned when a key is empty or contains a NUL byte; such
// keys cannot be represented in every backend (file names, Redis keys built
// from a prefix, document _ids) without ambiguity.
var ErrInvalidKey = errors.New("resume: invalid key")

// ErrFenced is returned by FencedStore.SaveFenced when a save with a
// greater fencing token was already made for the key: the caller's lease
// was taken over, and its checkpoint must not overwrite its successor's.
var ErrFenced = errors.New("resume: save fenced off by a newer lease holder")

func fenced(key string, fence, cur uint64) error {
	return fmt.Errorf("%w: key %q: fence %d is below %d", ErrFenced, key, fence, cur)
}

// Fenced returns the error a FencedStore gives for a save with fence under
// key whose greatest fence seen is cur (for stores outside this package).
func Fenced(key string, fence, cur uint64) error { return fenced(key, fence, cur) }
