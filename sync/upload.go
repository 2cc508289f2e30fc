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
func (s *Syncer) upload(ctx context.Context, cs *collState, id bson.RawValue, op listen.OperationType, evDoc bson.Raw, wall time.Time, ts bson.Timestamp) error {
	unlock := s.lock(cs.name, id)
	defer unlock()
	local := s.cfg.Local.Collection(cs.name)
	remote := s.cfg.Remote.Collection(cs.name)

	doc, err := readDoc(ctx, local, id)
	if err != nil {
		return fmt.Errorf("sync: read local %s: %w", cs.name, err)
	}
	hash := contentHash(doc)
	base, _, err := loadMeta(ctx, s.localDocs, cs.name, id)
	if err != nil {
		return fmt.Errorf("sync: read base of %s: %w", cs.name, err)
	}
	if skipUpload(op, evDoc, doc, hash, base) {
		return nil
	}
	if doc != nil {
		owned, err := s.owns(doc)
		if err != nil {
			return err // fail closed: retried, never synced unchecked
		}
		if !owned {
			s.reportError(fmt.Errorf("%w: local %s %s refused upload", ErrNotOwned, cs.name, id))
			return nil
		}
	}
	mine := docMeta{Version: Version{HLC: s.clock.stamp(eventHLC(wall, ts), base.Version), Replica: s.replica}, Hash: hash, Deleted: doc == nil}

	// The remote version entry and document change together, guarded by
	// the remote's current state: a concurrent writer makes one of the
	// transactions retry and then see the other's write.
	var (
		agreed    docMeta  // the new base
		agreedDoc bson.Raw // the document both sides hold afterwards
		// localDoc is written to the local side when the outcome is not
		// the local document (the remote won, or a merge).
		localDoc   bson.Raw
		writeLocal bool
		logged     *pendingConflict // the outcome recorded as pending
		landed     *pendingConflict // an earlier merge found committed
		marked     bool             // a pending conflict was recorded locally
		outcome    syncOutcome
	)
	base0 := base
	var txnSess *mongo.Session // for the commit time (see ownWrites)
	wrote := false             // the committed attempt wrote the remote
	err = s.remoteTxn(ctx, func(tctx context.Context) error {
		txnSess = mongo.SessionFromContext(tctx)
		// Each attempt decides afresh (a retried transaction may see
		// another remote state).
		prev := logged
		wrote = false
		writeLocal, logged, landed, localDoc, outcome, base = false, nil, nil, nil, outcomeNone, base0
		rdoc, err := readDoc(tctx, remote, id)
		if err != nil {
			return err
		}
		if rdoc != nil {
			owned, err := s.owns(rdoc)
			if err != nil {
				return err
			}
			if !owned {
				outcome = outcomeRefused
				return s.clearPending(ctx, cs.name, id, &marked)
			}
		}
		rhash := contentHash(rdoc)
		rmeta, rok, err := loadMeta(tctx, s.remoteVers, cs.name, id)
		if err != nil {
			return err
		}
		if p := base0.Pending; p.landedMerge(rmeta, rok, rhash) {
			// An earlier attempt's merge committed on the remote but never
			// reached the local side (the application kept writing the
			// document, or the process stopped). Both sides agreed on the
			// local document it was merged from (the merge holds all of
			// its changes), so that is the base: the local side's changes
			// since are new edits, the remote's (the merge, and whatever
			// was written on top of it) remote edits. The merge's own
			// conflict did happen: it is logged.
			landed = p
			base = docMeta{Version: p.Result, Hash: p.MergedFrom, Deleted: p.MergedFrom == absentHash,
				Doc: p.MergedFromDoc, Pending: p}
			if mine.HLC <= base.HLC {
				mine.HLC = base.HLC + 1
				s.clock.Observe(mine.HLC)
			}
		} else if rok && rmeta.Replica == s.replica && base.Version.Compare(rmeta.Version) < 0 && (rmeta.Hash == hash || p == nil || p.MergedFrom == "") {
			// An earlier upload of ours landed but its base was never
			// saved locally (a failure after the remote commit): that
			// write is what both sides last agreed on. Against the stale
			// base a remote change made since would look like no change
			// and be overwritten (a remote delete undone), and a local
			// edit made since, stamped with the retried event's older
			// time, could lose to its own predecessor. (A landed merge
			// the local side does not hold yet is handled above.)
			base = docMeta{Version: rmeta.Version, Hash: rmeta.Hash, Deleted: rmeta.Deleted, Pending: base0.Pending}
			switch {
			case rmeta.Hash == hash:
				base.Doc = s.baseDoc(doc)
			case rmeta.Hash == rhash:
				// The remote still holds that write: FieldMerge merges
				// against it rather than falling back to last writer wins.
				base.Doc = s.baseDoc(rdoc)
			}
			if pc := base0.Pending; pc != nil && pc.Conflict != nil && pc.Result == rmeta.Version {
				// That upload decided a conflict whose log write failed:
				// it took effect, so it is logged now, whatever this
				// attempt decides (the base moves past it).
				if err := s.logConflict(ctx, *pc.Conflict); err != nil {
					return err
				}
			}
			if mine.HLC <= base.HLC {
				mine.HLC = base.HLC + 1
				s.clock.Observe(mine.HLC)
			}
		}
		theirs := rmeta
		if !rok || rmeta.Hash != rhash {
			// Written without mongotide (or never versioned).
			theirs = docMeta{Version: Version{HLC: base.HLC + 1, Replica: RemoteReplica}, Hash: rhash, Deleted: rdoc == nil}
		}
		up, m := doc, mine
		if landed != nil && hash == landed.MergedFrom {
			// Nothing changed locally since: the local side gets what the
			// remote holds (the merge, or what was written on top of it).
			agreed, agreedDoc, outcome = theirs, rdoc, outcomeMerged
			localDoc, writeLocal = rdoc, true
			return nil
		}
		switch {
		case hash == base.Hash && rhash != hash:
			// Only the remote changed since the landed upload: bring it
			// down (its download was judged against the stale base).
			agreed, agreedDoc, outcome = theirs, rdoc, outcomeDownloaded
			localDoc, writeLocal = rdoc, true
			return s.clearPending(ctx, cs.name, id, &marked)
		case rhash == hash:
			agreed, agreedDoc, outcome = theirs, doc, outcomeSame
			if prev != nil && prev.Result == theirs.Version {
				// The earlier attempt committed after all (its commit
				// was reported failed, e.g. the connection dropped and
				// the retry met a restarted server): its conflict stands.
				logged = prev
				return nil
			}
			return s.clearPending(ctx, cs.name, id, &marked)
		case rhash == base.Hash:
			outcome = outcomeUploaded
			if err := s.clearPending(ctx, cs.name, id, &marked); err != nil {
				return err
			}
		default:
			s.clock.Observe(theirs.HLC)
			d, err := s.decide(tctx, cs.name, id, base, doc, rdoc, mine.Version, theirs.Version)
			if err != nil {
				return err
			}
			switch d.kept {
			case RemoteSide:
				agreed, agreedDoc, outcome = theirs, rdoc, outcomeRemoteWon
				localDoc, writeLocal = rdoc, true
			case LocalSide:
				outcome = outcomeConflictUploaded
			default:
				// The merge is a new edit after both.
				if theirs.HLC >= m.HLC {
					m.HLC = theirs.HLC + 1
					s.clock.Observe(m.HLC)
				}
				up, outcome = d.doc, outcomeMerged
				localDoc, writeLocal = d.doc, true
				m.Hash, m.Deleted = contentHash(d.doc), d.doc == nil
			}
			if d.log != nil || d.kept == "" {
				// Recorded before the remote commits: if the process
				// stops after the commit but before the local side has
				// the outcome, the next handling of this document still
				// logs the conflict and finishes a merge.
				logged = &pendingConflict{Conflict: d.log, Result: m.Version}
				switch d.kept {
				case RemoteSide:
					logged.Result = theirs.Version
				case "":
					logged.MergedFrom, logged.MergedFromDoc = hash, s.baseDoc(doc)
				}
				if old := base0.Pending; old != nil && old.Conflict != nil && (d.log == nil || old.Conflict.ID != d.log.ID) {
					// An earlier conflict of this document is still
					// pending (its log write failed, e.g. the remote won,
					// then the application wrote on top): log it before
					// its record is replaced, rather than lose it.
					if err := s.logConflict(ctx, *old.Conflict); err != nil {
						return err
					}
				}
				if err := markPending(ctx, s.localDocs, cs.name, id, logged); err != nil {
					return fmt.Errorf("record pending conflict: %w", err)
				}
				marked = true
			} else if err := s.clearPending(ctx, cs.name, id, &marked); err != nil {
				return err
			}
			if d.kept == RemoteSide {
				return nil
			}
		}
		if err := saveMeta(tctx, s.remoteVers, cs.name, id, m); err != nil {
			return err
		}
		agreed, agreedDoc, wrote = m, up, true
		return writeDoc(tctx, remote, id, up)
	})
	s.remoteResult(err)
	if err == nil && txnSess != nil && wrote {
		// The download stream then skips this write's echo. (A
		// transaction that only read has no echo: its commit time is
		// another write's, maybe a remote edit of this document.)
		s.ownRemote.add(txnSess.OperationTime(), cs.name, id)
	}
	s.cfg.Logger.Debug("sync: upload", "coll", cs.name, "id", id, "outcome", outcome.String(), "err", err, "base", base.Version, "local", hash, "agreed", agreed.Version)
	if err != nil {
		return fmt.Errorf("sync: upload to %s: %w", cs.name, err)
	}
	if outcome == outcomeRefused {
		s.reportError(fmt.Errorf("%w: remote %s %s belongs to another owner; local change not uploaded", ErrNotOwned, cs.name, id))
		return nil
	}
	if writeLocal {
		if err := s.writeUploadLocal(ctx, cs, id, outcome, doc, localDoc, logged, landed, &marked); err != nil {
			return err
		}
	}
	// Logged before the base moves: a failure in between leaves the
	// pending conflict in the base entry, and the next handling of the
	// document (a retry, the echo, a redelivery) logs it.
	var justLogged *Conflict
	for _, p := range []*pendingConflict{landed, logged} {
		if p != nil && p.Conflict != nil {
			if err := s.logConflict(ctx, *p.Conflict); err != nil {
				return err
			}
			justLogged = p.Conflict
		}
	}
	if err := s.settlePending(ctx, base, agreed.Version, justLogged); err != nil {
		return err
	}
	agreed.Doc = s.baseDoc(agreedDoc)
	if err := saveMeta(ctx, s.localDocs, cs.name, id, agreed); err != nil {
		return fmt.Errorf("sync: save base of %s: %w", cs.name, err)
	}
	s.notifyUpload(cs, id, outcome, doc, localDoc, agreed.Version, logged)
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
	conflict := (logged != nil && logged.Conflict != nil) || outcome == outcomeMerged
	switch outcome {
	case outcomeMerged:
		cs.uploaded.Add(1)
		cs.downloaded.Add(1)
		s.notify(SyncEvent{Collection: cs.name, ID: id, Direction: Upload, Deleted: localDoc == nil, Version: v, Conflict: true})
		s.notify(SyncEvent{Collection: cs.name, ID: id, Direction: Download, Deleted: localDoc == nil, Version: v, Conflict: true})
	case outcomeUploaded, outcomeConflictUploaded:
		cs.uploaded.Add(1)
		s.notify(SyncEvent{Collection: cs.name, ID: id, Direction: Upload, Deleted: doc == nil, Version: v, Conflict: conflict})
	case outcomeDownloaded:
		cs.downloaded.Add(1)
		s.notify(SyncEvent{Collection: cs.name, ID: id, Direction: Download, Deleted: localDoc == nil, Version: v})
	case outcomeRemoteWon:
		cs.downloaded.Add(1)
		s.notify(SyncEvent{Collection: cs.name, ID: id, Direction: Download, Deleted: localDoc == nil, Version: v, Conflict: true})
	}
}

// writeUploadLocal writes an upload's outcome (the remote's document, or a
// merge committed on the remote) to the local side. doc is the local
// document the upload read; marked tells whether a pending conflict was
// recorded locally.
func (s *Syncer) writeUploadLocal(ctx context.Context, cs *collState, id bson.RawValue, outcome syncOutcome, doc, localDoc bson.Raw, logged, landed *pendingConflict, marked *bool) error {
	var (
		ok  bool
		err error
	)
	if outcome == outcomeMerged {
		// Committed on the remote: the local side must get it, with
		// any write the application made meanwhile merged in.
		ok, err = s.applyMerged(ctx, cs.name, id, doc, localDoc)
	} else {
		ok, err = s.applyLocal(ctx, cs.name, id, doc, localDoc, nil)
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
