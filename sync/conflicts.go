package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// localConflictsColl is the local conflict log.
const localConflictsColl = metaPrefix + "_conflicts"

// ErrConflictNotFound is returned by RetryConflict and DismissConflict for
// an id that is not in the conflict log (never was, or already retried or
// dismissed).
var ErrConflictNotFound = errors.New("sync: conflict not found")

// Side names one side of a sync.
type Side string

const (
	// LocalSide is Config.Local.
	LocalSide Side = "local"
	// RemoteSide is Config.Remote.
	RemoteSide Side = "remote"
)

// ConflictReason says why a conflict was logged (Conflict.Reason); "" for
// the policies that always decide whole documents.
type ConflictReason string

// The reasons a conflict is logged under FieldMerge.
const (
	// ReasonFields: under FieldMerge, both sides changed the fields in
	// Conflict.Fields to different values; those were decided by
	// last-writer-wins, every other change was merged.
	ReasonFields ConflictReason = "fields changed on both sides"
	// ReasonDeleteVsUpdate: under FieldMerge, one side deleted the
	// document while the other changed it; the delete-vs-update rule
	// (last writer wins) decided.
	ReasonDeleteVsUpdate ConflictReason = "delete vs update"
	// ReasonNoBase: under FieldMerge, the base document was not kept (the
	// document was last synced under another policy), so last-writer-wins
	// decided the whole document.
	ReasonNoBase ConflictReason = "no base document to merge against"
	// ReasonRefused: under a gateway remote (Config.Gateway), the gateway
	// refused the local edit (Conflict.Refusal says why: no write access,
	// another owner's document, a document the database refused). Local
	// is the refused edit; nothing was overwritten (the local document
	// keeps it until the next remote change of the document).
	ReasonRefused ConflictReason = "refused by the gateway"
)

// Conflict is a concurrent edit whose losing side was overwritten, in whole
// or (FieldMerge) in some fields. It stays in the conflict log (a local
// collection) until retried or dismissed.
type Conflict struct {
	// ID identifies the entry for RetryConflict and DismissConflict. The
	// same conflict seen twice (a redelivered change) has the same ID.
	ID         string        `bson:"_id"`
	Collection string        `bson:"coll"`
	DocumentID bson.RawValue `bson:"docId"`
	// Kept is the side whose edit won (and is now on both sides); under
	// FieldMerge, the side whose values the clashing Fields got.
	Kept Side `bson:"kept"`
	// Policy is the ConflictPolicy that decided (stored by name).
	Policy ConflictPolicy `bson:"policy"`
	// Fields are the dotted paths both sides changed differently
	// (FieldMerge only; every other change of both sides was merged).
	Fields []string `bson:"fields,omitempty"`
	// Reason says why the conflict was logged (one of the Reason
	// constants) under FieldMerge.
	Reason ConflictReason `bson:"reason,omitempty"`
	// KeptOmitted is true when the kept side's document is not stored
	// (Local or Remote is nil without being a delete): both edits together
	// were too large for one entry. The kept edit is what both sides got
	// (merged with the other's fields under FieldMerge).
	KeptOmitted bool `bson:"keptOmitted,omitempty"`
	// Local and Remote are the two edits; nil when that edit was a delete.
	Local         bson.Raw `bson:"local,omitempty"`
	Remote        bson.Raw `bson:"remote,omitempty"`
	LocalVersion  Version  `bson:"localVersion"`
	RemoteVersion Version  `bson:"remoteVersion"`
	// At is when the conflict was resolved.
	At time.Time `bson:"at"`
	// Refusal is the gateway's code and message for ReasonRefused.
	Refusal string `bson:"refusal,omitempty"`
}

// lost returns the document of the side that lost (nil for a delete).
func (c Conflict) lost() bson.Raw {
	if c.Kept == LocalSide {
		return c.Remote
	}
	return c.Local
}

func conflictID(coll string, id bson.RawValue, local, remote Version, localDoc, remoteDoc bson.Raw) string {
	h := sha256.New()
	// The documents too: a retried change stamps whatever the document
	// holds by then with the same version, and two different conflicts
	// must not share one entry (the second would hide the first).
	fmt.Fprintf(h, "%s\x00%x\x00%d\x00%s\x00%d\x00%s\x00%s\x00%s", coll, id.Value, local.HLC, local.Replica, remote.HLC, remote.Replica,
		contentHash(localDoc), contentHash(remoteDoc))
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// sizeCaps keep sync's own entries under MongoDB's 16 MiB document limit:
// a write over it would fail on every retry and stall the direction.
type sizeCaps struct {
	// baseDoc: a larger document keeps no base copy; FieldMerge decides
	// its conflicts by last writer wins (ReasonNoBase).
	baseDoc int
	// loggedDocs: when both edits together are larger, a conflict entry
	// keeps only the losing one (KeptOmitted).
	loggedDocs int
}

// defaultCaps leave room for a base copy and a pending conflict (both edits
// of at most loggedDocs together) in one base entry.
func defaultCaps() sizeCaps { return sizeCaps{baseDoc: 4 << 20, loggedDocs: 8 << 20} }

// logConflict records c (stamped by stampConflict) in the conflict log
// unless an entry with its ID is there already, and calls
// Config.OnConflict for a new entry only: meeting the same conflict again
// (a redelivered change, a retry after a failure) neither duplicates it
// nor reports it twice.
func (s *Syncer) logConflict(ctx context.Context, c Conflict) error {
	added, err := s.recordConflict(ctx, c)
	if added && s.cfg.OnConflict != nil {
		s.callback(func() { s.cfg.OnConflict(c) })
	}
	return err
}

// recordConflict is logConflict without the callback: it reports whether
// the entry is new. (Inside a transaction that may still abort, the caller
// calls OnConflict once it committed.)
func (s *Syncer) recordConflict(ctx context.Context, c Conflict) (bool, error) {
	raw, err := bson.Marshal(c)
	if err != nil {
		return false, fmt.Errorf("sync: log conflict on %s: %w", c.Collection, err)
	}
	var fields bson.D
	elems, err := bson.Raw(raw).Elements()
	if err != nil {
		return false, fmt.Errorf("sync: log conflict on %s: %w", c.Collection, err)
	}
	for _, e := range elems {
		if e.Key() != "_id" {
			fields = append(fields, bson.E{Key: e.Key(), Value: e.Value()})
		}
	}
	coll := s.cfg.Local.Collection(localConflictsColl)
	res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.ID}}, bson.D{{Key: "$setOnInsert", Value: fields}}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return false, fmt.Errorf("sync: log conflict on %s: %w", c.Collection, err)
	}
	return res.UpsertedCount > 0, nil
}

// Conflicts lists the conflict log of collection coll (every collection
// when coll is ""), oldest first.
func (s *Syncer) Conflicts(ctx context.Context, coll string) ([]Conflict, error) {
	filter := bson.D{}
	if coll != "" {
		filter = bson.D{{Key: "coll", Value: coll}}
	}
	cur, err := s.cfg.Local.Collection(localConflictsColl).Find(ctx, filter,
		options.Find().SetSort(bson.D{{Key: "at", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("sync: list conflicts: %w", err)
	}
	var out []Conflict
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("sync: list conflicts: %w", err)
	}
	return out, nil
}

// RetryConflict makes the losing edit of conflict id win after all: it is
// written to the local database as a new edit (newer than everything this
// replica has seen), which then syncs to the remote like any local write,
// and the entry leaves the log. For a FieldMerge conflict only the clashing
// Fields take the losing side's values (or lose the field where that side
// had none); the rest of the current document stays.
func (s *Syncer) RetryConflict(ctx context.Context, id string) error {
	c, err := s.conflict(ctx, id)
	if err != nil {
		return err
	}
	local := s.cfg.Local.Collection(c.Collection)
	doc := c.lost()
	if len(c.Fields) > 0 {
		if doc, err = s.retryFields(ctx, local, c); err != nil {
			return fmt.Errorf("sync: retry conflict %s: %w", id, err)
		}
	}
	if err := writeDoc(ctx, local, c.DocumentID, doc); err != nil {
		return fmt.Errorf("sync: retry conflict %s: %w", id, err)
	}
	return s.DismissConflict(ctx, id)
}

// retryFields returns the current local document with c's clashing fields
// set to the losing side's values.
func (s *Syncer) retryFields(ctx context.Context, local *mongo.Collection, c Conflict) (bson.Raw, error) {
	cur, err := readDoc(ctx, local, c.DocumentID)
	if err != nil {
		return nil, err
	}
	lost := c.lost()
	if cur == nil || lost == nil {
		return lost, nil
	}
	// Fields are sorted, so a parent is set before anything inside it.
	for _, f := range c.Fields {
		path := fieldPath(strings.Split(f, "."))
		v, lerr := lost.LookupErr(path...)
		change := fieldChange{Path: path, Value: v, Removed: lerr != nil}
		if cur, err = applyChange(cur, path, change); err != nil {
			return nil, err
		}
	}
	return cur, nil
}

// DismissConflict accepts the outcome of conflict id and removes it from
// the log.
func (s *Syncer) DismissConflict(ctx context.Context, id string) error {
	res, err := s.cfg.Local.Collection(localConflictsColl).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return fmt.Errorf("sync: dismiss conflict %s: %w", id, err)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("%w: %q", ErrConflictNotFound, id)
	}
	return nil
}

func (s *Syncer) conflict(ctx context.Context, id string) (Conflict, error) {
	var c Conflict
	err := s.cfg.Local.Collection(localConflictsColl).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&c)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return c, fmt.Errorf("%w: %q", ErrConflictNotFound, id)
	}
	if err != nil {
		return c, fmt.Errorf("sync: read conflict %s: %w", id, err)
	}
	return c, nil
}

// pendingConflict is what an upload's remote transaction is about to
// commit, kept in the base entry until the outcome is complete on the local
// side too: the conflict to log (nil for a silent merge) and, for a merged
// document, the local document it was merged from. Result is the version
// both sides hold if that transaction took effect.
type pendingConflict struct {
	Conflict *Conflict `bson:"c,omitempty"`
	Result   Version   `bson:"v"`
	// MergedFrom is the hash of the local document a merged document
	// (FieldMerge, Custom) was computed from; "" when the outcome is one
	// side's own document. MergedFromDoc is that document under
	// FieldMerge (within the base copy's size cap).
	MergedFrom    string   `bson:"mf,omitempty"`
	MergedFromDoc bson.Raw `bson:"md,omitempty"`
	// Committed is true once the remote transaction is known to have
	// committed (set when the local side could not take the merge yet).
	Committed bool `bson:"ok,omitempty"`
	// Hash is the hash of the document the upload wrote to the remote
	// (the local one, or the merge); "" when it wrote nothing (the remote
	// won) or for records made before it existed.
	Hash string `bson:"uh,omitempty"`
}

// landedUpload reports whether p is one of replica's uploads (not a merge)
// that committed on the remote, and returns the entry it wrote: rmeta when
// the remote still holds it, else (known from rmeta's acks) its version and
// hash, the remote having been written on top since. A pending record
// whose commit was never confirmed (the connection dropped during it, the
// process stopped) is told apart from one that did not commit this way,
// and its conflict, which did happen, is logged.
func (p *pendingConflict) landedUpload(replica string, rmeta docMeta, rok bool) (docMeta, bool) {
	switch {
	case p == nil || p.MergedFrom != "" || !rok || p.Result.Replica != replica:
		return docMeta{}, false
	case rmeta.Version == p.Result:
		return docMeta{Version: rmeta.Version, Hash: rmeta.Hash, Deleted: rmeta.Deleted}, true
	case p.Hash != "" && rmeta.acked(p.Result):
		return docMeta{Version: p.Result, Hash: p.Hash, Deleted: p.Hash == absentHash}, true
	}
	return docMeta{}, false
}

// landedMerge reports whether p is a merge whose remote transaction
// committed: known (Committed), the remote still holds its version, or the
// remote entry's acks show it was written (and overwritten since).
func (p *pendingConflict) landedMerge(rmeta docMeta, rok bool, rhash string) bool {
	return p != nil && p.MergedFrom != "" && (p.Committed || rok && (rmeta.Version == p.Result && rmeta.Hash == rhash || rmeta.acked(p.Result)))
}

// settlePending logs the pending conflict of base when the base is about
// to move to version agreed and that conflict's upload is what produced it
// (it committed, then the process stopped or the log write failed). A
// pending conflict whose upload did not take effect is dropped with the
// old base. justLogged is the conflict the caller already logged.
func (s *Syncer) settlePending(ctx context.Context, base docMeta, agreed Version, justLogged *Conflict) error {
	p := base.Pending
	if p == nil || p.Conflict == nil || p.Result != agreed {
		return nil
	}
	if justLogged != nil && justLogged.ID == p.Conflict.ID {
		return nil
	}
	return s.logConflict(ctx, *p.Conflict)
}

// tookEffect returns p's conflict when the base is about to move to
// version agreed with content agreedHash and p's outcome is what both sides
// now hold: by version (its transaction produced it), or by content (a
// download versions the same remote content from its change event, not as
// the upload that decided did). Nil otherwise: a pending conflict whose
// upload did not take effect is dropped with the old base.
func (p *pendingConflict) tookEffect(agreed Version, agreedHash string) *Conflict {
	if p == nil || p.Conflict == nil {
		return nil
	}
	if p.Result == agreed {
		return p.Conflict
	}
	if p.Conflict.KeptOmitted {
		return nil
	}
	kept := p.Conflict.Remote
	if p.Conflict.Kept == LocalSide {
		kept = p.Conflict.Local
	}
	if contentHash(kept) == agreedHash {
		return p.Conflict
	}
	return nil
}

// clearPending drops the pending conflict an earlier attempt of this
// upload's transaction recorded, if any.
func (s *Syncer) clearPending(ctx context.Context, coll string, id bson.RawValue, marked *bool) error {
	if !*marked {
		return nil
	}
	if err := markPending(ctx, s.localDocs, coll, id, nil); err != nil {
		return fmt.Errorf("clear pending conflict: %w", err)
	}
	*marked = false
	return nil
}

// baseDoc is the base copy to keep for doc (conflictRules.baseDoc).
func (s *Syncer) baseDoc(doc bson.Raw) bson.Raw { return s.rules(nil).baseDoc(doc) }
