package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mongotide/mongotide/gateway/client"
	"github.com/mongotide/mongotide/listen"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// gwMaxOps is the most operations one push carries: the gateway's default
// MaxOperations.
const gwMaxOps = 100

// gwTodo is one document an upload considers.
type gwTodo struct {
	id bson.RawValue
	at time.Time // when the local edit was committed (the version's physical time)
}

// gwUploads handles a batch of local changes: each changed document (once,
// however many of its changes the batch holds) is sent in pushes of up to
// gwMaxOps operations and each result carried out locally.
func (s *Syncer) gwUploads(ctx context.Context, cs *collState, evs []*listen.ChangeEvent[bson.Raw]) error {
	var todo []gwTodo
	index := map[string]int{}
	for _, ev := range evs {
		id := ev.DocumentKey.Lookup("_id")
		at := ev.WallTime
		if at.IsZero() {
			at = time.UnixMilli(hlcFromClusterTime(ev.ClusterTime) >> 16)
		}
		if i, ok := index[idKey(id)]; ok {
			todo[i].at = at // the latest edit's time: the document is sent as it is now
			continue
		}
		index[idKey(id)] = len(todo)
		todo = append(todo, gwTodo{id: id, at: at})
	}
	return s.gwUploadIDs(ctx, cs, todo)
}

// gwUploadIDs uploads todo's documents in pushes of gwMaxOps.
func (s *Syncer) gwUploadIDs(ctx context.Context, cs *collState, todo []gwTodo) error {
	for len(todo) > 0 {
		n := min(len(todo), gwMaxOps)
		if err := s.gwPushChunk(ctx, cs, todo[:n]); err != nil {
			return err
		}
		todo = todo[n:]
	}
	return nil
}

// gwPending is one operation of a push with what its result needs.
type gwPending struct {
	id    bson.RawValue
	local bson.Raw
	base  gwBase
	op    client.Operation
}

// gwPushChunk sends one push for todo's documents and carries out the
// results. The documents' locks are held across the push, so the pull
// does not handle them meanwhile (it would find the local edit and leave
// it to this upload anyway, but must not move the base under it).
func (s *Syncer) gwPushChunk(ctx context.Context, cs *collState, todo []gwTodo) error {
	ids := make([]bson.RawValue, len(todo))
	for i, t := range todo {
		ids[i] = t.id
	}
	defer s.lockMany(cs.name, ids)()
	// The documents and their bases in two reads, not two per document.
	idsA, keys := make(bson.A, len(todo)), make(bson.A, len(todo))
	for i, t := range todo {
		idsA[i], keys[i] = t.id, bsonValue(metaKey(cs.name, t.id))
	}
	locals, err := s.readLocals(ctx, cs.name, idsA)
	if err != nil {
		return err
	}
	bases, err := s.gwLoadBases(ctx, keys)
	if err != nil {
		return err
	}
	var pend []gwPending
	for _, t := range todo {
		if err := s.upLimit.wait(ctx); err != nil {
			return err
		}
		b, ok := bases[idKey(t.id)]
		if !ok {
			b = newGwBase()
		}
		p, send, err := s.gwPrepare(ctx, cs, t, locals[idKey(t.id)], b)
		if err != nil {
			return err
		}
		if send {
			pend = append(pend, p)
		}
	}
	if len(pend) == 0 {
		return nil
	}
	ops := make([]client.Operation, len(pend))
	for i := range pend {
		ops[i] = pend[i].op
	}
	results, err := s.cfg.Gateway.PushAs(ctx, s.replica, ops)
	s.gwRemoteResult(err)
	if err != nil {
		return fmt.Errorf("sync: push %d operations to the gateway: %w", len(ops), err)
	}
	var evs []SyncEvent
	var accepted []mongo.WriteModel // the bases of accepted pushes, in one bulk write
	for i, r := range results {
		if r.Status == client.Accepted {
			next, ev, err := s.gwAccepted(cs, pend[i], r)
			if err != nil {
				return err
			}
			accepted = append(accepted, mongo.NewUpdateOneModel().SetFilter(idFilter(bsonValue(metaKey(cs.name, pend[i].id)))).
				SetUpdate(s.gwBaseUpdate(next, 0)).SetUpsert(true))
			evs = append(evs, ev)
			continue
		}
		ev, err := s.gwCarryOut(ctx, cs, pend[i], r)
		if err != nil {
			s.notify(evs...)
			return err
		}
		if ev != nil {
			evs = append(evs, *ev)
		}
	}
	if len(accepted) > 0 {
		if _, err := s.gwDocs().BulkWrite(ctx, accepted, options.BulkWrite().SetOrdered(false)); err != nil {
			return err // the pushes are replayed with the same ids on the retry
		}
		cs.uploaded.Add(uint64(len(accepted)))
	}
	s.notify(evs...)
	return nil
}

// gwAccepted is the base after an accepted push and its SyncEvent.
func (s *Syncer) gwAccepted(cs *collState, p gwPending, r client.Result) (gwBase, SyncEvent, error) {
	res, err := gwResultOf(r)
	if err != nil {
		return gwBase{}, SyncEvent{}, fmt.Errorf("sync: push of %s %s: %w", cs.name, p.id, err)
	}
	next, _, _ := planGatewayResult(p.base, p.local, res)
	return next, SyncEvent{Collection: cs.name, ID: p.id, Direction: Upload, Deleted: p.local == nil}, nil
}

// gwPrepare decides for document t.id (local now, its base b) and returns
// the operation to send (send false: none; a fetch or a settle was done
// here).
func (s *Syncer) gwPrepare(ctx context.Context, cs *collState, t gwTodo, local bson.Raw, b gwBase) (gwPending, bool, error) {
	kind := planGatewayUpload(b, local)
	s.cfg.Logger.Debug("sync: gateway upload", "coll", cs.name, "id", t.id, "op", kind)
	p := gwPending{id: t.id, local: local, base: b}
	switch kind {
	case gwUpSkip:
		return p, false, nil
	case gwUpFetch:
		return p, false, s.gwFetchApply(ctx, cs, t.id, local, b)
	case gwUpSettle:
		b.Hash = absentHash
		return p, false, s.gwSaveBase(ctx, cs.name, t.id, b, 0)
	}
	p.op = client.Operation{
		OpID:       gwOpID(s.replica, cs.name, t.id, b.Version, contentHash(local)),
		Collection: cs.name, ID: t.id, Base: b.Version, At: t.at,
	}
	if b.Doc != nil && b.Version != "" {
		p.op.BaseDoc = b.Doc
	}
	switch kind {
	case gwUpInsert:
		p.op.Op, p.op.Doc = client.OpInsert, local
	case gwUpReplace:
		p.op.Op, p.op.Doc = client.OpReplace, local
	case gwUpDelete:
		p.op.Op = client.OpDelete
	}
	return p, true, nil
}

// gwFetchApply brings down the gateway's document id after a remote change
// was left to a local edit that is now undone (local is the base again).
func (s *Syncer) gwFetchApply(ctx context.Context, cs *collState, id bson.RawValue, local bson.Raw, b gwBase) error {
	cur, err := s.gwFetch(ctx, cs.name, id)
	if err != nil {
		return err
	}
	// A state ahead of the pull: its change (or the echo awaited
	// already) is awaited.
	next := gwBase{Hash: contentHash(cur.Doc), Version: cur.Version, Await: awaitKey(cur.Version), Doc: cur.Doc}
	ok, _, err := s.gwApplyLocal(ctx, cs.name, id, local, cur.Doc, next, 0, nil)
	if err == nil && !ok {
		// Edited again meanwhile: its own change event uploads it.
		return nil
	}
	if err == nil {
		cs.downloaded.Add(1)
		s.notify(SyncEvent{Collection: cs.name, ID: id, Direction: Download, Deleted: cur.Doc == nil})
	}
	return err
}

// gwCarryOut applies push result r of p locally: a conflict or a
// rejection (accepted results are gwAccepted's, saved in bulk).
func (s *Syncer) gwCarryOut(ctx context.Context, cs *collState, p gwPending, r client.Result) (*SyncEvent, error) {
	res, err := gwResultOf(r)
	if err != nil {
		return nil, fmt.Errorf("sync: push of %s %s: %w", cs.name, p.id, err)
	}
	next, doc, _ := planGatewayResult(p.base, p.local, res)
	ev := &SyncEvent{Collection: cs.name, ID: p.id, Direction: Upload, Deleted: p.local == nil}
	switch res.Kind {
	case gwResRejected:
		s.reportError(fmt.Errorf("%w: %s %s: %s: %s", ErrRefused, cs.name, p.id, r.Error, r.Message))
		logged := s.gwRefusal(cs.name, p, r)
		ok, added, err := s.gwApplyLocal(ctx, cs.name, p.id, p.local, p.local, next, 0, []Conflict{logged})
		if err != nil || !ok {
			return nil, err // !ok: edited again; its own change is handled next
		}
		s.reportConflicts(added)
		if next.RemoteAhead {
			return nil, s.gwFetchApply(ctx, cs, p.id, p.local, next)
		}
		return nil, nil
	}
	var logs []Conflict
	if r.Conflict != nil {
		logs = append(logs, s.gwConflict(cs.name, p, r))
	}
	ok, added, err := s.gwApplyLocal(ctx, cs.name, p.id, p.local, doc, next, 0, logs)
	if err != nil {
		return nil, err
	}
	if !ok {
		// The application edited the document while the push ran: the
		// gateway's outcome must not overwrite that edit. The base stays,
		// so the edit is sent next (its change event follows) against
		// the same base and the gateway decides it too.
		return nil, nil
	}
	s.reportConflicts(added)
	ev.Conflict, ev.Deleted = true, doc == nil
	if doc == nil || string(doc) != string(p.local) {
		ev.Direction = Download
		cs.downloaded.Add(1)
	} else {
		cs.uploaded.Add(1)
	}
	return ev, nil
}

func (s *Syncer) reportConflicts(added []Conflict) {
	if s.cfg.OnConflict == nil {
		return
	}
	for _, c := range added {
		s.callback(func() { s.cfg.OnConflict(c) })
	}
}

// gwResultOf reads a push result.
func gwResultOf(r client.Result) (gwResult, error) {
	switch r.Status {
	case client.Accepted:
		return gwResult{Kind: gwResAccepted, Remote: gwRemote{Version: r.Version, Time: r.Time}}, nil
	case client.Conflict:
		v := r.Version
		if r.Doc == nil {
			v = ""
		}
		return gwResult{Kind: gwResConflict, Outcome: r.Outcome, Remote: gwRemote{Doc: r.Doc, Version: v, Time: r.Time}}, nil
	case client.Rejected:
		return gwResult{Kind: gwResRejected}, nil
	}
	return gwResult{}, fmt.Errorf("unknown status %q", r.Status)
}

// gwConflict is the conflict log entry of a conflict result: the gateway's
// decision as seen from this replica ("local" is this replica's edit).
func (s *Syncer) gwConflict(coll string, p gwPending, r client.Result) Conflict {
	d := r.Conflict
	c := Conflict{
		Collection: coll, DocumentID: p.id,
		Kept: Side(d.Kept), Reason: ConflictReason(d.Reason), Fields: d.Fields, KeptOmitted: d.KeptOmitted,
		Local: d.Local, Remote: d.Remote,
		LocalVersion:  Version{HLC: d.LocalVersion.HLC, Replica: d.LocalVersion.Replica},
		RemoteVersion: Version{HLC: d.RemoteVersion.HLC, Replica: d.RemoteVersion.Replica},
		At:            s.cfg.Clock(),
	}
	if pol, err := ParseConflictPolicy(d.Policy); err == nil {
		c.Policy = pol
	}
	c.ID = conflictID(coll, p.id, c.LocalVersion, c.RemoteVersion, c.Local, c.Remote)
	return c
}

// gwRefusal is the conflict log entry of a refused push: the local edit
// was not applied by the gateway (Reason ReasonRefused, Refusal says why).
func (s *Syncer) gwRefusal(coll string, p gwPending, r client.Result) Conflict {
	c := Conflict{
		Collection: coll, DocumentID: p.id, Kept: RemoteSide, Reason: ReasonRefused,
		Refusal: r.Error + ": " + r.Message, Local: p.local, At: s.cfg.Clock(),
	}
	h := Version{Replica: "refused:" + p.op.OpID}
	c.ID = conflictID(coll, p.id, h, Version{}, p.local, nil)
	return c
}

// gwUploadUnsettled uploads every local document of cs's collection that
// differs from its base, and every delete of a document that has a base:
// the local changes the change stream cannot deliver (made before the
// first sync, or lost with the local history).
func (s *Syncer) gwUploadUnsettled(ctx context.Context, cs *collState) error {
	bases := map[string]string{}
	ids := map[string]bson.RawValue{}
	cur, err := s.gwDocs().Find(ctx, bson.D{{Key: "_id.c", Value: cs.name}})
	if err != nil {
		return err
	}
	for cur.Next(ctx) {
		id := cloneID(cur.Current.Lookup("_id", "id"))
		x, _ := cur.Current.Lookup("x").StringValueOK()
		bases[idKey(id)], ids[idKey(id)] = x, id
	}
	cur.Close(ctx)
	if err := cur.Err(); err != nil {
		return err
	}
	now := s.cfg.Clock()
	var todo []gwTodo
	seen := map[string]bool{}
	err = s.scan(ctx, s.cfg.Local.Collection(cs.name), func(doc bson.Raw) error {
		id := doc.Lookup("_id")
		seen[idKey(id)] = true
		if x, ok := bases[idKey(id)]; !ok || x != contentHash(doc) {
			todo = append(todo, gwTodo{id: cloneID(id), at: now})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for k, x := range bases {
		if !seen[k] && x != absentHash && x != "" {
			todo = append(todo, gwTodo{id: ids[k], at: now})
		}
	}
	return s.gwUploadIDs(ctx, cs, todo)
}

// ErrRefused is reported (Config.OnError) for a local edit the gateway
// refused; the edit is also in the conflict log (ReasonRefused).
var ErrRefused = errors.New("sync: the gateway refused a local edit")
