package embedded_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestFailpointWriteConcernErrorKeepsErrorLabels: a failpoint's errorLabels
// go on the reply with its writeConcernError, as on mongod (the
// transactions spec tests use this to make commit retryable).
func TestFailpointWriteConcernErrorKeepsErrorLabels(t *testing.T) {
	c := testenv.ClientWith(t, options.Client().SetRetryWrites(false))
	setFailPoint(t, c, failCommand(bson.D{{Key: "times", Value: 1}}, bson.D{
		{Key: "failCommands", Value: bson.A{"insert"}},
		{Key: "errorLabels", Value: bson.A{"CustomLabel"}},
		{Key: "writeConcernError", Value: bson.D{{Key: "code", Value: 91}, {Key: "errmsg", Value: "Replication is being shut down"}}},
	}))
	_, err := c.Database("labels").Collection("c").InsertOne(testCtx(t), bson.D{{Key: "a", Value: 1}})
	var we mongo.WriteException
	if !errors.As(err, &we) || we.WriteConcernError == nil || we.WriteConcernError.Code != 91 {
		t.Fatalf("insert: %v, want a writeConcernError 91", err)
	}
	if !we.HasErrorLabel("CustomLabel") {
		t.Fatalf("labels %v, want the failpoint's CustomLabel", we.Labels)
	}
}

// TestCommitNoSuchTransactionIsTransient: mongod labels NoSuchTransaction
// on commitTransaction TransientTransactionError (the transaction did not
// happen), so WithTransaction runs it again.
func TestCommitNoSuchTransactionIsTransient(t *testing.T) {
	c := testenv.Client(t)
	ctx := testCtx(t)
	coll := c.Database("labels").Collection("txn")
	if err := c.Database("labels").CreateCollection(ctx, "txn"); err != nil {
		t.Fatal(err)
	}
	setFailPoint(t, c, failCommand(bson.D{{Key: "times", Value: 1}}, bson.D{
		{Key: "failCommands", Value: bson.A{"commitTransaction"}}, {Key: "errorCode", Value: 251},
	}))
	sess, err := c.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	runs := 0
	_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		runs++
		return coll.InsertOne(ctx, bson.D{{Key: "run", Value: runs}})
	})
	if err != nil {
		t.Fatalf("WithTransaction: %v (a NoSuchTransaction commit must be retried as transient)", err)
	}
	if runs != 2 {
		t.Fatalf("the callback ran %d times, want 2 (once more after the transient commit error)", runs)
	}
}

// TestShutdownErrorClearsThePool: a shutdown error (91, 11600) carries no
// topologyVersion on a replica set member, so the driver cannot take it for
// stale news: it marks the server unknown and clears its pool. A not-primary
// error does carry the current one.
func TestShutdownErrorClearsThePool(t *testing.T) {
	var cleared atomic.Int32
	monitor := &event.PoolMonitor{Event: func(e *event.PoolEvent) {
		if e.Type == event.ConnectionPoolCleared {
			cleared.Add(1)
		}
	}}
	c := testenv.ClientWith(t, options.Client().SetPoolMonitor(monitor).SetRetryReads(false))
	for _, tc := range []struct {
		code   int32
		wantTV bool
	}{{10107, true}, {91, false}, {11600, false}} {
		setFailPoint(t, c, failCommand(bson.D{{Key: "times", Value: 1}}, bson.D{
			{Key: "failCommands", Value: bson.A{"find"}}, {Key: "errorCode", Value: tc.code},
		}))
		before := cleared.Load()
		err := c.Database("labels").Collection("c").FindOne(testCtx(t), bson.D{}).Err()
		var ce mongo.CommandError
		if !errors.As(err, &ce) || ce.Code != tc.code {
			t.Fatalf("find: %v, want code %d", err, tc.code)
		}
		_, hasTV := ce.Raw.Lookup("topologyVersion").DocumentOK()
		if hasTV != tc.wantTV {
			t.Errorf("code %d: topologyVersion in the reply: %v, want %v", tc.code, hasTV, tc.wantTV)
		}
		if !tc.wantTV {
			testenv.Eventually(t, 5*time.Second, "the pool cleared after a shutdown error", func() bool { return cleared.Load() > before })
		}
	}
}
