package embedded_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func txnWriteFailPoint(mode any, data bson.D) bson.D {
	fp := bson.D{{Key: "configureFailPoint", Value: "onPrimaryTransactionalWrite"}, {Key: "mode", Value: mode}}
	if data != nil {
		fp = append(fp, bson.E{Key: "data", Value: data})
	}
	return fp
}

// clientCountingInserts is a client with retryable writes whose insert
// commands sent are counted.
func clientCountingInserts(t *testing.T) (*mongo.Client, *atomic.Int32) {
	var inserts atomic.Int32
	monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "insert" {
			inserts.Add(1)
		}
	}}
	return testenv.ClientWith(t, options.Client().SetMonitor(monitor).SetRetryWrites(true)), &inserts
}

// TestOnPrimaryTransactionalWriteLosesTheReply: without
// failBeforeCommitExceptionCode the write is applied and only the reply is
// lost (the connection closes); the driver's retry gets the recorded
// result, so the document is inserted once.
func TestOnPrimaryTransactionalWriteLosesTheReply(t *testing.T) {
	c, inserts := clientCountingInserts(t)
	coll := c.Database("txnwrite").Collection("reply")
	setFailPoint(t, c, txnWriteFailPoint(bson.D{{Key: "times", Value: 1}}, nil))
	if _, err := coll.InsertOne(testCtx(t), bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatalf("retried insert: %v", err)
	}
	if n := inserts.Load(); n != 2 {
		t.Errorf("%d insert commands sent, want 2 (the first lost its reply)", n)
	}
	if n := countDocs(t, coll, bson.D{}); n != 1 {
		t.Errorf("%d documents, want 1", n)
	}
}

// TestOnPrimaryTransactionalWriteRetriesOnlyUnappliedStatements: with
// failBeforeCommitExceptionCode the failing statement is not applied; a
// retry (same session and txnNumber) applies only the statements the first
// attempt did not and reports the others' results, as mongod records each
// statement of a retryable write. The command is sent as the driver sends
// a retryable write, with the failpoint's connection left open so that the
// test, not the driver, decides when to retry.
func TestOnPrimaryTransactionalWriteRetriesOnlyUnappliedStatements(t *testing.T) {
	c := testenv.Client(t)
	ctx := testCtx(t)
	db := c.Database("txnwrite")
	// Skip one statement, then fail every statement before it commits.
	setFailPoint(t, c, txnWriteFailPoint(bson.D{{Key: "skip", Value: 1}}, bson.D{
		{Key: "failBeforeCommitExceptionCode", Value: 1}, {Key: "closeConnection", Value: false},
	}))
	sess, err := c.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	sctx := mongo.NewSessionContext(ctx, sess)
	insert := bson.D{
		{Key: "insert", Value: "stmts"},
		{Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 0}}, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 2}}}},
		{Key: "txnNumber", Value: int64(1)},
	}
	if ce := cmdErr(t, db.RunCommand(sctx, insert).Err()); ce.Code != 1 {
		t.Fatalf("first attempt: %+v, want the failpoint's code 1", ce)
	}
	runCmd(t, c.Database("admin"), txnWriteFailPoint("off", nil))
	var reply struct {
		N           int32
		WriteErrors []bson.Raw `bson:"writeErrors"`
	}
	if err := db.RunCommand(sctx, insert).Decode(&reply); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if reply.N != 3 || len(reply.WriteErrors) != 0 {
		t.Fatalf("retry: n %d, writeErrors %v; want n 3 and none (statement 0 reported, not applied again)", reply.N, reply.WriteErrors)
	}
	if n := countDocs(t, db.Collection("stmts"), bson.D{}); n != 3 {
		t.Errorf("%d documents, want 3", n)
	}
}

// TestOnPrimaryTransactionalWriteOnFindAndModify: a findAndModify whose
// statement failed before commit is applied once by the retry.
func TestOnPrimaryTransactionalWriteOnFindAndModify(t *testing.T) {
	c := testenv.ClientWith(t, options.Client().SetRetryWrites(true))
	coll := c.Database("txnwrite").Collection("fam")
	if _, err := coll.InsertOne(testCtx(t), bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	setFailPoint(t, c, txnWriteFailPoint(bson.D{{Key: "times", Value: 1}},
		bson.D{{Key: "failBeforeCommitExceptionCode", Value: 1}}))
	var got bson.M
	err := coll.FindOneAndUpdate(testCtx(t), bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "x", Value: 1}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&got)
	if err != nil {
		t.Fatalf("retried findAndModify: %v", err)
	}
	if x, _ := got["x"].(int32); x != 2 {
		t.Fatalf("document after the retried $inc: %v, want x: 2 (applied once)", got)
	}
}
