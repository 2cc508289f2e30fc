// Package pairtable is the conflict outcome table of package sync: every
// pair of concurrent operations of two replicas on one document, and the
// document every side must end with under every conflict policy (the table
// of docs/sync.md). The planner's table test (sync/plan_test.go, no
// server) and the conformance suite over every transport
// (sync/synctest) read it, so the two cannot drift apart. It does not
// import package sync (whose internal tests use it): policies, sides and
// reasons are named by their strings, which sync's tests check against its
// constants.
package pairtable

import (
	"context"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The names of sync's policies, sides and FieldMerge reasons.
const (
	LastWriterWins = "last-writer-wins"
	RemoteWins     = "remote-wins"
	LocalWins      = "local-wins"
	Custom         = "custom"
	FieldMerge     = "field-merge"

	LocalSide  = "local"
	RemoteSide = "remote"

	ReasonFields         = "fields changed on both sides"
	ReasonDeleteVsUpdate = "delete vs update"
	ReasonNoBase         = "no base document to merge against"
)

// Base is the document (_id 1) both replicas hold before their edits.
var Base = bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "base"}, {Key: "b", Value: "base"},
	{Key: "n", Value: bson.D{{Key: "x", Value: 1}, {Key: "y", Value: 1}}}}

// Op is one side's concurrent operation, made on its local database.
type Op func(ctx context.Context, c *mongo.Collection) error

// Set sets fields of document id.
func Set(id any, fields bson.D) Op {
	return func(ctx context.Context, c *mongo.Collection) error {
		_, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: fields}})
		return err
	}
}

// Replace replaces the document whose _id is doc's first field.
func Replace(doc bson.D) Op {
	return func(ctx context.Context, c *mongo.Collection) error {
		_, err := c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: doc[0].Value}}, doc)
		return err
	}
}

// Insert inserts doc.
func Insert(doc bson.D) Op {
	return func(ctx context.Context, c *mongo.Collection) error {
		_, err := c.InsertOne(ctx, doc)
		return err
	}
}

// Delete deletes document id.
func Delete(id any) Op {
	return func(ctx context.Context, c *mongo.Collection) error {
		_, err := c.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
		return err
	}
}

// Seq runs ops in order (e.g. delete then reinsert).
func Seq(ops ...Op) Op {
	return func(ctx context.Context, c *mongo.Collection) error {
		for _, op := range ops {
			if err := op(ctx, c); err != nil {
				return err
			}
		}
		return nil
	}
}

// With is Base with fields set (in place or appended) or, for the value
// "$remove", removed.
func With(changes ...bson.E) bson.D {
	out := slices.Clone(Base)
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

// Case is a pair of concurrent operations. Replica A's syncer meets the
// conflict: replica B uploads its edit first, then A starts and finds the
// remote changed since its base. For A, "local" is A's edit.
type Case struct {
	Name          string
	ID            any
	Local, Remote Op
	// LDoc and RDoc are each side's document after its own edit (nil:
	// deleted).
	LDoc, RDoc bson.D
	// FieldMerge's result when the local or the remote edit wins the
	// clashing fields, and the clashing fields (nil: merged silently).
	MergeL, MergeR bson.D
	Clash          []string
}

func Cases() []Case {
	nested := func(x, y any) bson.E {
		return bson.E{Key: "n", Value: bson.D{{Key: "x", Value: x}, {Key: "y", Value: y}}}
	}
	insA := bson.D{{Key: "_id", Value: 2}, {Key: "who", Value: "A"}, {Key: "a", Value: 1}}
	insB := bson.D{{Key: "_id", Value: 2}, {Key: "who", Value: "B"}, {Key: "b", Value: 1}}
	return []Case{
		{Name: "insert/insert same _id", ID: 2, Local: Insert(insA), Remote: Insert(insB), LDoc: insA, RDoc: insB,
			MergeL: bson.D{{Key: "_id", Value: 2}, {Key: "b", Value: 1}, {Key: "who", Value: "A"}, {Key: "a", Value: 1}},
			MergeR: bson.D{{Key: "_id", Value: 2}, {Key: "who", Value: "B"}, {Key: "b", Value: 1}, {Key: "a", Value: 1}},
			Clash:  []string{"who"}},
		{Name: "insert/delete-then-reinsert", ID: 2, Local: Insert(insA),
			Remote: Seq(Insert(bson.D{{Key: "_id", Value: 2}, {Key: "who", Value: "B0"}}), Delete(2), Insert(insB)),
			LDoc:   insA, RDoc: insB,
			MergeL: bson.D{{Key: "_id", Value: 2}, {Key: "b", Value: 1}, {Key: "who", Value: "A"}, {Key: "a", Value: 1}},
			MergeR: bson.D{{Key: "_id", Value: 2}, {Key: "who", Value: "B"}, {Key: "b", Value: 1}, {Key: "a", Value: 1}},
			Clash:  []string{"who"}},
		{Name: "update/update same field", ID: 1,
			Local: Set(1, bson.D{{Key: "a", Value: "A"}}), Remote: Set(1, bson.D{{Key: "a", Value: "B"}}),
			LDoc: With(bson.E{Key: "a", Value: "A"}), RDoc: With(bson.E{Key: "a", Value: "B"}),
			MergeL: With(bson.E{Key: "a", Value: "A"}), MergeR: With(bson.E{Key: "a", Value: "B"}),
			Clash: []string{"a"}},
		{Name: "update/update same field same value", ID: 1,
			Local: Set(1, bson.D{{Key: "a", Value: "X"}}), Remote: Set(1, bson.D{{Key: "a", Value: "X"}}),
			LDoc: With(bson.E{Key: "a", Value: "X"}), RDoc: With(bson.E{Key: "a", Value: "X"}),
			MergeL: With(bson.E{Key: "a", Value: "X"}), MergeR: With(bson.E{Key: "a", Value: "X"})},
		{Name: "update/update different fields", ID: 1,
			Local: Set(1, bson.D{{Key: "a", Value: "A"}}), Remote: Set(1, bson.D{{Key: "b", Value: "B"}}),
			LDoc: With(bson.E{Key: "a", Value: "A"}), RDoc: With(bson.E{Key: "b", Value: "B"}),
			MergeL: With(bson.E{Key: "a", Value: "A"}, bson.E{Key: "b", Value: "B"}),
			MergeR: With(bson.E{Key: "a", Value: "A"}, bson.E{Key: "b", Value: "B"})},
		{Name: "update/update different nested fields", ID: 1,
			Local: Set(1, bson.D{{Key: "n.x", Value: 2}}), Remote: Set(1, bson.D{{Key: "n.y", Value: 3}}),
			LDoc: With(nested(2, 1)), RDoc: With(nested(1, 3)),
			MergeL: With(nested(2, 3)), MergeR: With(nested(2, 3))},
		{Name: "update/update same nested field", ID: 1,
			Local: Set(1, bson.D{{Key: "n.x", Value: 2}, {Key: "a", Value: "A"}}), Remote: Set(1, bson.D{{Key: "n.x", Value: int64(2)}}),
			LDoc: With(bson.E{Key: "a", Value: "A"}, nested(2, 1)), RDoc: With(nested(int64(2), 1)),
			MergeL: With(bson.E{Key: "a", Value: "A"}, nested(2, 1)), MergeR: With(bson.E{Key: "a", Value: "A"}, nested(int64(2), 1)),
			Clash: []string{"n.x"}},
		{Name: "update/replace", ID: 1,
			Local:  Set(1, bson.D{{Key: "a", Value: "A"}}),
			Remote: Replace(bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "base"}, {Key: "b", Value: "B"}, {Key: "c", Value: "new"}}),
			LDoc:   With(bson.E{Key: "a", Value: "A"}),
			RDoc:   bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "base"}, {Key: "b", Value: "B"}, {Key: "c", Value: "new"}},
			MergeL: bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "A"}, {Key: "b", Value: "B"}, {Key: "c", Value: "new"}},
			MergeR: bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "A"}, {Key: "b", Value: "B"}, {Key: "c", Value: "new"}}},
		{Name: "replace/replace", ID: 1,
			Local:  Replace(bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "A"}, {Key: "z", Value: "A"}}),
			Remote: Replace(bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "B"}, {Key: "y", Value: "B"}}),
			LDoc:   bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "A"}, {Key: "z", Value: "A"}},
			RDoc:   bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "B"}, {Key: "y", Value: "B"}},
			MergeL: bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "A"}, {Key: "y", Value: "B"}, {Key: "z", Value: "A"}},
			MergeR: bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "B"}, {Key: "y", Value: "B"}, {Key: "z", Value: "A"}},
			Clash:  []string{"a"}},
		{Name: "update/delete", ID: 1,
			Local: Set(1, bson.D{{Key: "a", Value: "A"}}), Remote: Delete(1),
			LDoc: With(bson.E{Key: "a", Value: "A"})},
		{Name: "delete/update", ID: 1,
			Local: Delete(1), Remote: Set(1, bson.D{{Key: "a", Value: "B"}}),
			RDoc: With(bson.E{Key: "a", Value: "B"})},
		{Name: "delete/delete", ID: 1, Local: Delete(1), Remote: Delete(1)},
		{Name: "delete-then-reinsert/update", ID: 1,
			Local:  Seq(Delete(1), Insert(bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "A"}, {Key: "fresh", Value: true}})),
			Remote: Set(1, bson.D{{Key: "b", Value: "B"}}),
			LDoc:   bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "A"}, {Key: "fresh", Value: true}},
			RDoc:   With(bson.E{Key: "b", Value: "B"}),
			MergeL: bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "A"}, {Key: "fresh", Value: true}},
			MergeR: bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "A"}, {Key: "b", Value: "B"}, {Key: "fresh", Value: true}},
			Clash:  []string{"b"}},
		{Name: "delete/delete-then-reinsert", ID: 1,
			Local:  Delete(1),
			Remote: Seq(Delete(1), Insert(bson.D{{Key: "_id", Value: 1}, {Key: "b", Value: "B"}})),
			RDoc:   bson.D{{Key: "_id", Value: 1}, {Key: "b", Value: "B"}}},
	}
}

// CustomResolve is the Custom policy of the table: an update beats a
// delete; two documents give the remote one marked as resolved.
func CustomResolve(local, remote bson.Raw) (bson.Raw, error) {
	switch {
	case local == nil:
		return remote, nil
	case remote == nil:
		return local, nil
	}
	return bson.Marshal(append(rawToD(remote), bson.E{Key: "resolvedBy", Value: "custom"}))
}

func rawToD(r bson.Raw) bson.D {
	var d bson.D
	elems, _ := r.Elements()
	for _, e := range elems {
		d = append(d, bson.E{Key: e.Key(), Value: e.Value()})
	}
	return d
}

// Run is a policy and the order of the two edits.
type Run struct {
	Name   string
	Policy string
	// LocalLater: A's (the local) edit is made after B's.
	LocalLater bool
}

// Runs are the policies the table is run under.
func Runs() []Run {
	return []Run{
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

// Log is the conflict A logs.
type Log struct {
	Kept   string
	Fields []string
	Reason string
}

func marshalOrNil(d bson.D) (bson.Raw, error) {
	if d == nil {
		return nil, nil
	}
	return bson.Marshal(d)
}

// Docs returns the case's local and remote edits as BSON.
func (c Case) Docs() (l, r bson.Raw, err error) {
	if l, err = marshalOrNil(c.LDoc); err != nil {
		return nil, nil, err
	}
	r, err = marshalOrNil(c.RDoc)
	return l, r, err
}

// Expect returns the document every side must end with under run and the
// conflict A logs (nil: none).
func (c Case) Expect(run Run) (bson.Raw, *Log, error) {
	l, r, err := c.Docs()
	if err != nil {
		return nil, nil, err
	}
	if string(l) == string(r) && (l == nil) == (r == nil) {
		return l, nil, nil // not a conflict: both sides agree
	}
	if run.Policy == Custom {
		doc, err := CustomResolve(l, r)
		return doc, nil, err
	}
	localWins := run.Policy == LocalWins || (run.Policy != RemoteWins && run.LocalLater)
	kept := RemoteSide
	if localWins {
		kept = LocalSide
	}
	if run.Policy == FieldMerge && l != nil && r != nil {
		doc := c.MergeR
		if localWins {
			doc = c.MergeL
		}
		raw, err := bson.Marshal(doc)
		if c.Clash == nil || err != nil {
			return raw, nil, err
		}
		return raw, &Log{Kept: kept, Fields: c.Clash, Reason: ReasonFields}, nil
	}
	var reason string
	if run.Policy == FieldMerge {
		reason = ReasonDeleteVsUpdate
	}
	if localWins {
		return l, &Log{Kept: kept, Reason: reason}, nil
	}
	return r, &Log{Kept: kept, Reason: reason}, nil
}
