package embedded_test

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The writes of the property test and how to run them through the driver.

// propWrite is one write statement.
type propWrite struct {
	kind   string // insert, update, updateMany, pipeline, replace, delete, deleteMany
	doc    bson.D // insert, replace
	upd    propUpdate
	filter bson.D // replace, delete, deleteMany
	upsert bool
}

// changeKind is the event a document changed by w gets (a pipeline update
// is logged as a replacement when its diff would be larger than the
// document).
func (w propWrite) changeKind() string {
	switch w.kind {
	case "replace":
		return "replace"
	case "pipeline":
		return "either"
	}
	return "update"
}

func (w propWrite) describe() bson.D {
	d := bson.D{{Key: "op", Value: w.kind}}
	switch w.kind {
	case "insert":
		d = append(d, bson.E{Key: "doc", Value: w.doc})
	case "replace":
		d = append(d, bson.E{Key: "filter", Value: w.filter}, bson.E{Key: "doc", Value: w.doc})
	case "delete", "deleteMany":
		d = append(d, bson.E{Key: "filter", Value: w.filter})
	default:
		d = append(d, bson.E{Key: "filter", Value: w.upd.filter}, bson.E{Key: "update", Value: w.upd.update})
		if w.upd.arrayFilters != nil {
			d = append(d, bson.E{Key: "arrayFilters", Value: w.upd.arrayFilters})
		}
	}
	if w.upsert {
		d = append(d, bson.E{Key: "upsert", Value: true})
	}
	return d
}

// model is w as a bulkWrite model.
func (w propWrite) model() mongo.WriteModel {
	switch w.kind {
	case "insert":
		return mongo.NewInsertOneModel().SetDocument(w.doc)
	case "replace":
		return mongo.NewReplaceOneModel().SetFilter(w.filter).SetReplacement(w.doc).SetUpsert(w.upsert)
	case "delete":
		return mongo.NewDeleteOneModel().SetFilter(w.filter)
	case "deleteMany":
		return mongo.NewDeleteManyModel().SetFilter(w.filter)
	case "updateMany":
		m := mongo.NewUpdateManyModel().SetFilter(w.upd.filter).SetUpdate(w.upd.update).SetUpsert(w.upsert)
		if w.upd.arrayFilters != nil {
			m.SetArrayFilters(w.upd.arrayFilters)
		}
		return m
	default:
		m := mongo.NewUpdateOneModel().SetFilter(w.upd.filter).SetUpdate(w.upd.update).SetUpsert(w.upsert)
		if w.upd.arrayFilters != nil {
			m.SetArrayFilters(w.upd.arrayFilters)
		}
		return m
	}
}

// run executes w alone and returns how many events it must yield.
func (w propWrite) run(ctx context.Context, coll *mongo.Collection) (int64, error) {
	switch w.kind {
	case "insert":
		_, err := coll.InsertOne(ctx, w.doc)
		if err != nil {
			return 0, err
		}
		return 1, nil
	case "replace":
		r, err := coll.ReplaceOne(ctx, w.filter, w.doc, options.Replace().SetUpsert(w.upsert))
		return updated(r, err)
	case "delete":
		r, err := coll.DeleteOne(ctx, w.filter)
		return deleted(r, err)
	case "deleteMany":
		r, err := coll.DeleteMany(ctx, w.filter)
		return deleted(r, err)
	case "updateMany":
		o := options.UpdateMany().SetUpsert(w.upsert)
		if w.upd.arrayFilters != nil {
			o.SetArrayFilters(w.upd.arrayFilters)
		}
		r, err := coll.UpdateMany(ctx, w.upd.filter, w.upd.update, o)
		return updated(r, err)
	default:
		o := options.UpdateOne().SetUpsert(w.upsert)
		if w.upd.arrayFilters != nil {
			o.SetArrayFilters(w.upd.arrayFilters)
		}
		r, err := coll.UpdateOne(ctx, w.upd.filter, w.upd.update, o)
		return updated(r, err)
	}
}

func updated(r *mongo.UpdateResult, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return r.ModifiedCount + r.UpsertedCount, nil
}

func deleted(r *mongo.DeleteResult, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return r.DeletedCount, nil
}

// propOutcome is what a step's write answered and what it must have
// caused.
type propOutcome struct {
	err error
	// counted: the write must yield exactly events events (bulk writes,
	// transactions); otherwise it is one statement, and every document
	// whose stored version changed gets exactly one event of kind.
	counted bool
	events  int64
	atLeast bool   // events is a lower bound
	kind    string // update, replace, either
	txn     bool   // the events are a committed transaction's
	// findAndModify: the document it returned, the _id it targets and
	// whether the returned one is the version before or after.
	fam      bool
	returned bson.Raw
	famID    any
	famAfter bool
}

// propStep is one generated write: a description for failure messages and
// the function that runs it.
type propStep struct {
	desc bson.D
	run  func(ctx context.Context, h *propHarness) propOutcome
}

func single(w propWrite) propStep {
	return propStep{desc: w.describe(), run: func(ctx context.Context, h *propHarness) propOutcome {
		_, err := w.run(ctx, h.coll)
		return propOutcome{err: err, kind: w.changeKind()}
	}}
}

func insertMany(docs []any, ordered bool) propStep {
	return propStep{
		desc: bson.D{{Key: "op", Value: "insertMany"}, {Key: "docs", Value: docs}, {Key: "ordered", Value: ordered}},
		run: func(ctx context.Context, h *propHarness) propOutcome {
			_, err := h.coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(ordered))
			return propOutcome{err: err, kind: "insert"}
		},
	}
}

func bulkWrite(ws []propWrite, ordered bool) propStep {
	desc := bson.A{}
	models := make([]mongo.WriteModel, len(ws))
	for i, w := range ws {
		desc = append(desc, w.describe())
		models[i] = w.model()
	}
	return propStep{
		desc: bson.D{{Key: "op", Value: "bulkWrite"}, {Key: "ordered", Value: ordered}, {Key: "models", Value: desc}},
		run: func(ctx context.Context, h *propHarness) propOutcome {
			r, err := h.coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(ordered))
			if r == nil {
				return propOutcome{err: err, counted: true}
			}
			// On a write error r holds what the statements that succeeded
			// did; a multi-document statement that failed half-way (as in
			// MongoDB) may have changed documents it does not count.
			out := propOutcome{err: err, counted: true, events: r.InsertedCount + r.ModifiedCount + r.DeletedCount + r.UpsertedCount}
			if err != nil {
				for _, w := range ws {
					out.atLeast = out.atLeast || w.kind == "updateMany" || w.kind == "deleteMany"
				}
			}
			return out
		},
	}
}

// transaction runs ws in one transaction and commits it (or aborts it);
// a statement that fails aborts it.
func transaction(ws []propWrite, commit bool) propStep {
	desc := bson.A{}
	for _, w := range ws {
		desc = append(desc, w.describe())
	}
	return propStep{
		desc: bson.D{{Key: "op", Value: "transaction"}, {Key: "commit", Value: commit}, {Key: "writes", Value: desc}},
		run: func(ctx context.Context, h *propHarness) propOutcome {
			sess, err := h.client.StartSession()
			if err != nil {
				return propOutcome{err: err, counted: true}
			}
			defer sess.EndSession(context.Background())
			if err := sess.StartTransaction(); err != nil {
				return propOutcome{err: err, counted: true}
			}
			sctx := mongo.NewSessionContext(ctx, sess)
			var n int64
			for _, w := range ws {
				k, err := w.run(sctx, h.coll)
				if err != nil {
					if aerr := sess.AbortTransaction(context.Background()); aerr != nil && !isNoSuchTransaction(aerr) {
						return propOutcome{err: fmt.Errorf("abort after %v: %w", err, aerr), counted: true}
					}
					return propOutcome{err: err, counted: true}
				}
				n += k
			}
			if !commit {
				return propOutcome{err: sess.AbortTransaction(ctx), counted: true}
			}
			if err := sess.CommitTransaction(ctx); err != nil {
				return propOutcome{err: err, counted: true}
			}
			return propOutcome{counted: true, events: n, txn: true}
		},
	}
}

func isNoSuchTransaction(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && ce.Code == 251
}

// findAndModify runs findOneAndUpdate (upd), findOneAndReplace (doc) or
// findOneAndDelete (neither) on the document with _id id.
func findAndModify(id any, upd *propUpdate, doc bson.D, upsert, after bool) propStep {
	filter := bson.D{{Key: "_id", Value: id}}
	desc := bson.D{{Key: "op", Value: "findAndModify"}, {Key: "filter", Value: filter}, {Key: "upsert", Value: upsert}, {Key: "returnNew", Value: after}}
	rd := options.Before
	if after {
		rd = options.After
	}
	kind := "update"
	switch {
	case upd != nil:
		filter = upd.filter
		desc = append(desc, bson.E{Key: "update", Value: upd.update}, bson.E{Key: "arrayFilters", Value: upd.arrayFilters})
		if _, ok := upd.update.(bson.A); ok {
			kind = "either"
		}
	case doc != nil:
		desc = append(desc, bson.E{Key: "replacement", Value: doc})
		kind = "replace"
	default:
		after = false
	}
	return propStep{desc: desc, run: func(ctx context.Context, h *propHarness) propOutcome {
		var res *mongo.SingleResult
		switch {
		case upd != nil:
			o := options.FindOneAndUpdate().SetUpsert(upsert).SetReturnDocument(rd)
			if upd.arrayFilters != nil {
				o.SetArrayFilters(upd.arrayFilters)
			}
			res = h.coll.FindOneAndUpdate(ctx, filter, upd.update, o)
		case doc != nil:
			res = h.coll.FindOneAndReplace(ctx, filter, doc, options.FindOneAndReplace().SetUpsert(upsert).SetReturnDocument(rd))
		default:
			res = h.coll.FindOneAndDelete(ctx, filter)
		}
		out := propOutcome{kind: kind, fam: true, famID: id, famAfter: after}
		raw, err := res.Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			return out
		}
		out.err, out.returned = err, raw
		return out
	}}
}
