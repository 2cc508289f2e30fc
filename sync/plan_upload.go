package sync

import (
	"go.mongodb.org/mongo-driver/v2/bson"
)

// uploadFacts is everything an upload decides from: the local side as read
// before the remote transaction, the remote side as read in it.
type uploadFacts struct {
	Coll    string
	ID      bson.RawValue
	Replica string // this replica's id
	// Base is the local base entry (what both sides last agreed on, and
	// any pending conflict record).
	Base docMeta
	// Local is the local document (nil: deleted), LocalHash its hash.
	Local     bson.Raw
	LocalHash string
	// Mine is the local edit's entry: its version stamped from the commit
	// time of its change, its hash, its deleted flag.
	Mine docMeta
	// RemoteRefused: the remote document belongs to another owner.
	RemoteRefused bool
	// Remote is the remote document (nil: absent), RemoteHash its hash;
	// RemoteVer the remote version entry, RemoteVerOK whether there is one.
	Remote      bson.Raw
	RemoteHash  string
	RemoteVer   docMeta
	RemoteVerOK bool
	// Prev is the pending record an earlier attempt of this upload's
	// transaction made (nil: none), so a commit reported failed that did
	// take effect keeps its conflict.
	Prev *pendingConflict
}

// pendingAction is what an upload does with the pending conflict record in
// the local base entry before the remote commits.
type pendingAction int

const (
	// pendingKeep leaves the record as it is.
	pendingKeep pendingAction = iota
	// pendingClear drops a record an earlier attempt of this upload made.
	pendingClear
	// pendingMark records uploadPlan.Logged: if the process stops after
	// the commit, the next handling of the document logs the conflict
	// and finishes a merge.
	pendingMark
)

// uploadPlan is what an upload does, decided by planUpload. The executor
// (Syncer.upload) logs LogFirst, applies Pending, writes the remote when
// WriteRemote and commits; then writes LocalDoc to the local side when
// WriteLocal, logs Landed's and Logged's conflicts, and saves Agreed as the
// new base.
type uploadPlan struct {
	Outcome syncOutcome
	// Base is the base the upload was judged against: the stored one, or
	// moved to a write of ours that landed on the remote but never reached
	// the local base entry.
	Base docMeta
	// Mine is the local edit's entry as uploaded (ordered after Base), or
	// the merge's when the outcome is a merge.
	Mine docMeta
	// Theirs is the remote edit's entry (versioned as unversioned remote
	// writes are when the remote entry does not match the document).
	Theirs docMeta
	// Observe are versions the clock must move past.
	Observe []int64
	// LogFirst are conflicts that already took effect (their log writes
	// failed), logged before anything else.
	LogFirst []Conflict
	Pending  pendingAction
	// Logged is the conflict this upload decided (recorded as pending
	// before the commit), or the earlier attempt's that committed after
	// all; Landed is an earlier merge found committed.
	Logged, Landed *pendingConflict
	// WriteRemote: write Mine as the remote version entry and UploadDoc
	// as the remote document.
	WriteRemote bool
	UploadDoc   bson.Raw
	// WriteLocal: the local side gets LocalDoc (the remote won, or a
	// merge).
	WriteLocal bool
	LocalDoc   bson.Raw
	// Agreed is the new base, AgreedDoc the document both sides hold.
	Agreed    docMeta
	AgreedDoc bson.Raw
	// MergeErr is a FieldMerge failure the rules fell back from (reported).
	MergeErr error

	// marked is executor state, not part of the decision: the pending
	// record of this upload is in the base entry.
	marked bool
}

// planUpload decides an upload. It is pure but for r's Resolve (Custom).
// The cases, in order:
//   - the remote document is another owner's: refused;
//   - the base moves first to a write of ours found on the remote
//     (adoptLanded);
//   - a landed merge the local side has not changed since: it comes down;
//   - only the remote changed since the base: it comes down;
//   - both hold the same content: the base moves;
//   - only the local side changed: it goes up;
//   - both changed: the conflict rules decide (planConflict).
func planUpload(f uploadFacts, r conflictRules) (uploadPlan, error) {
	p := uploadPlan{Base: f.Base, Mine: f.Mine}
	if f.RemoteRefused {
		p.Outcome, p.Pending = outcomeRefused, pendingClear
		return p, nil
	}
	p.afterOwnAcks(f)
	p.adoptLanded(f, r)
	p.Theirs = f.RemoteVer
	if !f.RemoteVerOK || f.RemoteVer.Hash != f.RemoteHash {
		// Written without mongotide (or never versioned).
		p.Theirs = docMeta{Version: Version{HLC: p.Base.HLC + 1, Replica: RemoteReplica}, Hash: f.RemoteHash, Deleted: f.Remote == nil}
	}
	switch {
	case p.Landed != nil && f.LocalHash == p.Landed.MergedFrom:
		// Nothing changed locally since the merge: the local side gets
		// what the remote holds (the merge, or what was written on top).
		p.takeRemote(f, outcomeMerged)
	case f.LocalHash == p.Base.Hash && f.RemoteHash != f.LocalHash:
		// Only the remote changed since the landed upload: bring it
		// down (its download was judged against the stale base).
		p.takeRemote(f, outcomeDownloaded)
		p.Pending = pendingClear
	case f.RemoteHash == f.LocalHash:
		p.Outcome, p.Agreed, p.AgreedDoc = outcomeSame, p.Theirs, f.Local
		p.Pending = pendingClear
		if f.Prev != nil && f.Prev.Result == p.Theirs.Version {
			// The earlier attempt committed after all (its commit was
			// reported failed, e.g. the connection dropped and the retry
			// met a restarted server): its conflict stands.
			p.Logged, p.Pending = f.Prev, pendingKeep
		}
	case f.RemoteHash == p.Base.Hash:
		p.Outcome, p.Pending = outcomeUploaded, pendingClear
		p.upload(f.Local)
	default:
		return p, p.planConflict(f, r)
	}
	return p, nil
}

// takeRemote makes the remote document the outcome on both sides.
func (p *uploadPlan) takeRemote(f uploadFacts, o syncOutcome) {
	p.Outcome, p.Agreed, p.AgreedDoc = o, p.Theirs, f.Remote
	p.WriteLocal, p.LocalDoc = true, f.Remote
}

// upload writes doc with p.Mine to the remote; both sides then agree on it.
func (p *uploadPlan) upload(doc bson.Raw) {
	p.WriteRemote, p.UploadDoc = true, doc
	p.Agreed, p.AgreedDoc = p.Mine, doc
}

// afterOwnAcks stamps the edit after every upload of this replica that the
// remote entry has seen. An upload is recognised by its version
// (pendingConflict.landedUpload compares the acks), so two uploads of one
// replica under one version are taken for each other. A change handled again
// keeps its event's time: after an upload of it landed unconfirmed and the
// document changed again, the next upload got the landed one's version, and
// when its transaction was retried it took its own aborted first attempt
// for landed, logged that attempt's conflict as kept and overwrote the
// local edit (TestChaosReplicas, seed 17528524105259822514).
func (p *uploadPlan) afterOwnAcks(f uploadFacts) {
	if !f.RemoteVerOK {
		return
	}
	if h, ok := f.RemoteVer.Acks[ackKey(f.Replica)]; ok && p.Mine.HLC <= h {
		p.Mine.HLC = h + 1
		p.Observe = append(p.Observe, p.Mine.HLC)
	}
}

// adoptLanded moves the base to a write of ours that landed on the remote
// but never reached the local base entry, so the upload is judged against
// what both sides really last agreed on.
func (p *uploadPlan) adoptLanded(f uploadFacts, r conflictRules) {
	base0, rmeta := f.Base, f.RemoteVer
	pc := base0.Pending
	lpc, landedAt := landedPending(f)
	switch {
	case pc.landedMerge(rmeta, f.RemoteVerOK, f.RemoteHash):
		// An earlier attempt's merge committed on the remote but never
		// reached the local side (the application kept writing the
		// document, or the process stopped). Both sides agreed on the
		// local document it was merged from (the merge holds all of its
		// changes), so that is the base: the local side's changes since
		// are new edits, the remote's (the merge, and whatever was
		// written on top of it) remote edits. The merge's own conflict
		// did happen: it is logged.
		p.Landed = pc
		p.Base = docMeta{Version: pc.Result, Hash: pc.MergedFrom, Deleted: pc.MergedFrom == absentHash,
			Doc: pc.MergedFromDoc, Pending: pc}
	case f.RemoteVerOK && rmeta.Replica == f.Replica && base0.Version.Compare(rmeta.Version) < 0 &&
		(rmeta.Hash == f.LocalHash || pc == nil || pc.MergedFrom == ""):
		// An earlier upload of ours landed but its base was never saved
		// locally (a failure after the remote commit): that write is what
		// both sides last agreed on. Against the stale base a remote
		// change made since would look like no change and be overwritten
		// (a remote delete undone), and a local edit made since, stamped
		// with the retried event's older time, could lose to its own
		// predecessor. (A landed merge the local side does not hold yet
		// is the case above.)
		p.Base = docMeta{Version: rmeta.Version, Hash: rmeta.Hash, Deleted: rmeta.Deleted, Pending: pc}
		switch {
		case rmeta.Hash == f.LocalHash:
			p.Base.Doc = r.baseDoc(f.Local)
		case rmeta.Hash == f.RemoteHash:
			// The remote still holds that write: FieldMerge merges
			// against it rather than falling back to last writer wins.
			p.Base.Doc = r.baseDoc(f.Remote)
		}
		if pc != nil && pc.Conflict != nil && pc.Result == rmeta.Version {
			// That upload decided a conflict whose log write failed: it
			// took effect, so it is logged now, whatever this attempt
			// decides (the base moves past it).
			p.LogFirst = append(p.LogFirst, *pc.Conflict)
		}
	case lpc != nil:
		// The pending upload committed (its commit was never confirmed:
		// the connection dropped, the process stopped) and the remote has
		// been written on top since: its conflict happened and is logged,
		// and what it wrote is the base.
		p.Base = landedAt
		p.Base.Pending = lpc
		switch p.Base.Hash {
		case f.LocalHash:
			p.Base.Doc = r.baseDoc(f.Local)
		case f.RemoteHash:
			p.Base.Doc = r.baseDoc(f.Remote)
		}
		if lpc.Conflict != nil {
			p.LogFirst = append(p.LogFirst, *lpc.Conflict)
		}
	default:
		return
	}
	if p.Mine.HLC <= p.Base.HLC {
		p.Mine.HLC = p.Base.HLC + 1
		p.Observe = append(p.Observe, p.Mine.HLC)
	}
}

// landedPending returns the pending record (this attempt's predecessor's,
// or the base entry's) of an upload of ours that committed after the base,
// and the entry it wrote (pendingConflict.landedUpload); nil if none.
func landedPending(f uploadFacts) (*pendingConflict, docMeta) {
	for _, pc := range []*pendingConflict{f.Prev, f.Base.Pending} {
		if at, ok := pc.landedUpload(f.Replica, f.RemoteVer, f.RemoteVerOK); ok && f.Base.Version.Compare(at.Version) < 0 {
			return pc, at
		}
	}
	return nil, docMeta{}
}

// planConflict decides concurrent edits by the conflict rules: the remote's
// kept, the local one uploaded, or a merge (a new edit after both) written
// to both sides.
func (p *uploadPlan) planConflict(f uploadFacts, r conflictRules) error {
	p.Observe = append(p.Observe, p.Theirs.HLC)
	d, err := r.decide(f.Coll, f.ID, p.Base, f.Local, f.Remote, p.Mine.Version, p.Theirs.Version)
	if err != nil {
		return err
	}
	p.MergeErr = d.mergeErr
	switch d.kept {
	case RemoteSide:
		p.takeRemote(f, outcomeRemoteWon)
	case LocalSide:
		p.Outcome = outcomeConflictUploaded
		p.upload(f.Local)
	default:
		// The merge is a new edit after both.
		if p.Theirs.HLC >= p.Mine.HLC {
			p.Mine.HLC = p.Theirs.HLC + 1
			p.Observe = append(p.Observe, p.Mine.HLC)
		}
		p.Mine.Hash, p.Mine.Deleted = contentHash(d.doc), d.doc == nil
		p.Outcome, p.WriteLocal, p.LocalDoc = outcomeMerged, true, d.doc
		p.upload(d.doc)
	}
	if d.log == nil && d.kept != "" {
		p.Pending = pendingClear
		return nil
	}
	// Recorded before the remote commits: if the process stops after the
	// commit but before the local side has the outcome, the next handling
	// of this document still logs the conflict and finishes a merge.
	p.Pending = pendingMark
	p.Logged = &pendingConflict{Conflict: d.log, Result: p.Mine.Version}
	switch d.kept {
	case RemoteSide:
		p.Logged.Result = p.Theirs.Version
	case "":
		p.Logged.MergedFrom, p.Logged.MergedFromDoc = f.LocalHash, r.baseDoc(f.Local)
		p.Logged.Hash = p.Mine.Hash
	default:
		p.Logged.Hash = p.Mine.Hash
	}
	if old := f.Base.Pending; old != nil && old.Conflict != nil && (d.log == nil || old.Conflict.ID != d.log.ID) {
		// An earlier conflict of this document is still pending (its log
		// write failed, e.g. the remote won, then the application wrote
		// on top): log it before its record is replaced, rather than
		// lose it.
		p.LogFirst = append(p.LogFirst, *old.Conflict)
	}
	return nil
}
