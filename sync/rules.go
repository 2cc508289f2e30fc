package sync

import (
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// conflictRules is Config.Conflict as a value the planners can use without
// a Syncer: which side wins, what a merge gives, how a conflict is stamped
// and which base copy is kept. Pure, except for Resolve (the application's
// own function, called for Custom) and the clock that dates a conflict.
type conflictRules struct {
	policy ConflictPolicy
	// resolve is Config.Resolve, already bound to the caller's context
	// and checked (see Syncer.resolve).
	resolve func(Conflict) (bson.Raw, error)
	now     func() time.Time
	caps    sizeCaps
}

// rules returns the Syncer's conflictRules; Custom's Resolve runs under ctx.
func (s *Syncer) rules(ctxResolve func(Conflict) (bson.Raw, error)) conflictRules {
	return conflictRules{policy: s.cfg.Conflict, resolve: ctxResolve, now: s.cfg.Clock, caps: s.caps}
}

// localWins applies the policy to concurrent whole-document edits.
func (r conflictRules) localWins(mine, theirs Version) bool {
	switch r.policy {
	case LocalWins:
		return true
	case RemoteWins:
		return false
	}
	return mine.Compare(theirs) > 0
}

// stampConflict fills in the ID (derived from the document and both
// versions, so the same conflict met again has the same ID), the policy
// and the time, and leaves out the kept document when both are too large
// for one entry.
func (r conflictRules) stampConflict(c Conflict) Conflict {
	c.ID = conflictID(c.Collection, c.DocumentID, c.LocalVersion, c.RemoteVersion, c.Local, c.Remote)
	c.Policy = r.policy
	c.At = r.now().UTC()
	if len(c.Local)+len(c.Remote) > r.caps.loggedDocs {
		if c.Kept == LocalSide {
			c.Local = nil
		} else {
			c.Remote = nil
		}
		c.KeptOmitted = true
	}
	return c
}

// baseDoc is the base document to keep in the local docs entry: the
// document under FieldMerge (which merges against it) unless it is larger
// than its size cap, nothing otherwise.
func (r conflictRules) baseDoc(doc bson.Raw) bson.Raw {
	if r.policy != FieldMerge || len(doc) > r.caps.baseDoc {
		return nil
	}
	return doc
}

// decision is how a concurrent edit is resolved: kept names the side whose
// document both sides get, or is "" when doc (a merge) is a new edit. log
// is the conflict log entry, nil when nothing was lost. mergeErr is a
// FieldMerge failure that made the rules fall back to last writer wins
// (reported, not fatal).
type decision struct {
	kept     Side
	doc      bson.Raw
	log      *Conflict
	mergeErr error
}

// decide applies the policy to the concurrent edits doc (local, version
// mine) and rdoc (remote, version theirs) of base; nil documents are
// deletes.
func (r conflictRules) decide(coll string, id bson.RawValue, base docMeta, doc, rdoc bson.Raw, mine, theirs Version) (decision, error) {
	c := Conflict{Collection: coll, DocumentID: id, Local: doc, Remote: rdoc, LocalVersion: mine, RemoteVersion: theirs}
	whole := func(reason ConflictReason) decision {
		c.Kept, c.Reason = RemoteSide, reason
		if r.localWins(mine, theirs) {
			c.Kept = LocalSide
		}
		c = r.stampConflict(c)
		return decision{kept: c.Kept, log: &c}
	}
	switch r.policy {
	case Custom:
		merged, err := r.resolve(c)
		if err != nil {
			return decision{}, err
		}
		return decision{doc: merged, kept: sameAs(merged, doc, rdoc)}, nil
	case FieldMerge:
	default:
		return whole(""), nil
	}
	if doc == nil || rdoc == nil {
		return whole(ReasonDeleteVsUpdate), nil
	}
	baseDoc := base.Doc
	switch {
	case base.Hash == absentHash:
		baseDoc = emptyDoc()
	case baseDoc == nil || contentHash(baseDoc) != base.Hash:
		return whole(ReasonNoBase), nil
	}
	localWins := mine.Compare(theirs) > 0
	m, err := merge3(baseDoc, doc, rdoc, localWins)
	if err != nil {
		// Not mergeable BSON cannot come from a server; decide whole.
		d := whole(ReasonNoBase)
		d.mergeErr = fmt.Errorf("sync: field merge of %s %s: %w; last writer wins", coll, id, err)
		return d, nil
	}
	d := decision{doc: m.Doc, kept: sameAs(m.Doc, doc, rdoc)}
	if len(m.Clashes) > 0 {
		c.Kept, c.Fields, c.Reason = RemoteSide, m.Clashes, ReasonFields
		if localWins {
			c.Kept = LocalSide
		}
		c = r.stampConflict(c)
		d.log = &c
	}
	return d, nil
}

// sameAs names the side whose document a merge result is exactly (that
// side then keeps its own version and is not written again), or "" for a
// new document.
func sameAs(merged, doc, rdoc bson.Raw) Side {
	switch contentHash(merged) {
	case contentHash(rdoc):
		return RemoteSide
	case contentHash(doc):
		return LocalSide
	}
	return ""
}
