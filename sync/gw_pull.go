package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mongotide/mongotide/gateway/client"
	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// gwLongpollWait is how long one pull waits for a change: under the
// gateway's default MaxLongPoll (60 s) and the idle timeouts of common
// proxies.
const gwLongpollWait = 25 * time.Second

// gwRunCollection is runCollection under a gateway remote: the snapshot
// (retried until the gateway answers), then uploads from the local change
// stream and downloads pulled from the gateway until ctx ends.
func (s *Syncer) gwRunCollection(ctx context.Context, cs *collState) {
	var st gwState
	if !s.retry(ctx, func() (err error) {
		st, err = s.gwSnapshot(ctx, cs)
		s.gwRemoteResult(err)
		return err
	}) {
		return
	}
	storeCursor(cs, st.Cursor)
	cs.bootstrapped.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.supervise(ctx, &cs.upSub, LocalSide, func() (*listen.Subscription, error) {
			return s.listen(ctx, cs, LocalSide, s.cfg.Local.Collection(cs.name), uploadKey(cs.name), &cs.lastUp, func(hctx context.Context, evs []*listen.ChangeEvent[bson.Raw]) error {
				return s.gwUploads(hctx, cs, evs)
			})
		})
	}()
	s.gwPull(ctx, cs, st)
	<-done
}

// gwRemoteResult is remoteResult for the gateway's answers.
func (s *Syncer) gwRemoteResult(err error) {
	if err != nil && !gwOffline(err) {
		return
	}
	s.remoteResult(err)
}

// gwOffline reports whether err means the gateway could not be reached or
// could not serve (as opposed to refusing a request).
func gwOffline(err error) bool {
	var ae *client.APIError
	switch {
	case errors.As(err, &ae):
		return errors.Is(err, client.ErrUnavailable) || errors.Is(err, client.ErrRateLimited)
	case errors.Is(err, client.ErrProtocol), errors.Is(err, context.Canceled):
		return false
	}
	return true
}

// gwPull follows the gateway's changes of one collection from st's cursor,
// handling each change before its cursor is saved; a cursor older than
// the gateway's history takes the snapshot again.
func (s *Syncer) gwPull(ctx context.Context, cs *collState, st gwState) {
	bo := s.cfg.Backoff()
	for ctx.Err() == nil {
		page, err := s.cfg.Gateway.Longpoll(ctx, []string{cs.name}, st.Cursor, gwLongpollWait)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = s.gwDownloads(ctx, cs, page.Changes)
		}
		if errors.Is(err, client.ErrCursorExpired) || errors.Is(err, client.ErrCursorRejected) {
			// Expired: the gateway's database no longer has the history
			// after the cursor. Rejected: the gateway no longer takes it
			// (its cursor key changed). Either way only a new snapshot
			// tells what changed.
			s.reportError(fmt.Errorf("sync: %q: the gateway cannot continue the pull from its cursor: taking a snapshot again: %w", cs.name, err))
			st, err = s.gwResnapshot(ctx, cs)
		} else if err == nil && page.Cursor != st.Cursor {
			st.Cursor = page.Cursor
			err = s.gwSaveState(ctx, cs.name, st)
			storeCursor(cs, st.Cursor)
		}
		s.gwRemoteResult(err)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.reportError(err)
			if !sleep(ctx, bo.NextBackOff()) {
				return
			}
			continue
		}
		bo.Reset()
	}
}

// gwDownloads handles pulled changes in order.
func (s *Syncer) gwDownloads(ctx context.Context, cs *collState, changes []client.Change) error {
	var evs []SyncEvent
	for _, run := range gwChangeRuns(changes) {
		got, err := s.gwApplyBatch(ctx, cs, run, 0)
		evs = append(evs, got...)
		if err != nil {
			s.notify(evs...)
			return err
		}
	}
	s.notify(evs...)
	return nil
}

// gwDownload handles one remote change (or a snapshot document, with the
// snapshot's epoch) of document id; it returns the SyncEvent of a local
// write.
func (s *Syncer) gwDownload(ctx context.Context, cs *collState, id bson.RawValue, ch gwRemote, epoch int64) (*SyncEvent, error) {
	defer s.lock(cs.name, id)()
	for attempt := 0; ; attempt++ {
		local, err := readDoc(ctx, s.cfg.Local.Collection(cs.name), id)
		if err != nil {
			return nil, err
		}
		b, err := gwLoadBase(ctx, s.gwDocs(), cs.name, id)
		if err != nil {
			return nil, err
		}
		lh, orig := contentHash(local), b
		act := planGatewayDownload(b, lh, ch)
		if act == gwDownCheck {
			cur, err := s.gwFetch(ctx, cs.name, id)
			if err != nil {
				return nil, err
			}
			b, act = planGatewayCheck(b, lh, ch, cur)
			ch = cur
		}
		s.cfg.Logger.Debug("sync: gateway download", "coll", cs.name, "id", id, "action", act)
		switch act {
		case gwDownSkip:
			if epoch != 0 || !b.same(orig) {
				// A snapshot marks what it saw; a check may have found
				// the awaited echo behind.
				return nil, s.gwSaveBase(ctx, cs.name, id, b, epoch)
			}
			return nil, nil
		case gwDownEcho:
			return nil, s.gwSaveBase(ctx, cs.name, id, b.echoed(), epoch)
		case gwDownLocalAhead:
			b.RemoteAhead = true
			return nil, s.gwSaveBase(ctx, cs.name, id, b, epoch)
		}
		next := gwBase{Hash: contentHash(ch.Doc), Version: ch.Version, Await: b.Await, Doc: ch.Doc}
		ok, _, err := s.gwApplyLocal(ctx, cs.name, id, local, ch.Doc, next, epoch, nil)
		if err != nil {
			return nil, err
		}
		if ok {
			cs.downloaded.Add(1)
			return &SyncEvent{Collection: cs.name, ID: id, Direction: Download, Deleted: ch.Doc == nil}, nil
		}
		// The application wrote the document meanwhile: decide again
		// with its write (a local edit now, left to its upload).
		if attempt > 100 {
			return nil, errLocalChanged
		}
	}
}

// gwFetch reads the gateway's current document id (absent when it does
// not exist or is not the caller's).
func (s *Syncer) gwFetch(ctx context.Context, coll string, id bson.RawValue) (gwRemote, error) {
	d, err := s.cfg.Gateway.Get(ctx, coll, id)
	if errors.Is(err, client.ErrNotFound) {
		return gwRemote{}, nil
	}
	if err != nil {
		return gwRemote{}, err
	}
	return gwRemote{Doc: d.Doc, Version: d.Version}, nil // a read: no time
}

// gwSnapshot copies the caller's documents of cs's collection from the
// gateway the first time (resuming after the last stored page), then
// uploads the local documents the copy did not account for (written
// before the first sync). It returns the state to pull from.
func (s *Syncer) gwSnapshot(ctx context.Context, cs *collState) (gwState, error) {
	st, err := s.gwLoadState(ctx, cs.name)
	if err != nil || st.Done {
		return st, err
	}
	if st.Epoch == 0 {
		st.Epoch = s.cfg.Clock().UnixNano()
	}
	for {
		page, err := s.cfg.Gateway.SnapshotPage(ctx, cs.name, st.After, s.cfg.BatchSize)
		if err != nil {
			return st, err
		}
		if st.After == "" {
			st.Cursor = page.Cursor
		}
		evs, err := s.gwApplyBatch(ctx, cs, gwDocItems(page.Documents), st.Epoch)
		s.notify(evs...)
		if err != nil {
			return st, err
		}
		st.Copied += int64(len(page.Documents))
		st.After = page.Next
		if page.Next == "" {
			break
		}
		if err := s.gwSaveState(ctx, cs.name, st); err != nil {
			return st, err
		}
		s.reportBootstrap(cs.name, st.Copied, false)
	}
	if st.Resnapshot {
		if err := s.gwSweep(ctx, cs, st.Epoch); err != nil {
			return st, err
		}
	}
	// Local documents the snapshot did not settle (written before the
	// first sync, or while the cursor was lost) go up now: the local
	// change stream only has what came after Start. After every snapshot,
	// resumed ones too (a first snapshot stopped after a page is no
	// longer told from a resumed one; the scan finds nothing to do when
	// there is nothing).
	if err := s.gwUploadUnsettled(ctx, cs); err != nil {
		return st, err
	}
	st.Done, st.Resnapshot, st.After, st.Epoch = true, false, "", 0
	if err := s.gwSaveState(ctx, cs.name, st); err != nil {
		return st, err
	}
	s.reportBootstrap(cs.name, st.Copied, true)
	return st, nil
}

func (s *Syncer) reportBootstrap(coll string, copied int64, done bool) {
	if s.cfg.OnBootstrap != nil {
		s.callback(func() { s.cfg.OnBootstrap(BootstrapProgress{Collection: coll, Copied: copied, Done: done}) })
	}
}

// gwResnapshot takes the snapshot again after the pull's cursor expired.
func (s *Syncer) gwResnapshot(ctx context.Context, cs *collState) (gwState, error) {
	st := gwState{Resnapshot: true}
	if err := s.gwSaveState(ctx, cs.name, st); err != nil {
		return st, err
	}
	return s.gwSnapshot(ctx, cs)
}

// gwSweep handles, after a snapshot taken again, the documents the replica
// had from the gateway that the snapshot no longer holds: deleted (or
// handed to another owner) while the cursor was lost. Each is judged as a
// pulled delete: removed locally unless edited locally since.
func (s *Syncer) gwSweep(ctx context.Context, cs *collState, epoch int64) error {
	cur, err := s.gwDocs().Find(ctx, bson.D{{Key: "_id.c", Value: cs.name}, {Key: "v", Value: bson.D{{Key: "$ne", Value: ""}}}, {Key: "e", Value: bson.D{{Key: "$ne", Value: epoch}}}})
	if err != nil {
		return err
	}
	var ids []bson.RawValue
	for cur.Next(ctx) {
		ids = append(ids, cloneID(cur.Current.Lookup("_id", "id")))
	}
	if err := cur.Err(); err != nil {
		cur.Close(ctx)
		return err
	}
	cur.Close(ctx)
	for _, id := range ids {
		ev, err := s.gwDownload(ctx, cs, id, gwRemote{}, epoch)
		if err != nil {
			return err
		}
		if ev != nil {
			s.notify(*ev)
		}
	}
	return nil
}

// storeCursor publishes where the pull stands (a copy: st.Cursor moves on).
func storeCursor(cs *collState, cursor string) { cs.gwCursor.Store(&cursor) }
