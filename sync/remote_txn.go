package sync

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// remoteTxn runs fn in a transaction on the remote, retrying at once only
// when the remote answered with a transient transaction error (a write
// conflict with a concurrent writer).
//
// Not the driver's WithTransaction: it retries for up to 120 s by itself,
// through remote outages and past the cancellation of ctx, so an upload stuck
// in it neither reports the remote offline nor lets Stop return. Here an
// unreachable remote goes straight back to the caller, whose backoff retries
// the whole (idempotent, state-based) upload and marks the remote offline.
func (s *Syncer) remoteTxn(ctx context.Context, fn func(ctx context.Context) error) error {
	sess, err := s.cfg.Remote.Client().StartSession()
	if err != nil {
		return err
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	const maxConflictRetries = 10
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := remoteTxnOnce(ctx, sess, s.remoteVers, fn)
		if err == nil || attempt >= maxConflictRetries || !conflictRetryable(err) {
			return err
		}
		// Let the concurrent writer finish; a little more each time.
		t := time.NewTimer(time.Duration(attempt+1) * 2 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// remoteTxnOnce runs one attempt of fn in a transaction of sess. probe is
// a collection on the remote that abandonTxn may read.
func remoteTxnOnce(ctx context.Context, sess *mongo.Session, probe *mongo.Collection, fn func(ctx context.Context) error) error {
	if err := sess.StartTransaction(); err != nil {
		return err
	}
	tctx := mongo.NewSessionContext(ctx, sess)
	if err := fn(tctx); err != nil {
		// Bounded: aborting must not outlive an outage either. A
		// transaction the remote never saw aborts locally.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = sess.AbortTransaction(actx)
		cancel()
		return err
	}
	// The driver already retries a commit once; one more try covers a
	// second dropped connection. An unknown result returned from here is
	// safe: the retried upload re-reads both sides and finds its write.
	for i := 0; ; i++ {
		err := sess.CommitTransaction(tctx)
		var le mongo.LabeledError
		if err == nil {
			return nil
		}
		if i >= 1 || ctx.Err() != nil || !errors.As(err, &le) || !le.HasErrorLabel("UnknownTransactionCommitResult") {
			abandonTxn(ctx, sess, probe)
			return err
		}
	}
}

// abandonTxn ends, on the server, a transaction of sess whose commit
// failed. A commit refused before it ran (failCommand does that, and so
// can a server stepping down) leaves the transaction open, holding its
// documents' write locks until transactionLifetimeLimitSeconds (60 s by
// default): until then every retry of the upload met a WriteConflict. The
// driver cannot abort a transaction it sent a commit for, but the server
// aborts a session's open transaction when the session starts a newer one:
// so one read in a new transaction, then an abort. A transaction that did
// commit is not affected (the retried upload re-reads both sides and finds
// its write), and neither is one already aborted, so callers need not tell
// which way the transaction failed. Best effort and bounded: during an
// outage the server cannot be told, and its lifetime limit ends the
// transaction instead.
func abandonTxn(ctx context.Context, sess *mongo.Session, probe *mongo.Collection) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := sess.StartTransaction(); err != nil {
		return
	}
	tctx := mongo.NewSessionContext(actx, sess)
	_ = probe.FindOne(tctx, bson.D{}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	_ = sess.AbortTransaction(tctx)
}

// conflictRetryable reports whether a failed transaction met a concurrent
// writer on a remote that is answering, so retrying at once can succeed.
func conflictRetryable(err error) bool {
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) {
		return false
	}
	var le mongo.LabeledError
	return errors.As(err, &le) && le.HasErrorLabel("TransientTransactionError")
}
