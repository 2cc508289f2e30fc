package sync

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// errLocalChanged fails an upload whose outcome could not be applied
// locally because the application wrote the document meanwhile; the retry
// decides again with that write.
var errLocalChanged = errors.New("sync: local document changed while its upload ran (retried)")

// errStale aborts applyLocal's transaction when the document changed.
var errStale = errors.New("sync: local document changed")

// applyLocal makes the local collection coll hold doc under id (no document
// when doc is nil) only if it still holds expect (nil: no document), and
// saves base as the document's new base when base is not nil, all in one
// local transaction. It reports false, writing nothing, when the document
// changed since the caller read it.
//
// Conditional, because the syncer read the document before deciding, and
// the application's write made since must not be overwritten (it would be
// lost: its upload would then find the document equal to the new base).
// The transaction's snapshot makes the check exact: a write committed after
// the re-read makes ours fail with WriteConflict, and the retry sees it.
//
// Together with the base, because a document applied without its base (a
// failure in between) makes the echo of the write look like a local edit,
// stamped later than the remote edit it copies: it could then win
// last-writer-wins over a newer remote edit and overwrite it with older
// content.
func (s *Syncer) applyLocal(ctx context.Context, coll string, id bson.RawValue, expect, doc bson.Raw, base *docMeta) (bool, error) {
	ok, _, err := s.applyLocalLogged(ctx, coll, id, expect, doc, base, nil)
	return ok, err
}

// applyLocalLogged is applyLocal that also records logs in the conflict log,
// in the same transaction: an outcome, its base and the conflicts that
// decided it commit together, so no failure in between can leave the
// outcome applied and its conflict unlogged (the next handling would find
// nothing pending to tell). added are the entries new to the log, for the
// caller to report to OnConflict now that they committed.
func (s *Syncer) applyLocalLogged(ctx context.Context, coll string, id bson.RawValue, expect, doc bson.Raw, base *docMeta, logs []Conflict) (bool, []Conflict, error) {
	var saveBase func(context.Context) error
	if base != nil {
		saveBase = func(tctx context.Context) error { return saveMeta(tctx, s.localDocs, coll, id, *base) }
	}
	ok, added, sess, err := s.casLocal(ctx, coll, id, expect, doc, false, saveBase, logs)
	if ok {
		s.ownLocal.add(sess.OperationTime(), coll, id)
	}
	return ok, added, err
}

// casLocal is the transaction of applyLocalLogged and gwApplyLocal: it
// writes doc (skipped when keepSame and the document already holds it)
// only if the local document is still expect, then saveBase (nil: none)
// and logs. It reports false, writing nothing, when the document changed;
// sess is the transaction's session (for its operation time).
func (s *Syncer) casLocal(ctx context.Context, coll string, id bson.RawValue, expect, doc bson.Raw, keepSame bool, saveBase func(context.Context) error, logs []Conflict) (bool, []Conflict, *mongo.Session, error) {
	local := s.cfg.Local.Collection(coll)
	var (
		added   []Conflict
		txnSess *mongo.Session
	)
	err := s.localTxn(ctx, func(tctx context.Context) error {
		txnSess = mongo.SessionFromContext(tctx)
		added = added[:0]
		cur, err := readDoc(tctx, local, id)
		if err != nil {
			return err
		}
		if contentHash(cur) != contentHash(expect) {
			return errStale
		}
		if !keepSame || contentHash(cur) != contentHash(doc) {
			if err := writeDoc(tctx, local, id, doc); err != nil {
				return err
			}
		}
		if saveBase != nil {
			if err := saveBase(tctx); err != nil {
				return err
			}
		}
		for _, c := range logs {
			ok, err := s.recordConflict(tctx, c)
			if err != nil {
				return err
			}
			if ok {
				added = append(added, c)
			}
		}
		return nil
	})
	if errors.Is(err, errStale) {
		return false, nil, nil, nil
	}
	if err != nil {
		return false, nil, nil, err
	}
	return true, added, txnSess, nil
}
