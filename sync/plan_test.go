package sync

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Server-free tests of the upload planner: the same table as
// the conformance suite (synctest; docs/sync.md), every row under every policy,
// decided by planUpload alone; then the recovery cases the chaos tests
// found, each as the facts a restarted or retried upload meets.

const (
	planBaseHLC = int64(1000) << 16
	planMine    = planBaseHLC + 10<<16 // A's edit, when it is the earlier one
	planTheirs  = planBaseHLC + 20<<16 // B's edit
	planLater   = planBaseHLC + 30<<16 // A's edit, when it is the later one
)

func planRules(policy ConflictPolicy) conflictRules {
	return conflictRules{
		policy:  policy,
		resolve: func(c Conflict) (bson.Raw, error) { return customResolve(context.Background(), c) },
		now:     func() time.Time { return time.Unix(0, 0) },
		caps:    defaultCaps(),
	}
}

func hashOf(d bson.Raw) string { return contentHash(d) }

// planFacts is replica A's upload of local over base, the remote holding
// remote as B wrote it (versioned by mongotide).
func planFacts(t *testing.T, id any, base, local, remote bson.Raw, mineHLC int64) uploadFacts {
	t.Helper()
	b := docMeta{Version: Version{HLC: planBaseHLC, Replica: "B"}, Hash: hashOf(base), Deleted: base == nil, Doc: base}
	if base == nil {
		b = docMeta{Hash: absentHash}
	}
	return uploadFacts{
		Coll: "c", ID: rawID(t, id), Replica: "A", Base: b,
		Local: local, LocalHash: hashOf(local),
		Mine:   docMeta{Version: Version{HLC: mineHLC, Replica: "A"}, Hash: hashOf(local), Deleted: local == nil},
		Remote: remote, RemoteHash: hashOf(remote),
		RemoteVer:   docMeta{Version: Version{HLC: planTheirs, Replica: "B"}, Hash: hashOf(remote), Deleted: remote == nil},
		RemoteVerOK: true,
	}
}

// TestPlanUploadTable: every row of the documented table under every
// policy, as planUpload decides it: the document both sides end with, which
// side is written, and the conflict logged.
func TestPlanUploadTable(t *testing.T) {
	for _, c := range pairCases() {
		for _, p := range policyRuns() {
			t.Run(c.name+"/"+p.name, func(t *testing.T) {
				var base bson.Raw
				if c.id == 1 {
					base = mustRaw(t, pairBase)
				}
				l, r := marshalOrNil(t, c.lDoc), marshalOrNil(t, c.rDoc)
				mine := planMine
				if p.localLater {
					mine = planLater
				}
				plan, err := planUpload(planFacts(t, c.id, base, l, r, mine), planRules(p.policy))
				if err != nil {
					t.Fatal(err)
				}
				want, wantLog := c.expect(t, p)
				checkPlan(t, plan, l, r, want, wantLog)
			})
		}
	}
}

// checkPlan checks that plan ends with want on both sides, writing only the
// side that does not hold it, and logs wantLog (nil: nothing).
func checkPlan(t *testing.T, plan uploadPlan, local, remote, want bson.Raw, wantLog *wantLog) {
	t.Helper()
	if hashOf(plan.AgreedDoc) != hashOf(want) {
		t.Fatalf("outcome %s: both sides get %v, want %v", plan.Outcome, plan.AgreedDoc, want)
	}
	if plan.Agreed.Hash != hashOf(want) {
		t.Fatalf("agreed entry %+v does not describe %v", plan.Agreed, want)
	}
	if up := hashOf(want) != hashOf(remote); plan.WriteRemote != up || up && hashOf(plan.UploadDoc) != hashOf(want) {
		t.Fatalf("outcome %s: WriteRemote %v with %v; want a remote write: %v", plan.Outcome, plan.WriteRemote, plan.UploadDoc, up)
	}
	if down := hashOf(want) != hashOf(local); plan.WriteLocal != down || down && hashOf(plan.LocalDoc) != hashOf(want) {
		t.Fatalf("outcome %s: WriteLocal %v with %v; want a local write: %v", plan.Outcome, plan.WriteLocal, plan.LocalDoc, down)
	}
	var got *Conflict
	if plan.Logged != nil {
		got = plan.Logged.Conflict
	}
	switch {
	case wantLog == nil && got != nil:
		t.Fatalf("logged %+v, want no conflict", *got)
	case wantLog != nil && got == nil:
		t.Fatalf("outcome %s logged nothing, want %+v", plan.Outcome, *wantLog)
	case wantLog != nil && (got.Kept != wantLog.kept || got.Reason != wantLog.reason || !slices.Equal(got.Fields, wantLog.fields)):
		t.Fatalf("logged kept %s reason %q fields %v, want %+v", got.Kept, got.Reason, got.Fields, *wantLog)
	}
	if got != nil && plan.Pending != pendingMark {
		t.Fatalf("a conflict not recorded as pending before the commit (Pending %v)", plan.Pending)
	}
	if wantLog != nil && wantLog.kept == LocalSide && plan.Logged.Hash != hashOf(want) {
		t.Fatalf("pending record's Hash %q, want the uploaded document's", plan.Logged.Hash)
	}
}

// The row "insert / insert-then-delete": B's net change is nothing against
// A's base (absent), so A's insert goes up without a conflict.
func TestPlanUploadInsertOverNetNothing(t *testing.T) {
	ins := mustRaw(t, bson.D{{Key: "_id", Value: 2}, {Key: "who", Value: "A"}})
	for _, p := range policyRuns() {
		f := planFacts(t, 2, nil, ins, nil, planMine)
		f.RemoteVer.Deleted = true // B's tombstone
		plan, err := planUpload(f, planRules(p.policy))
		if err != nil {
			t.Fatal(err)
		}
		if plan.Outcome != outcomeUploaded {
			t.Fatalf("%s: outcome %s, want uploaded", p.name, plan.Outcome)
		}
		checkPlan(t, plan, ins, nil, ins, nil)
	}
}

// planConflictRecord is the pending record of A's upload that kept its edit
// (version at, content hash) over B's earlier edit.
func planConflictRecord(t *testing.T, at int64, local bson.Raw) *pendingConflict {
	c := Conflict{ID: "c1", Collection: "c", DocumentID: rawID(t, 1), Kept: LocalSide, Local: local,
		Remote: mustRaw(t, withFields(bson.E{Key: "a", Value: "early"}))}
	return &pendingConflict{Conflict: &c, Result: Version{HLC: at, Replica: "A"}, Hash: hashOf(local)}
}

// The upload that decided a conflict committed, but its commit was never
// confirmed (the connection dropped during it) and the syncer stopped;
// then replica C wrote on top (here: deleted the document A had deleted, after
// reinserting it). A's next upload finds both sides absent: the conflict
// did happen and must be logged, and what A wrote becomes the base (found
// by TestChaosReplicas: the record was cleared unlogged).
func TestPlanUploadLandedPendingOverwritten(t *testing.T) {
	base := mustRaw(t, pairBase)
	const landedAt = planLater
	for _, tc := range []struct {
		name   string
		acks   map[string]int64
		landed bool
	}{
		{"acked", map[string]int64{ackKey("A"): landedAt, ackKey("C"): planLater + 5}, true},
		{"another upload of A acked", map[string]int64{ackKey("A"): landedAt - 1}, false},
		{"never acked (the commit failed)", map[string]int64{ackKey("C"): planLater + 5}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := planFacts(t, 1, base, nil, nil, planLater+100)
			f.Base.Pending = planConflictRecord(t, landedAt, nil)
			f.RemoteVer = docMeta{Version: Version{HLC: planLater + 5, Replica: "C"}, Hash: absentHash, Deleted: true, Acks: tc.acks}
			plan, err := planUpload(f, planRules(LastWriterWins))
			if err != nil {
				t.Fatal(err)
			}
			if plan.Outcome != outcomeSame || plan.WriteRemote || plan.WriteLocal {
				t.Fatalf("outcome %s (remote write %v, local write %v), want same with no writes", plan.Outcome, plan.WriteRemote, plan.WriteLocal)
			}
			logged := slices.ContainsFunc(plan.LogFirst, func(c Conflict) bool { return c.ID == "c1" })
			if logged != tc.landed {
				t.Fatalf("conflict logged: %v, want %v (LogFirst %+v)", logged, tc.landed, plan.LogFirst)
			}
			if tc.landed && plan.Base.Version != (Version{HLC: landedAt, Replica: "A"}) {
				t.Fatalf("base %+v, want the landed upload's version", plan.Base.Version)
			}
			if !tc.landed && plan.Base.Version != f.Base.Version {
				t.Fatalf("base moved to %+v for an upload that did not land", plan.Base.Version)
			}
		})
	}
}

// The same, the retried transaction itself meeting it: the first attempt's
// commit was reported failed but landed, and another replica wrote on top
// before the retry read the remote. The record the first attempt made (Prev)
// is what landed.
func TestPlanUploadPrevAttemptLandedOverwritten(t *testing.T) {
	base := mustRaw(t, pairBase)
	local := mustRaw(t, withFields(bson.E{Key: "a", Value: "A"}))
	onTop := mustRaw(t, withFields(bson.E{Key: "a", Value: "A"}, bson.E{Key: "b", Value: "C"}))
	f := planFacts(t, 1, base, local, onTop, planLater)
	f.Prev = planConflictRecord(t, planLater, local)
	f.RemoteVer = docMeta{Version: Version{HLC: planLater + 5, Replica: "C"}, Hash: hashOf(onTop), Acks: map[string]int64{ackKey("A"): planLater}}
	plan, err := planUpload(f, planRules(LastWriterWins))
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.LogFirst) != 1 || plan.LogFirst[0].ID != "c1" {
		t.Fatalf("LogFirst %+v, want the landed attempt's conflict", plan.LogFirst)
	}
	// C's write on top of A's is a plain download, not a new conflict.
	if plan.Outcome != outcomeDownloaded || plan.Logged != nil {
		t.Fatalf("outcome %s, logged %+v; want C's write downloaded, no new conflict", plan.Outcome, plan.Logged)
	}
	checkPlan(t, plan, local, onTop, onTop, nil)
}

// A merge committed, then was overwritten on the remote before the local
// side took it: the acks recognise it, the merge's conflict is logged
// (Landed), and the local side (unchanged since) gets what the remote holds.
func TestPlanUploadLandedMergeOverwritten(t *testing.T) {
	base := mustRaw(t, pairBase)
	local := mustRaw(t, withFields(bson.E{Key: "a", Value: "A"}))
	merged := mustRaw(t, withFields(bson.E{Key: "a", Value: "A"}, bson.E{Key: "b", Value: "B"}))
	onTop := mustRaw(t, withFields(bson.E{Key: "a", Value: "A"}, bson.E{Key: "b", Value: "C"}))
	c := Conflict{ID: "m1", Collection: "c", DocumentID: rawID(t, 1), Kept: LocalSide, Fields: []string{"a"}}
	f := planFacts(t, 1, base, local, onTop, planLater+100)
	f.Base.Pending = &pendingConflict{Conflict: &c, Result: Version{HLC: planLater, Replica: "A"}, MergedFrom: hashOf(local), MergedFromDoc: local, Hash: hashOf(merged)}
	f.RemoteVer = docMeta{Version: Version{HLC: planLater + 5, Replica: "C"}, Hash: hashOf(onTop), Acks: map[string]int64{ackKey("A"): planLater}}
	plan, err := planUpload(f, planRules(FieldMerge))
	if err != nil {
		t.Fatal(err)
	}
	if plan.Landed == nil || plan.Landed.Conflict.ID != "m1" {
		t.Fatalf("Landed %+v, want the merge found committed", plan.Landed)
	}
	if plan.Outcome != outcomeMerged {
		t.Fatalf("outcome %s, want merged (the remote's content comes down)", plan.Outcome)
	}
	checkPlan(t, plan, local, onTop, onTop, nil)
}

// An upload of ours landed, its base was never saved, and the remote still
// holds it: the base moves to it (judged against the stale base, a remote
// change made since would look like none), both sides agree, and its
// pending conflict is logged first (chaos test: landed upload with a stale
// base).
func TestPlanUploadLandedStaleBase(t *testing.T) {
	base := mustRaw(t, pairBase)
	local := mustRaw(t, withFields(bson.E{Key: "a", Value: "A"}))
	f := planFacts(t, 1, base, local, local, planLater+100)
	f.Base.Pending = planConflictRecord(t, planLater, local)
	f.RemoteVer = docMeta{Version: Version{HLC: planLater, Replica: "A"}, Hash: hashOf(local), Acks: map[string]int64{ackKey("A"): planLater}}
	plan, err := planUpload(f, planRules(LastWriterWins))
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.LogFirst) != 1 || plan.Outcome != outcomeSame || plan.Base.Version != f.RemoteVer.Version {
		t.Fatalf("outcome %s, base %+v, LogFirst %+v; want same on the landed base, its conflict logged", plan.Outcome, plan.Base.Version, plan.LogFirst)
	}
	if plan.Mine.HLC <= plan.Base.HLC {
		t.Fatalf("mine %d not after the adopted base %d", plan.Mine.HLC, plan.Base.HLC)
	}
}

// The retried transaction finds both sides equal at the version its first
// attempt wrote: that attempt committed after all, and its conflict stands
// (chaos test: commit reported failed, then the retry met a restarted
// server).
func TestPlanUploadCommitAfterAll(t *testing.T) {
	base := mustRaw(t, pairBase)
	local := mustRaw(t, withFields(bson.E{Key: "a", Value: "A"}))
	f := planFacts(t, 1, base, local, local, planLater)
	// The remote entry does not match (written without mongotide, say),
	// so it is versioned as the unversioned write after the base.
	f.RemoteVer.Hash = "other"
	f.Prev = planConflictRecord(t, planBaseHLC+1, local)
	f.Prev.Result.Replica = RemoteReplica
	plan, err := planUpload(f, planRules(LastWriterWins))
	if err != nil {
		t.Fatal(err)
	}
	if plan.Outcome != outcomeSame || plan.Logged != f.Prev || plan.Pending != pendingKeep {
		t.Fatalf("outcome %s, logged %+v, pending %v; want the earlier attempt's conflict kept", plan.Outcome, plan.Logged, plan.Pending)
	}
}

// downloadPlanFacts is replica A's download of remote (versioned by B
// unless unversioned) over base, the local side holding local.
func downloadPlanFacts(t *testing.T, base, local, remote bson.Raw, unversioned bool) downloadFacts {
	t.Helper()
	f := downloadFacts{
		Replica: "A",
		Base:    docMeta{Version: Version{HLC: planBaseHLC, Replica: "B"}, Hash: hashOf(base), Deleted: base == nil},
		Remote:  remote, RemoteHash: hashOf(remote),
		RemoteVer:   docMeta{Version: Version{HLC: planTheirs, Replica: "B"}, Hash: hashOf(remote), Deleted: remote == nil},
		RemoteVerOK: true,
		Local:       local, LocalHash: hashOf(local),
		PT: planLater,
	}
	if unversioned {
		f.RemoteVer.Hash = "an older write's"
	}
	return f
}

// TestPlanDownloadTable: what a remote change does to the local side, for
// every relation of the local document to the base and the remote one.
func TestPlanDownloadTable(t *testing.T) {
	base := mustRaw(t, pairBase)
	edited := mustRaw(t, withFields(bson.E{Key: "a", Value: "A"}))
	remote := mustRaw(t, withFields(bson.E{Key: "b", Value: "B"}))
	for _, tc := range []struct {
		name          string
		local, remote bson.Raw
		unversioned   bool
		remoteAhead   bool
		want          downloadAction
		wantMark      bool
	}{
		{"remote holds the base (an echo)", base, base, false, false, downloadNothing, false},
		{"local unchanged: it gets the remote's", base, remote, false, false, downloadApply, false},
		{"local unchanged, remote deleted", base, nil, false, false, downloadApply, false},
		{"written without mongotide", base, remote, true, false, downloadApply, false},
		{"local already holds it", remote, remote, false, false, downloadSettle, false},
		{"local edit pending: its upload decides", edited, remote, false, false, downloadDeferred, true},
		{"local delete pending", nil, remote, false, false, downloadDeferred, true},
		{"already flagged", edited, remote, false, true, downloadDeferred, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := downloadPlanFacts(t, base, tc.local, tc.remote, tc.unversioned)
			f.Base.RemoteAhead = tc.remoteAhead
			p := planDownload(f, planRules(FieldMerge))
			if p.Action != tc.want || p.MarkRemoteAhead != tc.wantMark || p.Landed {
				t.Fatalf("action %d mark %v landed %v, want %d mark %v", p.Action, p.MarkRemoteAhead, p.Landed, tc.want, tc.wantMark)
			}
			if tc.want != downloadApply && tc.want != downloadSettle {
				return
			}
			want := f.RemoteVer.Version
			if tc.unversioned {
				want = Version{HLC: planLater, Replica: RemoteReplica}
			}
			if p.Theirs.Version != want || p.Theirs.Hash != hashOf(tc.remote) || p.Theirs.Deleted != (tc.remote == nil) {
				t.Fatalf("new base %+v, want version %+v of the remote document", p.Theirs, want)
			}
			if !slices.Contains(p.Observe, p.Theirs.HLC) {
				t.Fatalf("clock does not observe the new base (%v)", p.Observe)
			}
			if hashOf(p.Theirs.Doc) != hashOf(tc.remote) {
				t.Fatal("FieldMerge keeps no base document for the new base")
			}
		})
	}
	// An unversioned write with a commit time before the base is still
	// ordered after it.
	f := downloadPlanFacts(t, base, base, remote, true)
	f.PT = planBaseHLC - 5
	if p := planDownload(f, planRules(LastWriterWins)); p.Theirs.HLC != planBaseHLC+1 {
		t.Fatalf("unversioned remote write stamped %d, want base+1 %d", p.Theirs.HLC, planBaseHLC+1)
	}
}

// An upload of ours landed but its base was never saved, then the remote
// deleted the document (without mongotide): judged against the stale base
// the local document looked edited and the delete never came down; against
// the landed write it comes down (live: TestUploadLandedBaseLostThenRemoteDelete).
// Also when the remote entry is no longer ours: the acks tell.
func TestPlanDownloadLandedUpload(t *testing.T) {
	base := mustRaw(t, pairBase)
	local := mustRaw(t, withFields(bson.E{Key: "a", Value: "A"}))
	for _, overwritten := range []bool{false, true} {
		f := downloadPlanFacts(t, base, local, nil, false)
		f.Base.Pending = planConflictRecord(t, planLater, local)
		f.RemoteVer = docMeta{Version: Version{HLC: planLater, Replica: "A"}, Hash: hashOf(local), Acks: map[string]int64{ackKey("A"): planLater}}
		f.PT = planLater + 10
		if overwritten {
			f.RemoteVer = docMeta{Version: Version{HLC: planLater + 5, Replica: "C"}, Hash: absentHash, Deleted: true, Acks: map[string]int64{ackKey("A"): planLater}}
		}
		p := planDownload(f, planRules(LastWriterWins))
		if !p.Landed || p.LandedLog == nil || p.LandedLog.ID != "c1" || p.Base.Version != (Version{HLC: planLater, Replica: "A"}) {
			t.Fatalf("overwritten=%v: landed %v log %v base %+v; want the landed upload adopted, its conflict logged", overwritten, p.Landed, p.LandedLog, p.Base.Version)
		}
		if p.Action != downloadApply || !p.Theirs.Deleted {
			t.Fatalf("overwritten=%v: action %d theirs %+v; want the remote delete applied", overwritten, p.Action, p.Theirs)
		}
	}
}

// A pending conflict the remote won took effect when the local side
// already holds the remote's document: it is logged as the base moves
// (its log write had failed), matched by content when the download
// versions the remote document differently.
func TestPlanDownloadSettlesPendingByContent(t *testing.T) {
	base := mustRaw(t, pairBase)
	remote := mustRaw(t, withFields(bson.E{Key: "b", Value: "B"}))
	c := Conflict{ID: "r1", Kept: RemoteSide, Remote: remote}
	f := downloadPlanFacts(t, base, remote, remote, true)
	f.Base.Pending = &pendingConflict{Conflict: &c, Result: Version{HLC: planTheirs, Replica: "B"}}
	p := planDownload(f, planRules(LastWriterWins))
	if p.Action != downloadSettle || len(p.Log) != 1 || p.Log[0].ID != "r1" {
		t.Fatalf("action %d log %+v; want settle, the pending conflict logged", p.Action, p.Log)
	}
	c.Remote = mustRaw(t, withFields(bson.E{Key: "b", Value: "other"}))
	if p := planDownload(f, planRules(LastWriterWins)); len(p.Log) != 0 {
		t.Fatalf("logged %+v for a pending conflict whose outcome the sides do not hold", p.Log)
	}
}

// A conflict still pending (its log write failed) when the next conflict of
// the document is decided is logged first, not replaced unlogged by the new
// record (live: TestPendingConflictLoggedBeforeTheNextReplacesIt).
func TestPlanUploadLogsPendingBeforeReplacingIt(t *testing.T) {
	base := mustRaw(t, pairBase)
	local := mustRaw(t, withFields(bson.E{Key: "a", Value: "A2"}))
	remote := mustRaw(t, withFields(bson.E{Key: "a", Value: "B2"}))
	f := planFacts(t, 1, base, local, remote, planLater)
	f.Base.Pending = planConflictRecord(t, planMine, mustRaw(t, withFields(bson.E{Key: "a", Value: "A1"})))
	f.Base.Pending.Result.Replica = "someone else" // not a landed upload of ours
	plan, err := planUpload(f, planRules(LocalWins))
	if err != nil {
		t.Fatal(err)
	}
	if plan.Pending != pendingMark || plan.Logged == nil || plan.Logged.Conflict == nil || plan.Logged.Conflict.ID == "c1" {
		t.Fatalf("pending %v logged %+v; want the new conflict recorded", plan.Pending, plan.Logged)
	}
	if len(plan.LogFirst) != 1 || plan.LogFirst[0].ID != "c1" {
		t.Fatalf("LogFirst %+v; want the earlier pending conflict logged before its record is replaced", plan.LogFirst)
	}
}

// A pending upload whose version is ours and is on record as the upload
// of a stale base: the local document went back to that base (the
// application deleted what it had inserted), so the base moves to the
// landed upload first and the delete is a new edit on top of it, uploaded;
// the conflict is logged (live: TestPendingConflictSurvivesStaleBase).
func TestPlanUploadPendingSurvivesStaleBase(t *testing.T) {
	inserted := mustRaw(t, bson.D{{Key: "_id", Value: 2}, {Key: "who", Value: "A"}})
	f := planFacts(t, 2, nil, nil, inserted, planLater+100)
	f.Base.Pending = planConflictRecord(t, planLater, inserted)
	f.RemoteVer = docMeta{Version: Version{HLC: planLater, Replica: "A"}, Hash: hashOf(inserted), Acks: map[string]int64{ackKey("A"): planLater}}
	plan, err := planUpload(f, planRules(LastWriterWins))
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.LogFirst) != 1 || plan.Outcome != outcomeUploaded || !plan.WriteRemote || plan.UploadDoc != nil {
		t.Fatalf("outcome %s, remote write %v of %v, LogFirst %+v; want the delete uploaded over the landed insert, its conflict logged",
			plan.Outcome, plan.WriteRemote, plan.UploadDoc, plan.LogFirst)
	}
}

// An upload of A landed unconfirmed (its commit reply was lost, the syncer
// stopped), C and then a program without mongotide wrote on top, and A's
// document changed again; the change
// handled again after the restart is stamped from the same event, so with
// the landed upload's version. Its transaction's first attempt decides a
// conflict and is aborted (a transient write conflict); the retry must not
// take that aborted attempt for the landed upload (same version): the
// conflict is decided again, and the local edit goes up. Before, the retry
// logged the conflict as kept, moved the base to the local document and
// downloaded the remote over it (TestChaosReplicas, seed
// 17528524105259822514).
func TestPlanUploadStampsAfterOwnLandedUpload(t *testing.T) {
	base := mustRaw(t, pairBase)
	local := mustRaw(t, withFields(bson.E{Key: "a", Value: "A again"}))
	remote := mustRaw(t, withFields(bson.E{Key: "a", Value: "C on top"}))
	const landedAt = planMine // A's first upload of this change, landed
	f := planFacts(t, 1, base, local, remote, landedAt)
	// The remote entry is C's upload on top of A's (A's ack stays in it);
	// then the document was written again without mongotide.
	byC := mustRaw(t, withFields(bson.E{Key: "a", Value: "C"}))
	f.RemoteVer = docMeta{Version: Version{HLC: planTheirs, Replica: "C"}, Hash: hashOf(byC), Acks: map[string]int64{ackKey("A"): landedAt, ackKey("C"): planTheirs}}
	first, err := planUpload(f, planRules(LastWriterWins))
	if err != nil {
		t.Fatal(err)
	}
	if first.Mine.HLC <= landedAt || first.Logged == nil || first.Logged.Result.HLC <= landedAt {
		t.Fatalf("first attempt: edit stamped %d (pending result %+v), want after A's acked upload %d", first.Mine.HLC, first.Logged, landedAt)
	}
	// The first attempt aborted: the remote is as it was; the retry sees
	// its pending record as Prev.
	f.Prev = first.Logged
	retry, err := planUpload(f, planRules(LastWriterWins))
	if err != nil {
		t.Fatal(err)
	}
	if len(retry.LogFirst) != 0 || retry.Outcome != first.Outcome || !retry.WriteRemote || retry.WriteLocal {
		t.Fatalf("retry: outcome %s (remote write %v, local write %v), LogFirst %+v; want the first attempt's %s again, nothing taken for landed",
			retry.Outcome, retry.WriteRemote, retry.WriteLocal, retry.LogFirst, first.Outcome)
	}
	if !bytesEqual(retry.UploadDoc, local) || retry.Logged == nil || retry.Logged.Conflict == nil || retry.Logged.Conflict.Kept != LocalSide {
		t.Fatalf("retry uploads %s with conflict %+v, want the local edit kept and its conflict pending", retry.UploadDoc, retry.Logged)
	}
}

func bytesEqual(a, b bson.Raw) bool { return string(a) == string(b) }
