package sync

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The outcome of every pair of concurrent operations under every policy
// (docs/sync.md has the same table). Device A's syncer meets the conflict:
// device B uploads its edit first, then A starts and finds the remote
// changed since its base. So for A, "local" is A's edit and "remote" B's.

var pairBase = bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "base"}, {Key: "b", Value: "base"},
	{Key: "n", Value: bson.D{{Key: "x", Value: 1}, {Key: "y", Value: 1}}}}

// pairOp is one side's concurrent operation.
type pairOp func(ctx context.Context, c *mongo.Collection) error

func opSet(id any, fields bson.D) pairOp {
	return func(ctx context.Context, c *mongo.Collection) error {
		_, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: fields}})
		return err
	}
}

func opReplace(doc bson.D) pairOp {
	return func(ctx context.Context, c *mongo.Collection) error {
		_, err := c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: doc[0].Value}}, doc)
		return err
	}
}

func opInsert(doc bson.D) pairOp {
	return func(ctx context.Context, c *mongo.Collection) error {
		_, err := c.InsertOne(ctx, doc)
		return err
	}
}

func opDelete(id any) pairOp {
	return func(ctx context.Context, c *mongo.Collection) error {
		_, err := c.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
		return err
	}
}

// opSeq runs ops in order (e.g. delete then reinsert).
func opSeq(ops ...pairOp) pairOp {
	return func(ctx context.Context, c *mongo.Collection) error {
		for _, op := range ops {
			if err := op(ctx, c); err != nil {
				return err
			}
		}
		return nil
	}
}

// withFields is pairBase with fields set (in place or appended) or, for
// the value "$remove", removed.
func withFields(changes ...bson.E) bson.D {
	out := slices.Clone(pairBase)
	for _, c := range changes {
		i := slices.IndexFunc(out, func(e bson.E) bool { return e.Key == c.Key })
		switch {
		case c.Value == "$remove":
			out = slices.Delete(out, i, i+1)
		case i < 0:
			out = append(out, c)
		default:
			out[i] = c
		}
	}
	return out
}

type pairCase struct {
	name          string
	id            any
	local, remote pairOp
	// lDoc and rDoc are each side's document after its own edit (nil:
	// deleted).
	lDoc, rDoc bson.D
	// FieldMerge's result when the local or the remote edit wins the
	// clashing fields, and the clashing fields (nil: merged silently).
	mergeL, mergeR bson.D
	clash          []string
}

func pairCases() []pairCase {
	nested := func(x, y any) bson.E {
		return bson.E{Key: "n", Value: bson.D{{Key: "x", Value: x}, {Key: "y", Value: y}}}
	}
	insA := bson.D{{Key: "_id", Value: 2}, {Key: "who", Value: "A"}, {Key: "a", Value: 1}}
	insB := bson.D{{Key: "_id", Value: 2}, {Key: "who", Value: "B"}, {Key: "b", Value: 1}}
	return []pairCase{
		{name: "insert/insert same _id", id: 2, local: opInsert(insA), remote: opInsert(insB), lDoc: insA, rDoc: insB,
			mergeL: bson.D{{Key: "_id", Value: 2}, {Key: "b", Value: 1}, {Key: "who", Value: "A"}, {Key: "a", Value: 1}},
			mergeR: bson.D{{Key: "_id", Value: 2}, {Key: "who", Value: "B"}, {Key: "b", Value: 1}, {Key: "a", Value: 1}},
			clash:  []string{"who"}},
		{name: "insert/delete-then-reinsert", id: 2, local: opInsert(insA),
			remote: opSeq(opInsert(bson.D{{Key: "_id", Value: 2}, {Key: "who", Value: "B0"}}), opDelete(2), opInsert(insB)),
			lDoc:   insA, rDoc: insB,
			mergeL: bson.D{{Key: "_id", Value: 2}, {Key: "b", Value: 1}, {Key: "who", Value: "A"}, {Key: "a", Value: 1}},
			mergeR: bson.D{{Key: "_id", Value: 2}, {Key: "who", Value: "B"}, {Key: "b", Value: 1}, {Key: "a", Value: 1}},
			clash:  []string{"who"}},
		{name: "update/update same field", id: 1,
			local: opSet(1, bson.D{{Key: "a", Value: "A"}}), remote: opSet(1, bson.D{{Key: "a", Value: "B"}}),
			lDoc: withFields(bson.E{Key: "a", Value: "A"}), rDoc: withFields(bson.E{Key: "a", Value: "B"}),
			mergeL: withFields(bson.E{Key: "a", Value: "A"}), mergeR: withFields(bson.E{Key: "a", Value: "B"}),
			clash: []string{"a"}},
		{name: "update/update same field same value", id: 1,
			local: opSet(1, bson.D{{Key: "a", Value: "X"}}), remote: opSet(1, bson.D{{Key: "a", Value: "X"}}),
			lDoc: withFields(bson.E{Key: "a", Value: "X"}), rDoc: withFields(bson.E{Key: "a", Value: "X"}),
			mergeL: withFields(bson.E{Key: "a", Value: "X"}), mergeR: withFields(bson.E{Key: "a", Value: "X"})},
		{name: "update/update different fields", id: 1,
			local: opSet(1, bson.D{{Key: "a", Value: "A"}}), remote: opSet(1, bson.D{{Key: "b", Value: "B"}}),
			lDoc: withFields(bson.E{Key: "a", Value: "A"}), rDoc: withFields(bson.E{Key: "b", Value: "B"}),
			mergeL: withFields(bson.E{Key: "a", Value: "A"}, bson.E{Key: "b", Value: "B"}),
			mergeR: withFields(bson.E{Key: "a", Value: "A"}, bson.E{Key: "b", Value: "B"})},
		{name: "update/update different nested fields", id: 1,
			local: opSet(1, bson.D{{Key: "n.x", Value: 2}}), remote: opSet(1, bson.D{{Key: "n.y", Value: 3}}),
			lDoc: withFields(nested(2, 1)), rDoc: withFields(nested(1, 3)),
			mergeL: withFields(nested(2, 3)), mergeR: withFields(nested(2, 3))},
		{name: "update/update same nested field", id: 1,
			local: opSet(1, bson.D{{Key: "n.x", Value: 2}, {Key: "a", Value: "A"}}), remote: opSet(1, bson.D{{Key: "n.x", Value: int64(2)}}),
			lDoc: withFields(bson.E{Key: "a", Value: "A"}, nested(2, 1)), rDoc: withFields(nested(int64(2), 1)),
			mergeL: withFields(bson.E{Key: "a", Value: "A"}, nested(2, 1)), mergeR: withFields(bson.E{Key: "a", Value: "A"}, nested(int64(2), 1)),
			clash: []string{"n.x"}},
		{name: "update/replace", id: 1,
			local:  opSet(1, bson.D{{Key: "a", Value: "A"}}),
			remote: opReplace(bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "base"}, {Key: "b", Value: "B"}, {Key: "c", Value: "new"}}),
			lDoc:   withFields(bson.E{Key: "a", Value: "A"}),
			rDoc:   bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "base"}, {Key: "b", Value: "B"}, {Key: "c", Value: "new"}},
			mergeL: bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "A"}, {Key: "b", Value: "B"}, {Key: "c", Value: "new"}},
			mergeR: bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "A"}, {Key: "b", Value: "B"}, {Key: "c", Value: "new"}}},
		{name: "replace/replace", id: 1,
			local:  opReplace(bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "A"}, {Key: "z", Value: "A"}}),
			remote: opReplace(bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "B"}, {Key: "y", Value: "B"}}),
			lDoc:   bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "A"}, {Key: "z", Value: "A"}},
			rDoc:   bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "B"}, {Key: "y", Value: "B"}},
			mergeL: bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "A"}, {Key: "y", Value: "B"}, {Key: "z", Value: "A"}},
			mergeR: bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "B"}, {Key: "y", Value: "B"}, {Key: "z", Value: "A"}},
			clash:  []string{"a"}},
		{name: "update/delete", id: 1,
			local: opSet(1, bson.D{{Key: "a", Value: "A"}}), remote: opDelete(1),
			lDoc: withFields(bson.E{Key: "a", Value: "A"})},
		{name: "delete/update", id: 1,
			local: opDelete(1), remote: opSet(1, bson.D{{Key: "a", Value: "B"}}),
			rDoc: withFields(bson.E{Key: "a", Value: "B"})},
		{name: "delete/delete", id: 1, local: opDelete(1), remote: opDelete(1)},
		{name: "delete-then-reinsert/update", id: 1,
			local:  opSeq(opDelete(1), opInsert(bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "A"}, {Key: "fresh", Value: true}})),
			remote: opSet(1, bson.D{{Key: "b", Value: "B"}}),
			lDoc:   bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "A"}, {Key: "fresh", Value: true}},
			rDoc:   withFields(bson.E{Key: "b", Value: "B"}),
			mergeL: bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "A"}, {Key: "fresh", Value: true}},
			mergeR: bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "A"}, {Key: "b", Value: "B"}, {Key: "fresh", Value: true}},
			clash:  []string{"b"}},
		{name: "delete/delete-then-reinsert", id: 1,
			local:  opDelete(1),
			remote: opSeq(opDelete(1), opInsert(bson.D{{Key: "_id", Value: 1}, {Key: "b", Value: "B"}})),
			rDoc:   bson.D{{Key: "_id", Value: 1}, {Key: "b", Value: "B"}}},
	}
}

// customResolve is the Custom policy of the table: an update beats a
// delete; two documents give the remote one marked as resolved.
func customResolve(_ context.Context, c Conflict) (bson.Raw, error) {
	switch {
	case c.Local == nil:
		return c.Remote, nil
	case c.Remote == nil:
		return c.Local, nil
	}
	return bson.Marshal(append(rawToD(c.Remote), bson.E{Key: "resolvedBy", Value: "custom"}))
}

func rawToD(r bson.Raw) bson.D {
	var d bson.D
	elems, _ := r.Elements()
	for _, e := range elems {
		d = append(d, bson.E{Key: e.Key(), Value: e.Value()})
	}
	return d
}

type policyRun struct {
	name   string
	policy ConflictPolicy
	// localLater: A's (the local) edit is made after B's.
	localLater bool
}

func policyRuns() []policyRun {
	return []policyRun{
		{"last-writer-wins/local later", LastWriterWins, true},
		{"last-writer-wins/local earlier", LastWriterWins, false},
		{"field-merge/local later", FieldMerge, true},
		{"field-merge/local earlier", FieldMerge, false},
		// The fixed policies ignore time: each wins as the earlier edit.
		{"remote-wins/local later", RemoteWins, true},
		{"local-wins/local earlier", LocalWins, false},
		{"custom", Custom, true},
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
	l, r := marshalOrNil(t, c.lDoc), marshalOrNil(t, c.rDoc)
	if string(l) == string(r) && (l == nil) == (r == nil) {
		return l, nil // not a conflict: both sides agree
	}
	if p.policy == Custom {
		doc, err := customResolve(context.Background(), Conflict{Local: l, Remote: r})
		if err != nil {
			t.Fatal(err)
		}
		return doc, nil
	}
	localWins := p.policy == LocalWins || (p.policy != RemoteWins && p.localLater)
	kept := RemoteSide
	if localWins {
		kept = LocalSide
	}
	if p.policy == FieldMerge && l != nil && r != nil {
		doc := c.mergeR
		if localWins {
			doc = c.mergeL
		}
		if c.clash == nil {
			return mustRaw(t, doc), nil
		}
		return mustRaw(t, doc), &wantLog{kept: kept, fields: c.clash, reason: ReasonFields}
	}
	var reason ConflictReason
	if p.policy == FieldMerge {
		reason = ReasonDeleteVsUpdate
	}
	if localWins {
		return l, &wantLog{kept: kept, reason: reason}
	}
	return r, &wantLog{kept: kept, reason: reason}
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

func TestConflictOutcomeTable(t *testing.T) {
	for _, p := range policyRuns() {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range pairCases() {
				t.Run(c.name, func(t *testing.T) {
					runPairCase(t, p, c)
				})
			}
		})
	}
}

func runPairCase(t *testing.T, p policyRun, c pairCase) {
	ctx := testCtx(t)
	e := newPairEnv(t, ctx, p.policy)
	want, wantLog := c.expect(t, p)
	id := rawID(t, c.id)

	first, second := c.local, c.remote
	firstColl, secondColl := e.la, e.lb
	if !p.localLater {
		// A's edit first, then B's.
	} else {
		first, second = c.remote, c.local
		firstColl, secondColl = e.lb, e.la
	}
	if err := first(ctx, firstColl); err != nil {
		t.Fatal(err)
	}
	clockOf(t).Advance()
	if err := second(ctx, secondColl); err != nil {
		t.Fatal(err)
	}

	// B uploads onto an unchanged base; then A meets the conflict.
	if err := e.b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	docIs(t, ctx, e.rc, id, marshalOrNil(t, c.rDoc))
	if err := e.b.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, coll := range []*mongo.Collection{e.la, e.lb, e.rc} {
		docIs(t, ctx, coll, id, want)
	}
	for _, s := range []*Syncer{e.a, e.b} {
		if err := s.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wantCount := 1
	if want == nil {
		wantCount = 0
	}
	if c.id != 1 {
		wantCount++ // pairBase is still there
	}
	sameContents(t, ctx, e.la, e.rc, wantCount)
	sameContents(t, ctx, e.lb, e.rc, wantCount)

	// Settled: another write goes through both syncers and the document's
	// remote version does not move (no ping-pong).
	key := bsonValue(metaKey("c", id))
	var before bson.Raw
	before, _ = e.a.remoteVers.FindOne(ctx, idFilter(key)).Raw()
	if _, err := e.la.InsertOne(ctx, bson.D{{Key: "_id", Value: "probe"}}); err != nil {
		t.Fatal(err)
	}
	docIs(t, ctx, e.lb, rawID(t, "probe"), mustRaw(t, bson.D{{Key: "_id", Value: "probe"}}))
	for _, s := range []*Syncer{e.a, e.b} {
		if err := s.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := e.a.remoteVers.FindOne(ctx, idFilter(key)).Raw()
	if string(before) != string(after) {
		t.Fatalf("remote version moved after settling: %v -> %v", before, after)
	}
	docIs(t, ctx, e.la, id, want)

	// The conflict log: on A only, as expected.
	logA, err := e.a.Conflicts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if logB, err := e.b.Conflicts(ctx, ""); err != nil || len(logB) != 0 || e.bReported.Load() != 0 {
		t.Fatalf("B logged %+v (%d reported), %v; want nothing", logB, e.bReported.Load(), err)
	}
	if wantLog == nil {
		if len(logA) != 0 || e.aReported.Load() != 0 {
			t.Fatalf("A logged %+v (%d reported), want nothing", logA, e.aReported.Load())
		}
		return
	}
	if len(logA) != 1 || e.aReported.Load() != 1 {
		t.Fatalf("A logged %d conflicts (%d reported), want 1: %+v", len(logA), e.aReported.Load(), logA)
	}
	got := logA[0]
	if got.Kept != wantLog.kept || !slices.Equal(got.Fields, wantLog.fields) || got.Reason != wantLog.reason ||
		got.Policy != p.policy || got.Collection != "c" || !got.DocumentID.Equal(id) {
		t.Fatalf("conflict = kept %s fields %v reason %q policy %s coll %s id %s; want kept %s fields %v reason %q",
			got.Kept, got.Fields, got.Reason, got.Policy, got.Collection, got.DocumentID, wantLog.kept, wantLog.fields, wantLog.reason)
	}
	if string(got.Local) != string(marshalOrNil(t, c.lDoc)) || string(got.Remote) != string(marshalOrNil(t, c.rDoc)) {
		t.Fatalf("conflict edits = local %v remote %v; want %v and %v", got.Local, got.Remote, c.lDoc, c.rDoc)
	}
	if got.LocalVersion.Replica != "A" || got.RemoteVersion.Replica != "B" {
		t.Fatalf("conflict versions = %+v / %+v", got.LocalVersion, got.RemoteVersion)
	}
}
