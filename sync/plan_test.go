package sync

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Server-free tests of the upload planner: the same table as
// TestConflictOutcomeTable (docs/sync.md), every row under every policy,
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
	return &pendingConflict{Conflict: &c, Result: Version{HLC: at, Replica: "A"}}
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
	f.RemoteVer = docMeta{Version: Version{HLC: planLater, Replica: "A"}, Hash: hashOf(local)}
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
