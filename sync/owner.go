package sync

import (
	"bytes"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ErrNotOwned is reported (through Config.OnError, wrapped with the
// collection and _id) when a document this replica does not own is refused:
// a local document owned by someone else is never uploaded, and a remote
// document owned by someone else is never overwritten or deleted.
var ErrNotOwned = errors.New("sync: document is not owned by this replica")

// Owner restricts a Syncer to the documents of one tenant, in both
// directions. Set Field and Value, or Func.
type Owner struct {
	// Field is a top-level field holding the owner; a document is owned
	// when it holds exactly Value (same BSON type: int32 1 is not int64 1).
	Field string
	Value any
	// Func decides ownership instead of Field/Value. An error fails closed:
	// the change is not synced, the error is reported, and the change is
	// retried with backoff (the direction waits on it) instead of being
	// synced or skipped.
	Func func(doc bson.Raw) (bool, error)
}

func (o *Owner) validate() error {
	switch {
	case o.Func != nil && o.Field != "":
		return errors.New("Owner: set Field/Value or Func, not both")
	case o.Func == nil && o.Field == "":
		return errors.New("Owner: set Field and Value, or Func")
	case o.Func == nil && o.Value == nil:
		return fmt.Errorf("Owner: Value for field %q is nil", o.Field)
	case o.Field == "_id":
		return errors.New("Owner: Field cannot be _id")
	}
	if o.Func == nil {
		if _, _, err := bson.MarshalValue(o.Value); err != nil {
			return fmt.Errorf("Owner: Value for field %q does not marshal to BSON: %w", o.Field, err)
		}
	}
	return nil
}

// owns reports whether doc (non-nil) belongs to this replica's tenant.
// Without an Owner every document does.
func (s *Syncer) owns(doc bson.Raw) (bool, error) {
	o := s.cfg.Owner
	if o == nil {
		return true, nil
	}
	if o.Func != nil {
		ok, err := o.Func(doc)
		if err != nil {
			return false, fmt.Errorf("sync: owner func: %w", err)
		}
		return ok, nil
	}
	t, want, err := bson.MarshalValue(o.Value)
	if err != nil {
		return false, err
	}
	got, err := doc.LookupErr(o.Field)
	if err != nil {
		return false, nil
	}
	return got.Type == t && bytes.Equal(got.Value, want), nil
}
