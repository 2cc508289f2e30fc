package sync

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// applyMergeAttempts bounds how often applyMerged re-merges a document the
// application keeps writing; after that the upload fails and is retried.
const applyMergeAttempts = 5

// applyMerged writes the merged document m to the local side over from, the
// local document it was merged from, whose merge is committed on the
// remote. When the application wrote the document meanwhile (it now holds
// cur), that write is merged in once more rather than overwritten or
// dropped: cur's changes since from are kept on top of m (they are newer
// than anything m knows of; FieldMerge only). The result differs from m, so
// it uploads as a new local edit made on top of m, which stays the base. It
// reports false when the document could not be written (deleted meanwhile,
// not FieldMerge, or still changing).
func (s *Syncer) applyMerged(ctx context.Context, coll string, id bson.RawValue, from, m bson.Raw) (bool, error) {
	expect, out := from, m
	for range applyMergeAttempts {
		ok, err := s.applyLocal(ctx, coll, id, expect, out, nil)
		if err != nil || ok {
			return ok, err
		}
		if s.cfg.Conflict != FieldMerge || from == nil || m == nil {
			return false, nil
		}
		cur, err := readDoc(ctx, s.cfg.Local.Collection(coll), id)
		if err != nil || cur == nil {
			return false, err
		}
		r, err := merge3(from, cur, m, true)
		if err != nil {
			return false, nil
		}
		expect, out = cur, r.Doc
	}
	return false, nil
}
