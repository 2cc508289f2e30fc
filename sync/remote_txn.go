package sync

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// remoteTxn runs fn in a transaction on the remote (see runTxn).
func (s *Syncer) remoteTxn(ctx context.Context, fn func(ctx context.Context) error) error {
	return runTxn(ctx, s.cfg.Remote.Client(), s.remoteVers, fn)
}

// localTxn runs fn in a transaction on the local side (see runTxn).
func (s *Syncer) localTxn(ctx context.Context, fn func(ctx context.Context) error) error {
	return runTxn(ctx, s.cfg.Local.Client(), s.localDocs, fn)
}

// runTxn runs fn in a transaction of client, retrying at once only when
// the server answered with a transient transaction error (a write conflict
// with a concurrent writer). fn finds its session with
// mongo.SessionFromContext. probe is a collection abandonTxn may read.
//
// Not the driver's WithTransaction: it retries for up to 120 s by itself,
// through outages and past the cancellation of ctx (an operation cut short
// by ctx inside a transaction is labeled transient, and its commit loop
// ignores ctx), so an upload stuck in it neither reports the remote offline
// nor lets Stop return; on the local side, `mongotide sync --local-dir` did
// not exit within 10 s of SIGINT during a bootstrap. Here an unreachable
// server or a stop goes straight back to the caller, whose backoff retries
// the whole (idempotent, state-based) handling.
func runTxn(ctx context.Context, client *mongo.Client, probe *mongo.Collection, fn func(ctx context.Context) error) error {
	sess, err := client.StartSession()
	if err != nil {
		return err
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	const maxConflictRetries = 10
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := txnOnce(ctx, sess, probe, fn)
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

// txnOnce runs one attempt of fn in a transaction of sess. probe is a
// collection on sess's server that abandonTxn may read.
func txnOnce(ctx context.Context, sess *mongo.Session, probe *mongo.Collection, fn func(ctx context.Context) error) error {
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
