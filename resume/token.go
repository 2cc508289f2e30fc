package resume

import (
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ValidateToken reports whether token looks like a change-stream resume
// token: a well-formed BSON document that has a _data field. The contents of
// _data are opaque to clients, so they are not inspected further.
func ValidateToken(token bson.Raw) error {
	if len(token) == 0 {
		return fmt.Errorf("%w: empty", ErrInvalidToken)
	}
	if err := token.Validate(); err != nil {
		return fmt.Errorf("%w: not a BSON document: %v", ErrInvalidToken, err)
	}
	if _, err := token.LookupErr("_data"); err != nil {
		return fmt.Errorf("%w: no _data field in %s", ErrInvalidToken, token.String())
	}
	return nil
}

// CheckLoaded validates bytes read back from a backend for key. Store
// implementations outside this package use it so that every store reports
// corruption the same way.
func CheckLoaded(key string, raw []byte) (bson.Raw, error) {
	if err := ValidateToken(bson.Raw(raw)); err != nil {
		detail := strings.TrimPrefix(err.Error(), ErrInvalidToken.Error()+": ")
		return nil, fmt.Errorf("%w: key %q: %s", ErrCorruptToken, key, detail)
	}
	return bson.Raw(raw), nil
}

// CheckSave validates the arguments of a Save for implementations.
func CheckSave(key string, token bson.Raw) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := ValidateToken(token); err != nil {
		return fmt.Errorf("key %q: %w", key, err)
	}
	return nil
}

// CheckKey validates a key for implementations.
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if strings.IndexByte(key, 0) >= 0 {
		return fmt.Errorf("%w: key %q contains a NUL byte", ErrInvalidKey, key)
	}
	return nil
}
