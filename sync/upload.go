package sync

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// upload brings a local change of (coll, id) to the remote.
//
// wall and ts are the commit times of the local change; the edit's version
// is stamped from them, not from when the upload runs, so an edit made
// offline keeps its place in last-writer-wins.
//
// op and evDoc are the change's operation type and post-image (insert and
// replace; "" and nil when reconciling): a change that only re-states the
// base is the echo of a write this replica applied, skipped even when the
// document changed again since (that later change has its own event, with
// its own time to stamp).
//
// planUpload decides; this function and its helpers only read the facts and
// carry out the plan.
func (s *Syncer) upload(ctx context.Context, cs *collState, id bson.RawValue, op listen.OperationType, evDoc bson.Raw, wall time.Time, ts bson.Timestamp) error {
	unlock := s.lock(cs.name, id)
	defer unlock()
	f, skip, err := s.uploadLocalFacts(ctx, cs, id, op, evDoc)
	if err != nil || skip {
		return err
	}
	f.Mine = docMeta{Version: Version{HLC: s.clock.stamp(eventHLC(wall, ts), f.Base.Version), Replica: s.replica}, Hash: f.LocalHash, Deleted: f.Local == nil}
	plan, err := s.uploadRemote(ctx, cs, f)
	s.cfg.Logger.Debug("sync: upload", "coll", cs.name, "id", id, "outcome", plan.Outcome.String(), "err", err, "base", plan.Base.Version, "local", f.LocalHash, "agreed", plan.Agreed.Version)
	if err != nil {
		return fmt.Errorf("sync: upload to %s: %w", cs.name, err)
	}
	if plan.Outcome == outcomeRefused {
		s.reportError(fmt.Errorf("%w: remote %s %s belongs to another owner; local change not uploaded", ErrNotOwned, cs.name, id))
		return nil
	}
	if err := s.finishUpload(ctx, cs, f, plan); err != nil {
		s.cfg.Logger.Debug("sync: upload not finished", "coll", cs.name, "id", id, "outcome", plan.Outcome.String(), "err", err)
		return err
	}
	return nil
}

// uploadLocalFacts reads the local side of an upload: the document and its
// base. skip reports a change that needs no upload (skipUpload), or one
// refused because the local document is another owner's.
func (s *Syncer) uploadLocalFacts(ctx context.Context, cs *collState, id bson.RawValue, op listen.OperationType, evDoc bson.Raw) (f uploadFacts, skip bool, err error) {
	f = uploadFacts{Coll: cs.name, ID: id, Replica: s.replica}
	if f.Local, err = readDoc(ctx, s.cfg.Local.Collection(cs.name), id); err != nil {
		return f, false, fmt.Errorf("sync: read local %s: %w", cs.name, err)
	}
	f.LocalHash = contentHash(f.Local)
	if f.Base, _, err = loadMeta(ctx, s.localDocs, cs.name, id); err != nil {
		return f, false, fmt.Errorf("sync: read base of %s: %w", cs.name, err)
	}
	if skipUpload(op, evDoc, f.Local, f.LocalHash, f.Base) {
		return f, true, nil
	}
	if f.Local != nil {
		owned, err := s.owns(f.Local)
		if err != nil {
			return f, false, err // fail closed: retried, never synced unchecked
		}
		if !owned {
			s.reportError(fmt.Errorf("%w: local %s %s refused upload", ErrNotOwned, cs.name, id))
			return f, true, nil
		}
	}
	return f, false, nil
}

// uploadRemote runs the remote transaction of an upload: the remote version
// entry and document change together, guarded by the remote's current
// state, so a concurrent writer makes one of the transactions retry and
// then see the other's write. Each attempt reads the remote afresh and plans
// again. The returned plan is the committed attempt's.
func (s *Syncer) uploadRemote(ctx context.Context, cs *collState, f uploadFacts) (uploadPlan, error) {
	var (
		plan    uploadPlan
		marked  bool // a pending conflict record of this upload is in the base entry
		txnSess *mongo.Session
	)
	err := s.remoteTxn(ctx, func(tctx context.Context) error {
		txnSess = mongo.SessionFromContext(tctx)
		f.Prev, plan = plan.Logged, uploadPlan{Base: f.Base}
		if err := s.uploadRemoteFacts(tctx, cs, &f); err != nil {
			return err
		}
		var err error
		if plan, err = planUpload(f, s.rules(s.resolver(ctx))); err != nil {
			return err
		}
		return s.applyUploadPlan(ctx, tctx, cs, f, plan, &marked)
	})
	s.remoteResult(err)
	if err == nil && txnSess != nil && plan.WriteRemote {
		// The download stream then skips this write's echo. (A
		// transaction that only read has no echo: its commit time is
		// another write's, maybe a remote edit of this document.)
		s.ownRemote.add(txnSess.OperationTime(), cs.name, f.ID)
	}
	plan.marked = marked
	return plan, err
}

// uploadRemoteFacts reads the remote side of an upload into f.
func (s *Syncer) uploadRemoteFacts(tctx context.Context, cs *collState, f *uploadFacts) error {
	rdoc, err := readDoc(tctx, s.cfg.Remote.Collection(cs.name), f.ID)
	if err != nil {
		return err
	}
	f.Remote, f.RemoteRefused = rdoc, false
	if rdoc != nil {
		owned, err := s.owns(rdoc)
		if err != nil {
			return err
		}
		f.RemoteRefused = !owned
	}
	f.RemoteHash = contentHash(rdoc)
	f.RemoteVer, f.RemoteVerOK, err = loadMeta(tctx, s.remoteVers, cs.name, f.ID)
	return err
}

// applyUploadPlan carries out the part of plan that belongs in the remote
// transaction: conflicts that already took effect are logged, the pending
// record is set or cleared (local writes, before the commit), and the
// remote gets the upload.
func (s *Syncer) applyUploadPlan(ctx, tctx context.Context, cs *collState, f uploadFacts, plan uploadPlan, marked *bool) error {
	for _, o := range plan.Observe {
		s.clock.Observe(o)
	}
	if plan.MergeErr != nil {
		s.reportError(plan.MergeErr)
	}
	for _, c := range plan.LogFirst {
		if err := s.logConflict(ctx, c); err != nil {
			return err
		}
	}
	switch plan.Pending {
	case pendingClear:
		if err := s.clearPending(ctx, cs.name, f.ID, marked); err != nil {
			return err
		}
	case pendingMark:
		if err := markPending(ctx, s.localDocs, cs.name, f.ID, plan.Logged); err != nil {
			return fmt.Errorf("record pending conflict: %w", err)
		}
		*marked = true
	}
	if !plan.WriteRemote {
		return nil
	}
	if err := saveMeta(tctx, s.remoteVers, cs.name, f.ID, plan.Mine); err != nil {
		return err
	}
	return writeDoc(tctx, s.cfg.Remote.Collection(cs.name), f.ID, plan.UploadDoc)
}

// finishUpload carries out the part of a committed plan that follows the
// remote commit: the local side gets the outcome, conflicts are logged and
// the base moves.
func (s *Syncer) finishUpload(ctx context.Context, cs *collState, f uploadFacts, plan uploadPlan) error {
	agreed := plan.Agreed
	agreed.Doc = s.baseDoc(plan.AgreedDoc)
	if plan.WriteLocal {
		if err := s.writeUploadLocal(ctx, cs, f.ID, plan.Outcome, f.Local, plan.LocalDoc, agreed, plan.Logged, plan.Landed, &plan.marked); err != nil {
			return err
		}
	}
	// Logged before the base moves: a failure in between leaves the
	// pending conflict in the base entry, and the next handling of the
	// document (a retry, the echo, a redelivery) logs it. An outcome the
	// local side took from the remote was logged in its own transaction
	// (writeUploadLocal): logging it again here put back an entry the
	// application had dismissed in between, from OnConflict even.
	loggedLocally := plan.WriteLocal && plan.Outcome != outcomeMerged
	var justLogged *Conflict
	for _, p := range []*pendingConflict{plan.Landed, plan.Logged} {
		if p != nil && p.Conflict != nil {
			if !loggedLocally {
				if err := s.logConflict(ctx, *p.Conflict); err != nil {
					return err
				}
			}
			justLogged = p.Conflict
		}
	}
	if err := s.settlePending(ctx, plan.Base, plan.Agreed.Version, justLogged); err != nil {
		return err
	}
	if err := saveMeta(ctx, s.localDocs, cs.name, f.ID, agreed); err != nil {
		return fmt.Errorf("sync: save base of %s: %w", cs.name, err)
	}
	s.notifyUpload(cs, f.ID, plan.Outcome, f.Local, plan.LocalDoc, agreed.Version, plan.Logged)
	return nil
}

// skipUpload reports whether a local change needs no upload: pure, decided
// from the change's operation type and post-image, the local document as read
// now (doc, hash) and the base.
func skipUpload(op listen.OperationType, evDoc, doc bson.Raw, hash string, base docMeta) bool {
	if hash == base.Hash && base.Pending == nil && !base.RemoteAhead {
		// An echo of a downloaded write, or a no-op write. (With a
		// pending record the base may be stale: the upload that recorded
		// it may have committed, and the local document may have gone
		// back to the old base since, e.g. deleted again: that is a new
		// edit on top of the committed one.)
		return true
	}
	switch {
	case base.Pending != nil, base.RemoteAhead && hash == base.Hash:
		// A conflict of this document still awaits its log entry (the
		// write failed after the commit), or a download left a remote
		// change to a local edit that is undone now: the change is
		// handled in full (it is idempotent), which settles it, rather
		// than skipped. (While the local edit stands, the event that
		// wrote it uploads it with its own time, and brings the remote
		// change down with it: the skips below still apply.)
	case (op == listen.Insert || op == listen.Replace) && evDoc != nil && contentHash(evDoc) == base.Hash,
		op == listen.Delete && base.Hash == absentHash:
		return true
	case (op == listen.Insert || op == listen.Replace) && evDoc != nil && contentHash(evDoc) != hash,
		op == listen.Delete && doc != nil:
		// Superseded: the document was written again after this change
		// (a later event, with its own commit time, follows). Uploaded
		// now, the newer content would carry this older time and could
		// lose last-writer-wins to an edit made before it. (An update
		// event carries no post-image, so it cannot tell.)
		return true
	}
	return false
}

// notifyUpload counts an upload's outcome and reports it to OnSync. doc is
// the local document the upload read, localDoc what was written to the local
// side, v the agreed version.
func (s *Syncer) notifyUpload(cs *collState, id bson.RawValue, outcome syncOutcome, doc, localDoc bson.Raw, v Version, logged *pendingConflict) {
	s.notify(uploadEvents(nil, cs, id, outcome, doc, localDoc, v, logged)...)
}

// uploadEvents counts an upload's outcome and appends its OnSync events to
// evs (see notifyUpload).
func uploadEvents(evs []SyncEvent, cs *collState, id bson.RawValue, outcome syncOutcome, doc, localDoc bson.Raw, v Version, logged *pendingConflict) []SyncEvent {
	conflict := (logged != nil && logged.Conflict != nil) || outcome == outcomeMerged
	switch outcome {
	case outcomeMerged:
		cs.uploaded.Add(1)
		cs.downloaded.Add(1)
		evs = append(evs, SyncEvent{Collection: cs.name, ID: id, Direction: Upload, Deleted: localDoc == nil, Version: v, Conflict: true},
			SyncEvent{Collection: cs.name, ID: id, Direction: Download, Deleted: localDoc == nil, Version: v, Conflict: true})
	case outcomeUploaded, outcomeConflictUploaded:
		cs.uploaded.Add(1)
		evs = append(evs, SyncEvent{Collection: cs.name, ID: id, Direction: Upload, Deleted: doc == nil, Version: v, Conflict: conflict})
	case outcomeDownloaded:
		cs.downloaded.Add(1)
		evs = append(evs, SyncEvent{Collection: cs.name, ID: id, Direction: Download, Deleted: localDoc == nil, Version: v})
	case outcomeRemoteWon:
		cs.downloaded.Add(1)
		evs = append(evs, SyncEvent{Collection: cs.name, ID: id, Direction: Download, Deleted: localDoc == nil, Version: v, Conflict: true})
	}
	return evs
}

// writeUploadLocal writes an upload's outcome (the remote's document, or a
// merge committed on the remote) to the local side. doc is the local
// document the upload read; marked tells whether a pending conflict was
// recorded locally.
func (s *Syncer) writeUploadLocal(ctx context.Context, cs *collState, id bson.RawValue, outcome syncOutcome, doc, localDoc bson.Raw, agreed docMeta, logged, landed *pendingConflict, marked *bool) error {
	var (
		ok  bool
		err error
	)
	if outcome == outcomeMerged {
		// Committed on the remote: the local side must get it, with
		// any write the application made meanwhile merged in.
		ok, err = s.applyMerged(ctx, cs.name, id, doc, localDoc)
	} else {
		// The remote's document, with the new base and the conflict
		// that decided it, in one local transaction: applied, then the
		// log write failing, left the pending record the only trace,
		// and an application write on top made the next upload drop it
		// unlogged.
		var logs, added []Conflict
		for _, p := range []*pendingConflict{landed, logged} {
			if p != nil && p.Conflict != nil {
				logs = append(logs, *p.Conflict)
			}
		}
		ok, added, err = s.applyLocalLogged(ctx, cs.name, id, doc, localDoc, &agreed, logs)
		if s.cfg.OnConflict != nil {
			for _, c := range added {
				s.callback(func() { s.cfg.OnConflict(c) })
			}
		}
	}
	if err != nil {
		return fmt.Errorf("sync: apply %s outcome to local %s: %w", outcome, cs.name, err)
	}
	if !ok {
		// The application wrote the document after it was read: that
		// write is decided by the retry, not overwritten. A merge is
		// on the remote already: its pending record stays, marked
		// committed, so that the retry merges against it.
		if p := cmp.Or(logged, landed); outcome == outcomeMerged && p != nil {
			p.Committed = true
			if err := markPending(ctx, s.localDocs, cs.name, id, p); err != nil {
				return fmt.Errorf("sync: record committed merge of %s: %w", cs.name, err)
			}
		} else if err := s.clearPending(ctx, cs.name, id, marked); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s %s", errLocalChanged, cs.name, id)
	}
	return nil
}
