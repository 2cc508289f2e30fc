package sync

import "go.mongodb.org/mongo-driver/v2/bson"

// downloadFacts is everything a download decides from.
type downloadFacts struct {
	Replica string // this replica's id
	// Base is the local base entry (and any pending conflict record).
	Base docMeta
	// Remote is the remote document (nil: absent, or another owner's),
	// RemoteHash its hash; RemoteVer the remote version entry, RemoteVerOK
	// whether there is one.
	Remote      bson.Raw
	RemoteHash  string
	RemoteVer   docMeta
	RemoteVerOK bool
	// Local is the local document (nil: absent), LocalHash its hash.
	Local     bson.Raw
	LocalHash string
	// PT is the physical time that versions a remote write made without
	// mongotide: its change's commit time, or now in a bootstrap.
	PT int64
}

// downloadAction is what a download does to the local side.
type downloadAction int

const (
	// downloadNothing: the remote holds the base (an echo, or a landed
	// upload of ours).
	downloadNothing downloadAction = iota
	// downloadSettle: the local side already holds the remote document
	// (a crash after applying it, before saving the base): only the base
	// moves.
	downloadSettle
	// downloadApply: the local side is unchanged since the base: it gets
	// the remote document, with Theirs as the new base.
	downloadApply
	// downloadDeferred: a local edit is pending: its upload resolves the
	// conflict with the local edit's own version, in one place.
	downloadDeferred
)

// downloadPlan is what a download does, decided by planDownload. The
// executor (Syncer.download) first carries out Landed (logs LandedLog,
// saves Base), then observes Observe, logs Log, and does Action.
type downloadPlan struct {
	Action downloadAction
	// Landed: the base entry held a pending record of an upload of ours
	// that committed but whose base was never saved; Base is what it
	// wrote, saved before anything else, and LandedLog its conflict.
	Landed    bool
	LandedLog *Conflict
	// Base is the base the download was judged against.
	Base docMeta
	// Theirs is the new base for downloadSettle and downloadApply.
	Theirs  docMeta
	Observe []int64
	// Log are pending conflicts that took effect: the base moves to their
	// outcome now.
	Log []Conflict
	// MarkRemoteAhead (downloadDeferred): flag the base entry, because the
	// pending upload may find its edit undone by then (the local document
	// equal to the base again), which alone would look like nothing to do.
	MarkRemoteAhead bool
}

// downloadIsEcho reports, before anything else is read, that a remote
// change needs nothing: the remote holds the base and no conflict is
// pending (an echo of our upload, already applied, or not ours).
func downloadIsEcho(rhash string, base docMeta) bool {
	return rhash == base.Hash && base.Pending == nil
}

// planDownload decides a download. It is pure. The cases, in order:
//   - the base moves first to a landed upload of ours (see
//     pendingConflict.landedUpload: judged against the stale base, the local
//     side could look unchanged and a remote change would overwrite that
//     local edit and drop the pending conflict unlogged; the echo of the
//     upload, which would have settled it, is skipped as our own);
//   - the remote holds the base: nothing to do;
//   - the local side holds the remote document: the base moves;
//   - the local side is unchanged since the base: it gets the remote's;
//   - a local edit is pending: its upload decides (deferred).
func planDownload(f downloadFacts, r conflictRules) downloadPlan {
	p := downloadPlan{Base: f.Base}
	if nb, ok := f.Base.Pending.landedUpload(f.Replica, f.RemoteVer, f.RemoteVerOK); ok {
		if nb.Hash == f.RemoteHash {
			nb.Doc = r.baseDoc(f.Remote)
		}
		p.Landed, p.LandedLog, p.Base = true, f.Base.Pending.Conflict, nb
	}
	if f.RemoteHash == p.Base.Hash {
		return p
	}
	p.Theirs = f.RemoteVer
	if !f.RemoteVerOK || f.RemoteVer.Hash != f.RemoteHash {
		// Written without mongotide (or never versioned): versioned by
		// its commit time, after the base.
		p.Theirs = docMeta{Version: Version{HLC: max(f.PT, p.Base.HLC+1), Replica: RemoteReplica}, Hash: f.RemoteHash, Deleted: f.Remote == nil}
	}
	p.Observe = append(p.Observe, p.Theirs.HLC)
	switch f.LocalHash {
	case f.RemoteHash:
		p.Action = downloadSettle
	case p.Base.Hash:
		p.Action = downloadApply
	default:
		p.Action, p.MarkRemoteAhead = downloadDeferred, !p.Base.RemoteAhead
		return p
	}
	if c := p.Base.Pending.tookEffect(p.Theirs.Version, f.RemoteHash); c != nil {
		p.Log = append(p.Log, *c)
	}
	p.Theirs.Doc = r.baseDoc(f.Remote)
	return p
}
