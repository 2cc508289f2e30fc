package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Under a gateway remote (Config.Gateway) the replica does not see the
// remote database: the gateway decides every concurrent edit with its own
// conflict policy (sync.RemoteWriter, the planner a Syncer runs) and tells
// the outcome. What is left on the device is deciding, per document, what
// to send and what to write locally. These planners make those decisions
// from a document's base and the facts at hand; they do no I/O, so a table
// and a model-based test check them without a server (gw_plan_test.go).

// gwBase is what a document's two sides last agreed on, kept locally per
// document (collection localGatewayDocsColl).
type gwBase struct {
	// Hash is the ContentHash of the local document at that point
	// (absentHash: none). A local document with another hash was edited
	// locally since.
	Hash string `bson:"x"`
	// Version is the gateway's version of the agreed document ("":
	// absent). Versions are content hashes of the remote's BSON, opaque
	// here: they are compared for equality only.
	Version string `bson:"v"`
	// Await is the version of a write this replica pushed (gwAbsentVersion
	// for a delete) whose change has not come down the pull yet. Changes
	// pulled before it are older than the pushed write: applying them
	// would take the document back in time until the echo arrived.
	Await string `bson:"w,omitempty"`
	// AwaitT is the commit time of a write this replica pushed whose
	// change has not come down yet (the gateway tells it for the pushes
	// that wrote the document): exact where Await, a content, is not.
	// Pulled changes before it are older than the push (skipped), the
	// change at it is its echo.
	AwaitT bson.Timestamp `bson:"wt,omitempty"`
	// RemoteAhead is set when a pulled change was left to the upload of a
	// local edit; an upload that then finds the edit undone (the local
	// document back at Hash) fetches the remote document instead of doing
	// nothing, so the remote change still comes down.
	RemoteAhead bool `bson:"ra,omitempty"`
	// Doc is the agreed document itself, kept under FieldMerge (the
	// gateway merges a conflict field by field against it when a push
	// sends it as its baseDoc); nil when not kept.
	Doc bson.Raw `bson:"b,omitempty"`
}

// echoed is b once the awaited echo came down.
func (b gwBase) echoed() gwBase {
	b.Await, b.AwaitT = "", bson.Timestamp{}
	return b
}

// same reports whether b and o hold the same base (Doc aside: it follows
// Hash).
func (b gwBase) same(o gwBase) bool {
	return b.Hash == o.Hash && b.Version == o.Version && b.Await == o.Await && b.AwaitT == o.AwaitT && b.RemoteAhead == o.RemoteAhead
}

// gwAbsentVersion stands for "deleted" in gwBase.Await (a delete has no
// version).
const gwAbsentVersion = "-"

func newGwBase() gwBase { return gwBase{Hash: absentHash} }

// awaitKey is how a pulled or pushed version is named in gwBase.Await.
func awaitKey(version string) string {
	if version == "" {
		return gwAbsentVersion
	}
	return version
}

// gwRemote is the gateway's side of a document: a pulled change or a
// document read, or a push result's document.
type gwRemote struct {
	Doc     bson.Raw // nil: absent
	Version string   // "" when Doc is nil
	// Time is a pulled change's commit time (zero: not known, a
	// document read).
	Time bson.Timestamp
}

// gwDownAction is what to do with a pulled change.
type gwDownAction int

const (
	// gwDownSkip: nothing to do (the replica has this version already).
	gwDownSkip gwDownAction = iota
	// gwDownEcho: the change of this replica's own push came down: the
	// base stops awaiting it.
	gwDownEcho
	// gwDownCheck: a change arrived while a push's echo is awaited: it
	// may be older than the push, so the current remote document decides
	// (gwDownAfterCheck).
	gwDownCheck
	// gwDownLocalAhead: the local document was edited since the base: its
	// upload meets the remote change at the gateway, which decides; the
	// base is marked RemoteAhead.
	gwDownLocalAhead
	// gwDownApply: only the remote changed: write it locally with its
	// base.
	gwDownApply
)

func (a gwDownAction) String() string {
	return [...]string{"skip", "echo", "check", "local-ahead", "apply"}[a]
}

// planGatewayDownload decides a pulled change ch of a document whose base
// is b and whose local content hash is localHash.
func planGatewayDownload(b gwBase, localHash string, ch gwRemote) gwDownAction {
	if !b.AwaitT.IsZero() && !ch.Time.IsZero() {
		switch {
		case ch.Time.Before(b.AwaitT):
			return gwDownSkip // older than the pushed write, which replaced it
		case ch.Time.Equal(b.AwaitT):
			return gwDownEcho
		}
		// Past the push without its echo (not in this pull's scope):
		// judged as any change, against the pushed base.
		b.AwaitT = bson.Timestamp{}
	}
	if b.Await != "" {
		if awaitKey(ch.Version) == b.Await {
			return gwDownEcho
		}
		return gwDownCheck
	}
	switch {
	case ch.Version == b.Version:
		return gwDownSkip
	case localHash != b.Hash:
		return gwDownLocalAhead
	}
	return gwDownApply
}

// planGatewayCheck decides a gwDownCheck of change ch with the remote
// document cur read after it arrived: while the awaited state is still
// what the gateway holds, the change was older (skip); once it is not,
// cur is judged like any change. When cur is not ch, the replica has seen
// a state ahead of the pull (applied, or left to a local edit): the base
// then awaits cur's own change, so that the changes before it, still to
// come, are checked rather than applied.
func planGatewayCheck(b gwBase, localHash string, ch, cur gwRemote) (gwBase, gwDownAction) {
	if awaitKey(cur.Version) == b.Await {
		return b, gwDownSkip
	}
	b.Await = ""
	act := planGatewayDownload(b, localHash, cur)
	if cur.Version != ch.Version {
		b.Await = awaitKey(cur.Version)
	}
	return b, act
}

// gwOpKind is what an upload sends.
type gwOpKind int

const (
	// gwUpSkip: the local document is the base: nothing to send (an echo
	// of a download, or an edit undone).
	gwUpSkip gwOpKind = iota
	// gwUpFetch: like skip, but a remote change was left to an edit that
	// is now undone: fetch the remote document and apply it.
	gwUpFetch
	// gwUpSettle: the local document is gone and so is the base's remote
	// document: only the base moves.
	gwUpSettle
	gwUpInsert
	gwUpReplace
	gwUpDelete
)

func (k gwOpKind) String() string {
	return [...]string{"skip", "fetch", "settle", "insert", "replace", "delete"}[k]
}

// planGatewayUpload decides what a local change of a document sends: local
// is the local document now (nil: absent).
func planGatewayUpload(b gwBase, local bson.Raw) gwOpKind {
	if contentHash(local) == b.Hash {
		if b.RemoteAhead {
			return gwUpFetch
		}
		return gwUpSkip
	}
	switch {
	case local == nil && b.Version == "":
		return gwUpSettle
	case local == nil:
		return gwUpDelete
	case b.Version == "":
		return gwUpInsert
	}
	return gwUpReplace
}

// gwOpID names the push of local content (hash) over base (the base's
// version) by replica: the same push sent again (after a lost answer or a
// crash before its result was saved) has the same id, which the gateway
// answers with the first result instead of applying it twice.
func gwOpID(replica, coll string, id bson.RawValue, base, hash string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%x\x00%s\x00%s", replica, coll, id.Type, id.Value, base, hash)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// gwResultKind is how a push result is carried out locally.
type gwResultKind int

const (
	// gwResAccepted: the gateway holds the pushed content: the base moves
	// to it (the local document stays).
	gwResAccepted gwResultKind = iota
	// gwResConflict: the gateway decided a concurrent edit: its document
	// is written locally (unless the local document changed again
	// meanwhile) and the conflict is logged.
	gwResConflict
	// gwResRejected: refused (no write access, another owner's id, a
	// document the database refused): logged as refused; the local
	// document stays and the base keeps the remote's version, so the
	// refused edit is not sent again until it changes and the next remote
	// change of the document overwrites it.
	gwResRejected
)

// gwResult is a push result as the planner needs it.
type gwResult struct {
	Kind    gwResultKind
	Outcome string // the gateway's outcome of a conflict
	Remote  gwRemote
}

// planGatewayResult returns the base after push result r of local content
// local over base b, and the document to write locally (write false: none).
func planGatewayResult(b gwBase, local bson.Raw, r gwResult) (next gwBase, doc bson.Raw, write bool) {
	if !r.Remote.Time.IsZero() && r.Kind != gwResRejected {
		// The gateway wrote the document: its change is awaited by time.
		next = gwBase{Hash: contentHash(local), Version: r.Remote.Version, AwaitT: r.Remote.Time, Doc: local}
		if r.Kind == gwResAccepted {
			return next, nil, false
		}
		next.Hash, next.Doc = contentHash(r.Remote.Doc), r.Remote.Doc
		return next, r.Remote.Doc, true
	}
	switch r.Kind {
	case gwResAccepted:
		// Awaited even when the gateway wrote nothing (it held this
		// content already): a stale Await only makes the next pulled
		// change of the document cost a read.
		return gwBase{Hash: contentHash(local), Version: r.Remote.Version, Await: awaitKey(r.Remote.Version), Doc: local}, nil, false
	case gwResConflict:
		// Awaited also when the gateway wrote nothing (its document
		// won): the pull may still bring changes older than it. When its
		// own change is already behind the pull, the await costs one
		// read at the document's next change.
		return gwBase{Hash: contentHash(r.Remote.Doc), Version: r.Remote.Version, Await: awaitKey(r.Remote.Version), Doc: r.Remote.Doc}, r.Remote.Doc, true
	}
	// RemoteAhead stays: a remote change left to the refused edit is
	// fetched next (the engine does it at once).
	b.Hash = contentHash(local)
	return b, nil, false
}
