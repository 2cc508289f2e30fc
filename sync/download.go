package sync

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// download brings a remote change of (coll, id) to the local side. rdoc is
// the remote document when the caller already has it (bootstrap); else it is
// read. ts is the change's cluster time (zero in bootstrap).
func (s *Syncer) download(ctx context.Context, cs *collState, id bson.RawValue, rdoc bson.Raw, have bool, wall time.Time, ts bson.Timestamp) error {
	unlock := s.lock(cs.name, id)
	defer unlock()
	local := s.cfg.Local.Collection(cs.name)
	remote := s.cfg.Remote.Collection(cs.name)

	if !have {
		var err error
		rdoc, err = readDoc(ctx, remote, id)
		s.remoteResult(err)
		if err != nil {
			return fmt.Errorf("sync: read remote %s: %w", cs.name, err)
		}
	}
	if rdoc != nil {
		owned, err := s.owns(rdoc)
		if err != nil {
			return err // fail closed
		}
		if !owned {
			// Someone else's document: for this replica it does not exist
			// (one that left this owner is deleted locally below).
			rdoc = nil
		}
	}
	rhash := contentHash(rdoc)
	base, _, err := loadMeta(ctx, s.localDocs, cs.name, id)
	if err != nil {
		return fmt.Errorf("sync: read base of %s: %w", cs.name, err)
	}
	if rhash == base.Hash && base.Pending == nil {
		return nil // an echo of our upload, already applied, or not ours
	}
	rmeta, rok, err := loadMeta(ctx, s.remoteVers, cs.name, id)
	s.remoteResult(err)
	if err != nil {
		return fmt.Errorf("sync: read remote version of %s: %w", cs.name, err)
	}
	if base, err = s.settleLandedUpload(ctx, cs.name, id, base, rmeta, rok, rdoc); err != nil {
		return err
	}
	if rhash == base.Hash {
		return nil
	}
	theirs := rmeta
	if !rok || rmeta.Hash != rhash {
		pt := eventHLC(wall, ts)
		if ts.IsZero() {
			pt = s.clock.Now()
		}
		theirs = docMeta{Version: Version{HLC: s.clock.stamp(pt, base.Version), Replica: RemoteReplica}, Hash: rhash, Deleted: rdoc == nil}
	}
	s.clock.Observe(theirs.HLC)

	ldoc, err := readDoc(ctx, local, id)
	if err != nil {
		return fmt.Errorf("sync: read local %s: %w", cs.name, err)
	}
	switch lhash := contentHash(ldoc); lhash {
	case rhash:
		// Already equal (e.g. a crash after applying, before saving the
		// base): only the base moves.
		if err := s.settleByContent(ctx, base, rhash); err != nil {
			return err
		}
	case base.Hash:
		if err := s.settlePending(ctx, base, theirs.Version, nil); err != nil {
			return err
		}
		if err := s.settleByContent(ctx, base, rhash); err != nil {
			return err
		}
		theirs.Doc = s.baseDoc(rdoc)
		ok, err := s.applyLocal(ctx, cs.name, id, ldoc, rdoc, &theirs)
		if err != nil {
			return fmt.Errorf("sync: apply remote %s: %w", cs.name, err)
		}
		if !ok {
			// The application wrote the document after it was read: a
			// local edit is pending now, as below.
			return nil
		}
		cs.downloaded.Add(1)
		s.notify(SyncEvent{Collection: cs.name, ID: id, Direction: Download, Deleted: rdoc == nil, Version: theirs.Version})
		return nil
	default:
		// A local edit is pending: its upload resolves the conflict with
		// the local edit's own version, in one place. Flagged, because
		// that upload may find the edit undone by then (the local
		// document equal to the base again), which alone would look like
		// nothing to do.
		if !base.RemoteAhead {
			if err := markRemoteAhead(ctx, s.localDocs, cs.name, id); err != nil {
				return fmt.Errorf("sync: flag remote change of %s: %w", cs.name, err)
			}
		}
		return nil
	}
	if err := s.settlePending(ctx, base, theirs.Version, nil); err != nil {
		return err
	}
	theirs.Doc = s.baseDoc(rdoc)
	if err := saveMeta(ctx, s.localDocs, cs.name, id, theirs); err != nil {
		return fmt.Errorf("sync: save base of %s: %w", cs.name, err)
	}
	return nil
}
