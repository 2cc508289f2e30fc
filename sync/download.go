package sync

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// download brings a remote change of (coll, id) to the local side. rdoc is
// the remote document when the caller already has it (bootstrap); else it is
// read. ts is the change's cluster time (zero in bootstrap). planDownload
// decides; this function and its helpers read the facts and carry out the
// plan.
func (s *Syncer) download(ctx context.Context, cs *collState, id bson.RawValue, rdoc bson.Raw, have bool, wall time.Time, ts bson.Timestamp) error {
	unlock := s.lock(cs.name, id)
	defer unlock()
	f, echo, err := s.downloadFacts(ctx, cs, id, rdoc, have, wall, ts)
	if err != nil || echo {
		return err
	}
	return s.applyDownloadPlan(ctx, cs, id, f, planDownload(f, s.rules(nil)))
}

// downloadFacts reads what a download decides from. echo reports a change
// that needs nothing (downloadIsEcho), found before the remote version
// entry and the local document are read.
func (s *Syncer) downloadFacts(ctx context.Context, cs *collState, id bson.RawValue, rdoc bson.Raw, have bool, wall time.Time, ts bson.Timestamp) (f downloadFacts, echo bool, err error) {
	f.Replica = s.replica
	if !have {
		rdoc, err = readDoc(ctx, s.cfg.Remote.Collection(cs.name), id)
		s.remoteResult(err)
		if err != nil {
			return f, false, fmt.Errorf("sync: read remote %s: %w", cs.name, err)
		}
	}
	if rdoc != nil {
		owned, err := s.owns(rdoc)
		if err != nil {
			return f, false, err // fail closed
		}
		if !owned {
			// Someone else's document: for this replica it does not exist
			// (one that left this owner is deleted locally).
			rdoc = nil
		}
	}
	f.Remote, f.RemoteHash = rdoc, contentHash(rdoc)
	if f.Base, _, err = loadMeta(ctx, s.localDocs, cs.name, id); err != nil {
		return f, false, fmt.Errorf("sync: read base of %s: %w", cs.name, err)
	}
	if downloadIsEcho(f.RemoteHash, f.Base) {
		return f, true, nil
	}
	f.RemoteVer, f.RemoteVerOK, err = loadMeta(ctx, s.remoteVers, cs.name, id)
	s.remoteResult(err)
	if err != nil {
		return f, false, fmt.Errorf("sync: read remote version of %s: %w", cs.name, err)
	}
	if f.Local, err = readDoc(ctx, s.cfg.Local.Collection(cs.name), id); err != nil {
		return f, false, fmt.Errorf("sync: read local %s: %w", cs.name, err)
	}
	f.LocalHash = contentHash(f.Local)
	f.PT = eventHLC(wall, ts)
	if ts.IsZero() {
		f.PT = s.clock.Now()
	}
	return f, false, nil
}

// applyDownloadPlan carries out plan.
func (s *Syncer) applyDownloadPlan(ctx context.Context, cs *collState, id bson.RawValue, f downloadFacts, plan downloadPlan) error {
	if plan.Landed {
		if plan.LandedLog != nil {
			if err := s.logConflict(ctx, *plan.LandedLog); err != nil {
				return err
			}
		}
		if err := saveMeta(ctx, s.localDocs, cs.name, id, plan.Base); err != nil {
			return fmt.Errorf("sync: save base of %s: %w", cs.name, err)
		}
	}
	for _, o := range plan.Observe {
		s.clock.Observe(o)
	}
	switch plan.Action {
	case downloadNothing:
		return nil
	case downloadDeferred:
		if plan.MarkRemoteAhead {
			if err := markRemoteAhead(ctx, s.localDocs, cs.name, id); err != nil {
				return fmt.Errorf("sync: flag remote change of %s: %w", cs.name, err)
			}
		}
		return nil
	}
	for _, c := range plan.Log {
		if err := s.logConflict(ctx, c); err != nil {
			return err
		}
	}
	theirs := plan.Theirs
	if plan.Action == downloadSettle {
		if err := saveMeta(ctx, s.localDocs, cs.name, id, theirs); err != nil {
			return fmt.Errorf("sync: save base of %s: %w", cs.name, err)
		}
		return nil
	}
	ok, err := s.applyLocal(ctx, cs.name, id, f.Local, f.Remote, &theirs)
	if err != nil {
		return fmt.Errorf("sync: apply remote %s: %w", cs.name, err)
	}
	if !ok {
		// The application wrote the document after it was read: a local
		// edit is pending now, and its upload decides.
		return nil
	}
	cs.downloaded.Add(1)
	s.notify(SyncEvent{Collection: cs.name, ID: id, Direction: Download, Deleted: f.Remote == nil, Version: theirs.Version})
	return nil
}
