package sync

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/mongotide/mongotide/sync/internal/pairtable"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The outcome table (docs/sync.md) lives in internal/pairtable, shared
// with the conformance suite (synctest), which runs it live over both
// transports; here are its adapters for the planner's table test
// (plan_test.go) and the live tests of this package.

var pairBase = pairtable.Base

type pairOp = pairtable.Op

var (
	opSet      = pairtable.Set
	opReplace  = pairtable.Replace
	opInsert   = pairtable.Insert
	opDelete   = pairtable.Delete
	withFields = pairtable.With
)

// pairCase is a row of the table.
type pairCase struct {
	name       string
	id         any
	lDoc, rDoc bson.D
	row        pairtable.Case
}

func pairCases() []pairCase {
	var out []pairCase
	for _, c := range pairtable.Cases() {
		out = append(out, pairCase{name: c.Name, id: c.ID, lDoc: c.LDoc, rDoc: c.RDoc, row: c})
	}
	return out
}

// customResolve is the table's Custom policy.
func customResolve(_ context.Context, c Conflict) (bson.Raw, error) {
	return pairtable.CustomResolve(c.Local, c.Remote)
}

type policyRun struct {
	name   string
	policy ConflictPolicy
	// localLater: A's (the local) edit is made after B's.
	localLater bool
	run        pairtable.Run
}

func policyRuns() []policyRun {
	var out []policyRun
	for _, r := range pairtable.Runs() {
		p, err := ParseConflictPolicy(r.Policy)
		if err != nil {
			panic(err) // TestPairTableNames names the mismatch
		}
		out = append(out, policyRun{name: r.Name, policy: p, localLater: r.LocalLater, run: r})
	}
	return out
}

// TestPairTableNames: the table names sync's policies, sides and reasons
// by their strings; they must be this package's.
func TestPairTableNames(t *testing.T) {
	for _, r := range pairtable.Runs() {
		if _, err := ParseConflictPolicy(r.Policy); err != nil {
			t.Error(err)
		}
	}
	pairs := [][2]string{
		{pairtable.LocalSide, string(LocalSide)}, {pairtable.RemoteSide, string(RemoteSide)},
		{pairtable.ReasonFields, string(ReasonFields)}, {pairtable.ReasonDeleteVsUpdate, string(ReasonDeleteVsUpdate)},
		{pairtable.ReasonNoBase, string(ReasonNoBase)},
	}
	for _, p := range pairs {
		if p[0] != p[1] {
			t.Errorf("pairtable has %q where sync has %q", p[0], p[1])
		}
	}
}

type wantLog struct {
	kept   Side
	fields []string
	reason ConflictReason
}

func marshalOrNil(t *testing.T, d bson.D) bson.Raw {
	t.Helper()
	if d == nil {
		return nil
	}
	return mustRaw(t, d)
}

// expect returns the document every side must end with and the conflict
// logged on A (nil: none).
func (c pairCase) expect(t *testing.T, p policyRun) (bson.Raw, *wantLog) {
	t.Helper()
	doc, log, err := c.row.Expect(p.run)
	if err != nil {
		t.Fatal(err)
	}
	if log == nil {
		return doc, nil
	}
	return doc, &wantLog{kept: Side(log.Kept), fields: log.Fields, reason: ConflictReason(log.Reason)}
}

// pairEnv is two devices (A and B, their local databases on one server)
// and the remote (another server), with stopped syncers after pairBase
// reached all three.
type pairEnv struct {
	a, b        *Syncer
	la, lb, rc  *mongo.Collection
	aReported   atomic.Int64
	bReported   atomic.Int64
	localServer *mongo.Client
}

func newPairEnv(t *testing.T, ctx context.Context, policy ConflictPolicy) *pairEnv {
	t.Helper()
	remote := newDB(t, "remote")
	locA := newDB(t, "a")
	locB := locA.Client().Database(locA.Name() + "b")
	e := &pairEnv{la: locA.Collection("c"), lb: locB.Collection("c"), rc: remote.Collection("c"), localServer: locA.Client()}
	var resolve func(context.Context, Conflict) (bson.Raw, error)
	if policy == Custom {
		resolve = customResolve
	}
	var err error
	e.a, err = New(withClock(t, Config{Local: locA, Remote: remote, Collections: []string{"c"}, ReplicaID: "A", Conflict: policy, Resolve: resolve,
		OnConflict: func(Conflict) { e.aReported.Add(1) }}))
	if err != nil {
		t.Fatal(err)
	}
	e.b, err = New(withClock(t, Config{Local: locB, Remote: remote, Collections: []string{"c"}, ReplicaID: "B", Conflict: policy, Resolve: resolve,
		OnConflict: func(Conflict) { e.bReported.Add(1) }}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.a.Stop(context.Background())
		_ = e.b.Stop(context.Background())
	})
	for _, s := range []*Syncer{e.a, e.b} {
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		eventually(t, "bootstrapped", func() (bool, string) {
			st, err := s.Status(ctx)
			return err == nil && st.Collections[0].Bootstrapped, fmt.Sprintf("%+v %v", st, err)
		})
	}
	if _, err := e.la.InsertOne(ctx, pairBase); err != nil {
		t.Fatal(err)
	}
	sameContents(t, ctx, e.la, e.rc, 1)
	sameContents(t, ctx, e.lb, e.rc, 1)
	for _, s := range []*Syncer{e.a, e.b} {
		if err := s.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func rawID(t *testing.T, id any) bson.RawValue {
	t.Helper()
	typ, data, err := bson.MarshalValue(id)
	if err != nil {
		t.Fatal(err)
	}
	return bson.RawValue{Type: typ, Value: data}
}

// docIs waits until coll's document id is exactly want (nil: absent).
func docIs(t *testing.T, ctx context.Context, coll *mongo.Collection, id bson.RawValue, want bson.Raw) {
	t.Helper()
	eventually(t, coll.Database().Name()+" holds the expected document", func() (bool, string) {
		got, err := readDoc(ctx, coll, id)
		if err != nil {
			return false, err.Error()
		}
		return string(got) == string(want), fmt.Sprintf("got %v, want %v", got, want)
	})
}
