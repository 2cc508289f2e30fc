package sync

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// DiffReason says why a document differs between the two sides in a
// VerifyReport.
type DiffReason string

const (
	// DiffPending is a change on one side that sync has not carried to the
	// other yet: the local document differs from its base (not uploaded),
	// or the remote one does (not downloaded), or the document kept
	// changing while Verify looked at it.
	DiffPending DiffReason = "pending"
	// DiffConflict is a document with an entry in the conflict log.
	DiffConflict DiffReason = "conflict"
	// DiffDiverged is a difference sync will not resolve on its own: it
	// stayed the same after the syncer had handled every change made
	// before Verify read it, and no conflict explains it. Reconcile
	// (or a write to the document) repairs it.
	DiffDiverged DiffReason = "diverged"
)

// verifyMaxDiffs caps VerifyCollection.Diffs (Differing still counts all).
const verifyMaxDiffs = 1000

// verifyBatch is how many documents Verify compares per round trip.
const verifyBatch = 500

// VerifyDiff is one document that differs between the sides.
type VerifyDiff struct {
	ID     bson.RawValue
	Reason DiffReason
	// LocalHash and RemoteHash are the content hashes ("absent" for a
	// missing document) as last read.
	LocalHash, RemoteHash string
}

// VerifyCollection is Verify's result for one collection.
type VerifyCollection struct {
	Name string
	// LocalDocs and RemoteDocs count the (owned) documents of each side.
	LocalDocs, RemoteDocs int64
	// LocalSum and RemoteSum are order-independent checksums of each
	// side's (owned) documents: the XOR of the SHA-256 of each document's
	// BSON, the bytes sync's content hash covers. Equal sums mean equal
	// data (up to a hash collision).
	LocalSum, RemoteSum string
	// Differing counts the differing documents by reason; Diffs lists
	// them, at most verifyMaxDiffs (1000).
	Differing map[DiffReason]int
	Diffs     []VerifyDiff
}

// VerifyReport is the result of Verify, one entry per Config.Collections.
type VerifyReport struct {
	Collections []VerifyCollection
}

// Diverged reports whether any document diverged.
func (r VerifyReport) Diverged() bool {
	for _, c := range r.Collections {
		if c.Differing[DiffDiverged] > 0 {
			return true
		}
	}
	return false
}

// Verify compares both sides of every synced collection without stopping
// sync: it checksums each side and lists the documents that differ, each
// with the reason (pending, conflict, diverged). Only documents the Owner
// filter accepts count. Memory stays bounded: each side is streamed in
// batches, and only the differing ids (capped) are kept.
//
// A difference is re-read after a barrier: once every change made before
// the first read has been handled (WaitSynced while this Syncer runs; else
// the stored checkpoints of a sync running elsewhere must get there, or
// hold nothing unhandled). A document whose content changed meanwhile is
// pending; one that stayed identically different is diverged, so a
// document written during the scan is never reported diverged. When the
// barrier is not reached (remote down, no sync running, 30 s resp. 3 s),
// the base entries decide: a side that differs from the base or a remote
// version past it has a change not yet synced (pending), else diverged.
func (s *Syncer) Verify(ctx context.Context) (VerifyReport, error) {
	var rep VerifyReport
	if s.cfg.Gateway != nil {
		return rep, ErrGatewayRemote
	}
	for _, name := range s.cfg.Collections {
		vc, err := s.verifyCollection(ctx, name)
		if err != nil {
			return rep, err
		}
		rep.Collections = append(rep.Collections, vc)
	}
	return rep, nil
}

// diffCand is a differing document between the scan and classification.
type diffCand struct {
	id           bson.RawValue
	local, remot string
}

func (s *Syncer) verifyCollection(ctx context.Context, name string) (VerifyCollection, error) {
	vc := VerifyCollection{Name: name, Differing: map[DiffReason]int{}}
	local, remote := s.cfg.Local.Collection(name), s.cfg.Remote.Collection(name)
	var lsum, rsum [sha256.Size]byte
	var cands []diffCand
	overflow := 0
	note := func(c diffCand) {
		if len(cands) < verifyMaxDiffs {
			cands = append(cands, c)
		} else {
			overflow++
		}
	}
	// Pass 1: each local document against the remote one.
	err := s.verifyScan(ctx, local, remote, true, func(doc bson.Raw, other bson.Raw) {
		vc.LocalDocs++
		xorSum(&lsum, doc)
		if other == nil || contentHash(other) != contentHash(doc) {
			note(diffCand{id: cloneID(doc.Lookup("_id")), local: contentHash(doc), remot: contentHash(other)})
		}
	})
	if err != nil {
		return vc, err
	}
	// Pass 2: each remote document; only those missing locally are new
	// differences (the others were compared in pass 1).
	err = s.verifyScan(ctx, remote, local, false, func(doc bson.Raw, other bson.Raw) {
		vc.RemoteDocs++
		xorSum(&rsum, doc)
		if other == nil {
			note(diffCand{id: cloneID(doc.Lookup("_id")), local: absentHash, remot: contentHash(doc)})
		}
	})
	if err != nil {
		return vc, err
	}
	vc.LocalSum, vc.RemoteSum = fmt.Sprintf("%x", lsum[:8]), fmt.Sprintf("%x", rsum[:8])
	if len(cands) == 0 {
		return vc, nil
	}
	diffs, err := s.classify(ctx, name, cands)
	if err != nil {
		return vc, err
	}
	for _, d := range diffs {
		vc.Differing[d.Reason]++
	}
	vc.Diffs = diffs
	// Beyond the cap, differences are counted as pending: unclassified.
	if overflow > 0 {
		vc.Differing[DiffPending] += overflow
	}
	return vc, nil
}

func xorSum(sum *[sha256.Size]byte, doc bson.Raw) {
	h := sha256.Sum256(doc)
	for i := range sum {
		sum[i] ^= h[i]
	}
}

func cloneID(id bson.RawValue) bson.RawValue {
	return bson.RawValue{Type: id.Type, Value: append([]byte(nil), id.Value...)}
}

// verifyScan streams the owned documents of from in batches and calls f
// with each and the document of the same _id in other (nil: absent or not
// owned). fullOther fetches whole documents of other, else only _ids.
func (s *Syncer) verifyScan(ctx context.Context, from, other *mongo.Collection, fullOther bool, f func(doc, other bson.Raw)) error {
	cur, err := from.Find(ctx, bson.D{}, options.Find().SetBatchSize(verifyBatch))
	if err != nil {
		return fmt.Errorf("sync: verify %s: %w", from.Name(), err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var batch []bson.Raw
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		ids := make(bson.A, len(batch))
		for i, d := range batch {
			ids[i] = d.Lookup("_id")
		}
		others, err := s.fetchOwned(ctx, other, ids, fullOther)
		if err != nil {
			return err
		}
		for _, d := range batch {
			o := others[idKey(d.Lookup("_id"))]
			f(d, o)
		}
		batch = batch[:0]
		return nil
	}
	for cur.Next(ctx) {
		doc := append(bson.Raw(nil), cur.Current...)
		ok, err := s.owns(doc)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		batch = append(batch, doc)
		if len(batch) == verifyBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("sync: verify %s: %w", from.Name(), err)
	}
	return flush()
}

// fetchOwned reads the documents with the given _ids from coll, keyed by
// idKey, leaving out those not owned. Without full only _id is read (an
// ownership check then needs the owner field too).
func (s *Syncer) fetchOwned(ctx context.Context, coll *mongo.Collection, ids bson.A, full bool) (map[string]bson.Raw, error) {
	opts := options.Find()
	if !full && s.cfg.Owner == nil {
		opts.SetProjection(bson.D{{Key: "_id", Value: 1}})
	}
	cur, err := coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, opts)
	if err != nil {
		return nil, fmt.Errorf("sync: verify %s: %w", coll.Name(), err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	out := make(map[string]bson.Raw, len(ids))
	for cur.Next(ctx) {
		doc := append(bson.Raw(nil), cur.Current...)
		ok, err := s.owns(doc)
		if err != nil {
			return nil, err
		}
		if ok {
			out[idKey(doc.Lookup("_id"))] = doc
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("sync: verify %s: %w", coll.Name(), err)
	}
	return out, nil
}

// readPair reads the current content hashes of one document on both sides.
func (s *Syncer) readPair(ctx context.Context, name string, id bson.RawValue) (lh, rh string, err error) {
	read := func(c *mongo.Collection) (string, error) {
		raw, err := c.FindOne(ctx, idFilter(id)).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			return absentHash, nil
		}
		if err != nil {
			return "", fmt.Errorf("sync: verify %s: %w", c.Name(), err)
		}
		if ok, err := s.owns(raw); err != nil || !ok {
			return absentHash, err
		}
		return contentHash(raw), nil
	}
	if lh, err = read(s.cfg.Local.Collection(name)); err != nil {
		return "", "", err
	}
	rh, err = read(s.cfg.Remote.Collection(name))
	return lh, rh, err
}

// verifyBarrier bounds how long Verify waits for the running syncer to
// catch up before it falls back to judging by the base entries.
const verifyBarrier = 30 * time.Second

// verifyIdleBarrier bounds the wait for the stored checkpoints when the
// syncer does not run here: short, since maybe no sync runs anywhere.
const verifyIdleBarrier = 3 * time.Second

// barrier waits until every change made to collection name on either side
// before the call has been handled, and reports whether it got there. With
// this Syncer running it is WaitSynced; otherwise the stored checkpoints
// must reach that point (they do when another process runs the sync, or
// when nothing is left to sync).
func (s *Syncer) barrier(ctx context.Context, name string) (bool, error) {
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if running && s.online.Load() == 2 {
		return false, nil // offline: WaitSynced would wait for the remote
	}
	if running {
		wctx, cancel := context.WithTimeout(ctx, verifyBarrier)
		defer cancel()
		err := s.WaitSynced(wctx)
		return err == nil, ctx.Err()
	}
	localT, err := operationTime(ctx, s.cfg.Local)
	if err != nil {
		return false, fmt.Errorf("sync: verify: %w", err)
	}
	remoteT, err := operationTime(ctx, s.cfg.Remote)
	if err != nil {
		return false, fmt.Errorf("sync: verify: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, verifyIdleBarrier)
	defer cancel()
	for {
		ok, err := s.streamHandled(wctx, s.cfg.Local.Collection(name), uploadKey(name), nil, localT)
		if ok && err == nil {
			ok, err = s.streamHandled(wctx, s.cfg.Remote.Collection(name), downloadKey(name), nil, remoteT)
		}
		if ok && err == nil {
			return true, nil
		}
		if !sleep(wctx, 50*time.Millisecond) {
			return false, ctx.Err()
		}
	}
}

// classify gives each candidate its reason (see Verify).
func (s *Syncer) classify(ctx context.Context, name string, cands []diffCand) ([]VerifyDiff, error) {
	caughtUp, err := s.barrier(ctx, name)
	if err != nil {
		return nil, err
	}
	logged, err := s.loggedConflicts(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []VerifyDiff
	for _, c := range cands {
		lh, rh, err := s.readPair(ctx, name, c.id)
		if err != nil {
			return nil, err
		}
		if lh == rh {
			continue // it was in flight and has been synced since
		}
		d := VerifyDiff{ID: c.id, LocalHash: lh, RemoteHash: rh}
		switch {
		case logged[idKey(c.id)]:
			d.Reason = DiffConflict
		case caughtUp && lh == c.local && rh == c.remot:
			// Unchanged across the barrier: every change made before the
			// first read has been handled, and this one was not synced.
			d.Reason = DiffDiverged
		case caughtUp:
			d.Reason = DiffPending // changed during the scan
		default:
			d.Reason, err = s.judgeByBase(ctx, name, c.id, lh, rh)
			if err != nil {
				return nil, err
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// judgeByBase classifies a difference without a running syncer: a side
// that differs from what was last synced has a change waiting (pending).
func (s *Syncer) judgeByBase(ctx context.Context, name string, id bson.RawValue, lh, rh string) (DiffReason, error) {
	base, _, err := loadMeta(ctx, s.localDocs, name, id)
	if err != nil {
		return "", fmt.Errorf("sync: verify: read base: %w", err)
	}
	if base.Pending != nil || base.RemoteAhead || lh != base.Hash {
		return DiffPending, nil // a local change not uploaded yet
	}
	rv, _, err := loadMeta(ctx, s.remoteVers, name, id)
	if err != nil {
		return "", fmt.Errorf("sync: verify: read remote version: %w", err)
	}
	if rv.Version != base.Version || rh != base.Hash {
		// The remote moved past the base (through a syncer or another
		// program): a change not downloaded yet.
		return DiffPending, nil
	}
	return DiffDiverged, nil
}

// loggedConflicts returns the idKeys of coll's documents in the conflict
// log.
func (s *Syncer) loggedConflicts(ctx context.Context, coll string) (map[string]bool, error) {
	cur, err := s.cfg.Local.Collection(localConflictsColl).Find(ctx, bson.D{{Key: "coll", Value: coll}},
		options.Find().SetProjection(bson.D{{Key: "docId", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("sync: verify: conflict log: %w", err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	out := map[string]bool{}
	for cur.Next(ctx) {
		out[idKey(cur.Current.Lookup("docId"))] = true
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("sync: verify: conflict log: %w", err)
	}
	return out, nil
}
