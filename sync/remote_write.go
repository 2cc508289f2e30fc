package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// RemoteWriter writes edits to a remote database the way a replica's
// upload does, for a server that writes on behalf of clients holding no
// database of their own (package gateway's POST /v1/operations). Each edit
// is applied in one remote transaction: the remote document and its version
// entry are read, the upload planner decides with the conflict rules of
// WriterConfig.Conflict (the code a Syncer runs, not a copy of it), and the
// document and its version entry are written together. A Syncer syncing
// with the same database therefore sees these writes as versioned remote
// writes by the client's replica id, and the writer sees the Syncers'
// uploads as versioned edits.
//
// Make it with NewRemoteWriter; it is safe for concurrent use and holds no
// goroutines or connections of its own.
type RemoteWriter struct {
	cfg   WriterConfig
	clock hlc
	vers  *mongo.Collection
}

// WriterConfig configures a RemoteWriter. Zero values take the stated
// defaults (WithDefaults).
type WriterConfig struct {
	// Remote is the database written (the remote of the Syncers that may
	// sync with it). Required; it must support transactions.
	Remote *mongo.Database
	// Conflict decides concurrent edits, as Config.Conflict does for a
	// Syncer. FieldMerge needs the base document, which the writer does
	// not have unless the base is the writer's own landed edit: a
	// conflict without it is decided by last writer wins (ReasonNoBase),
	// as a Syncer does for a base entry without its document; an insert
	// over an existing document merges against an empty one.
	Conflict ConflictPolicy
	// Resolve merges a conflict under Custom (see Config.Resolve). "Local"
	// is the client's edit, "remote" the remote document.
	Resolve func(ctx context.Context, c Conflict) (bson.Raw, error)
	// Clock is the writer's wall clock: the physical part of the versions
	// it stamps. Default time.Now.
	Clock func() time.Time
	// Retention is the tombstone retention of Compact (see
	// Config.Retention). Default 30 days.
	Retention time.Duration
}

// WithDefaults returns a copy of c with the defaults filled in.
func (c WriterConfig) WithDefaults() WriterConfig {
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Retention == 0 {
		c.Retention = 30 * 24 * time.Hour
	}
	return c
}

func (c WriterConfig) validate() error {
	var errs []error
	if c.Remote == nil {
		errs = append(errs, errors.New("Remote database is nil"))
	}
	switch c.Conflict {
	case LastWriterWins, RemoteWins, LocalWins, FieldMerge:
		if c.Resolve != nil {
			errs = append(errs, fmt.Errorf("Resolve is set but Conflict is %v (Resolve needs Custom)", c.Conflict))
		}
	case Custom:
		if c.Resolve == nil {
			errs = append(errs, errors.New("Conflict is custom but Resolve is nil"))
		}
	default:
		errs = append(errs, fmt.Errorf("Conflict is %v, not a known policy", c.Conflict))
	}
	if c.Retention < time.Second {
		errs = append(errs, fmt.Errorf("Retention is %v, must be >= 1s", c.Retention))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

// NewRemoteWriter validates cfg (after WithDefaults) and returns a writer.
func NewRemoteWriter(cfg WriterConfig) (*RemoteWriter, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &RemoteWriter{cfg: cfg, clock: hlc{wall: cfg.Clock}, vers: cfg.Remote.Collection(remoteVersionsColl)}, nil
}

// ContentHash is the content hash sync keeps for a document: the hex
// SHA-256 of its exact BSON (field order and types included), or "absent"
// for nil. A document's hash names its content on both sides of a sync and
// in a RemoteEdit's Base.
func ContentHash(doc bson.Raw) string { return contentHash(doc) }

// AbsentHash is the ContentHash of no document.
const AbsentHash = absentHash

// RemoteEdit is one edit of one document by a client.
type RemoteEdit struct {
	Collection string
	// ID is the document's _id.
	ID bson.RawValue
	// Replica is the editing client's replica id, the Version.Replica of
	// its edits. It must be stable per client and distinct between
	// clients: an edit made on top of the same replica's earlier write is
	// not a conflict (that write is taken for the base, as a Syncer does
	// with its own upload whose reply it lost). Not "" nor RemoteReplica.
	Replica string
	// Ephemeral says Replica names this edit only (a client without a
	// stable id): the version entry then keeps no ack of it (see
	// docMeta.Acks), which would grow the entry by one key per edit.
	Ephemeral bool
	// Base is the ContentHash of the document the client edited (what it
	// last got from the remote); "" or AbsentHash when it had none (a new
	// document).
	Base string
	// BaseDoc is the document the client edited, when it kept it: under
	// FieldMerge a conflict merges against it, field by field, instead of
	// falling back to last writer wins (ReasonNoBase). It is used only
	// when its ContentHash is Base (so a client cannot pass off another
	// document as its base).
	BaseDoc bson.Raw
	// At is when the client made the edit: the physical part of its
	// version. Zero, or later than the writer's clock, is the writer's
	// clock now. The version is always after the base's.
	At time.Time
	// Edit returns the client's document (nil: deleted) given the remote
	// document as the transaction reads it (nil: absent); ctx carries the
	// transaction's session, so reads and writes through it belong to the
	// transaction. An error aborts the transaction and Apply returns it as
	// is. It runs again if the transaction is retried.
	Edit func(ctx context.Context, current bson.Raw) (bson.Raw, error)
	// Record, when set, runs in the transaction after the writes, with
	// the result: its writes (e.g. an idempotency record) commit together
	// with the document's, or not at all. An error aborts the
	// transaction. It runs again if the transaction is retried.
	Record func(ctx context.Context, res RemoteResult) error
}

// RemoteResult is how a RemoteEdit ended.
type RemoteResult struct {
	// Outcome is the upload planner's outcome name: "uploaded" (only the
	// client changed the document since its base: written), "same" (the
	// remote already holds the client's content: nothing written),
	// "downloaded" (the client's document is its base, the remote changed
	// since: nothing written, the remote is the outcome), "remote-won",
	// "conflict-uploaded" or "merged" (concurrent edits decided by the
	// conflict rules).
	Outcome string
	// Conflict says the edit met a concurrent edit (remote-won,
	// conflict-uploaded, merged, downloaded).
	Conflict bool
	// Written says the remote document and its version entry were written.
	Written bool
	// Version and Hash are the remote document's version and ContentHash
	// after the edit; Doc is that document (nil: deleted).
	Version Version
	Hash    string
	Doc     bson.Raw
	// Logged is the conflict as a Syncer's conflict log would record it
	// (nil when nothing was overwritten). Local is the client's edit.
	Logged *Conflict
	// CommitTime is the cluster time of the transaction's commit. When
	// Written it is the cluster time of the document's change event (a
	// change stream's clusterTime): the one change that is this edit.
	CommitTime bson.Timestamp
}

// Apply applies e in one transaction on the remote, retried at once only
// when a concurrent writer made it abort (each attempt reads both sides
// afresh and plans again). A commit whose result stays unknown after the
// driver's retry and one more returns an error: the edit may or may not
// have landed, and applying it again is decided against what the remote
// then holds (a Record written in the transaction tells which).
func (w *RemoteWriter) Apply(ctx context.Context, e RemoteEdit) (RemoteResult, error) {
	if e.Replica == "" || e.Replica == RemoteReplica {
		return RemoteResult{}, fmt.Errorf("sync: RemoteEdit.Replica %q is not a client replica id", e.Replica)
	}
	if e.Edit == nil {
		return RemoteResult{}, errors.New("sync: RemoteEdit.Edit is nil")
	}
	rules := conflictRules{
		policy: w.cfg.Conflict, now: w.cfg.Clock, caps: defaultCaps(),
		resolve: func(c Conflict) (bson.Raw, error) { return checkedResolve(ctx, w.cfg.Resolve, c) },
	}
	coll := w.cfg.Remote.Collection(e.Collection)
	var res RemoteResult
	var txnSess *mongo.Session
	err := runTxn(ctx, w.cfg.Remote.Client(), w.vers, func(tctx context.Context) error {
		txnSess = mongo.SessionFromContext(tctx)
		res = RemoteResult{}
		f := uploadFacts{Coll: e.Collection, ID: e.ID, Replica: e.Replica}
		var err error
		if f.Remote, err = readDoc(tctx, coll, e.ID); err != nil {
			return err
		}
		f.RemoteHash = contentHash(f.Remote)
		if f.RemoteVer, f.RemoteVerOK, err = loadMeta(tctx, w.vers, e.Collection, e.ID); err != nil {
			return err
		}
		if f.Local, err = e.Edit(tctx, f.Remote); err != nil {
			return err
		}
		if f.Local != nil && !f.Local.Lookup("_id").Equal(e.ID) {
			return fmt.Errorf("sync: RemoteEdit.Edit returned a document without _id %s", e.ID)
		}
		f.LocalHash = contentHash(f.Local)
		f.Base = w.base(e.Base, f)
		if e.BaseDoc != nil && f.Base.Hash == contentHash(e.BaseDoc) {
			f.Base.Doc = e.BaseDoc
		}
		f.Mine = docMeta{Version: Version{HLC: w.clock.stamp(w.editTime(e.At), f.Base.Version), Replica: e.Replica},
			Hash: f.LocalHash, Deleted: f.Local == nil}
		plan, err := planUpload(f, rules)
		if err != nil {
			return err
		}
		for _, o := range plan.Observe {
			w.clock.Observe(o)
		}
		if plan.WriteRemote {
			plan.Mine.noAck = e.Ephemeral
			if err := saveMeta(tctx, w.vers, e.Collection, e.ID, plan.Mine); err != nil {
				return err
			}
			if err := writeDoc(tctx, coll, e.ID, plan.UploadDoc); err != nil {
				return err
			}
		}
		res = RemoteResult{
			Outcome: plan.Outcome.String(), Written: plan.WriteRemote,
			Version: plan.Agreed.Version, Hash: plan.Agreed.Hash, Doc: plan.AgreedDoc,
		}
		switch plan.Outcome {
		case outcomeRemoteWon, outcomeConflictUploaded, outcomeMerged, outcomeDownloaded:
			res.Conflict = true
		}
		if plan.Logged != nil {
			res.Logged = plan.Logged.Conflict
		}
		if e.Record != nil {
			return e.Record(tctx, res)
		}
		return nil
	})
	if err != nil {
		return RemoteResult{}, err
	}
	if t := txnSess.OperationTime(); t != nil {
		res.CommitTime = *t
	}
	return res, nil
}

// base is the base an edit is judged against: the remote version entry
// when the client's base is the remote's current versioned content (so its
// version is known), otherwise the client's hash alone, versioned zero (a
// base the client had before the remote moved on, or the remote's content
// written without mongotide). Base documents are not kept: FieldMerge
// decides such conflicts by last writer wins (ReasonNoBase).
func (w *RemoteWriter) base(hash string, f uploadFacts) docMeta {
	if hash == "" || hash == absentHash {
		return docMeta{Hash: absentHash, Deleted: true}
	}
	if f.RemoteVerOK && f.RemoteVer.Hash == hash && f.RemoteHash == hash {
		return docMeta{Version: f.RemoteVer.Version, Hash: hash}
	}
	return docMeta{Hash: hash}
}

// editTime is the physical part of an edit's version: at, unless zero or
// ahead of the writer's clock.
func (w *RemoteWriter) editTime(at time.Time) int64 {
	now := w.cfg.Clock()
	if at.IsZero() || at.After(now) {
		at = now
	}
	return at.UnixMilli() << 16
}

// Compact removes the remote's tombstones (version entries of deleted
// documents) of colls that no registered Syncer replica can still need, as
// Syncer.Compact does: those written before the latest of every registered
// replica's synced-past position and WriterConfig.Retention (less two
// minutes for transactions still committing). Version entries of live
// documents stay.
func (w *RemoteWriter) Compact(ctx context.Context, colls []string) (CompactResult, error) {
	return compactTombstones(ctx, w.cfg.Remote, colls, w.cfg.Retention)
}
