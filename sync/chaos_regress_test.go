package sync

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongotide/mongotide/embedded"
	"github.com/mongotide/mongotide/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Regression tests for bugs the chaos test found. Each injects the exact
// failure with failCommand on the syncer's own connections (appName).

const regressApp = "mongotide-regress-sync"

// regressPair is a local and a remote database on their own embedded
// servers, each reachable through a control client (never failed) and the
// syncer's client (named regressApp, which failpoints target).
type regressPair struct {
	localCtl, remoteCtl   *mongo.Database
	localSync, remoteSync *mongo.Database
}

func newRegressPair(t *testing.T) regressPair {
	t.Helper()
	testenv.SkipIfExternal(t, "failpoints scoped to one namespace of one client")
	l := testenv.StartEmbedded(t, embedded.Config{})
	r := testenv.StartEmbedded(t, embedded.Config{})
	syncOpts := func() *options.ClientOptions { return options.Client().SetAppName(regressApp) }
	return regressPair{
		localCtl:   testenv.Connect(t, l.URI(), nil).Database("regress"),
		remoteCtl:  testenv.Connect(t, r.URI(), nil).Database("regress"),
		localSync:  testenv.Connect(t, l.URI(), syncOpts()).Database("regress"),
		remoteSync: testenv.Connect(t, r.URI(), syncOpts()).Database("regress"),
	}
}

// failSyncer arms failCommand on db's server for the syncer's cmds on
// namespace ns ("" for any), mode being {times: n} or "alwaysOn".
func failSyncer(t *testing.T, ctx context.Context, db *mongo.Database, mode any, ns string, data bson.D, cmds ...string) {
	t.Helper()
	data = append(bson.D{{Key: "failCommands", Value: cmds}, {Key: "appName", Value: regressApp}}, data...)
	if ns != "" {
		data = append(data, bson.E{Key: "namespace", Value: db.Name() + "." + ns})
	}
	cmd := bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: mode}, {Key: "data", Value: data}}
	if err := db.Client().Database("admin").RunCommand(ctx, cmd).Err(); err != nil {
		t.Fatalf("configureFailPoint: %v", err)
	}
}

func failOff(t *testing.T, ctx context.Context, db *mongo.Database) {
	t.Helper()
	cmd := bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"}}
	// Retried: the client is the syncer's, whose pool a failpoint's
	// ShutdownInProgress clears, failing a command in flight at that
	// moment ("connection pool ... was cleared"); turning it off is
	// idempotent.
	var last error
	testenv.Eventually(t, 30*time.Second, "the failpoint turned off", func() bool {
		last = db.Client().Database("admin").RunCommand(ctx, cmd).Err()
		return last == nil
	}, func() string { return fmt.Sprint("last error: ", last) })
}

// An upload committed on the remote, then saving the new base locally
// failed; before the retry the remote deleted the document. The retry must
// see that its write already landed (the remote version entry is its own)
// and bring the remote delete down, not upload the document again over
// the delete (it was resurrected).
func TestUploadLandedBaseLostThenRemoteDelete(t *testing.T) {
	ctx := testCtx(t)
	p := newRegressPair(t)
	lc, rc := p.localCtl.Collection("c"), p.remoteCtl.Collection("c")
	s := startSyncer(t, ctx, Config{Local: p.localSync, Remote: p.remoteSync, Collections: []string{"c"}, Backoff: fastBackoff})
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	// Every base write of the syncer fails until turned off.
	failSyncer(t, ctx, p.localSync, "alwaysOn", localDocsColl, bson.D{{Key: "errorCode", Value: 91}}, "update")
	if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "local"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "upload on the remote", func() (bool, string) {
		return findOne(t, ctx, rc, 1) != nil, "remote has no document 1"
	})
	if _, err := rc.DeleteOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	// The download of the delete runs meanwhile (and must not need the
	// failed base write to be judged an echo).
	deleted := remoteNow(t, ctx, p.remoteCtl)
	waitHandled(t, s, "c", Download, deleted)
	failOff(t, ctx, p.localSync)
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if d := findOne(t, ctx, rc, 1); d != nil {
		t.Fatalf("the remote delete was undone: remote has %v", d)
	}
	if d := findOne(t, ctx, lc, 1); d != nil {
		t.Fatalf("the remote delete did not reach the local side: %v", d)
	}
}

func remoteNow(t *testing.T, ctx context.Context, db *mongo.Database) bson.Timestamp {
	t.Helper()
	ts, err := operationTime(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// waitHandled waits until the dir stream of coll handled every change up
// to ts.
func waitHandled(t *testing.T, s *Syncer, coll string, dir Direction, ts bson.Timestamp) {
	t.Helper()
	s.mu.Lock()
	cs := s.colls[coll]
	s.mu.Unlock()
	eventually(t, fmt.Sprintf("%s of %s handled up to %v", dir, coll, ts), func() (bool, string) {
		last := cs.lastDown.Load()
		if dir == Upload {
			last = cs.lastUp.Load()
		}
		return last != nil && !last.Before(ts), fmt.Sprintf("last handled %v", last)
	})
}

// The application writes a local document while the download of a remote
// change to it is between reading the local document (unchanged since the
// base) and replacing it: the download must not overwrite that write (it
// was lost: its upload then found the local side equal to the new base).
// The download's replace is held on the server until the application's
// write is in.
func TestDownloadDoesNotOverwriteConcurrentLocalWrite(t *testing.T) {
	ctx := testCtx(t)
	p := newRegressPair(t)
	lc, rc := p.localCtl.Collection("c"), p.remoteCtl.Collection("c")
	if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "base"}}); err != nil {
		t.Fatal(err)
	}
	s := startSyncer(t, ctx, Config{Local: p.localSync, Remote: p.remoteSync, Collections: []string{"c"}, Backoff: fastBackoff})
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	entered := blockSyncer(t, ctx, p.localSync, "c", "update", "insert", "delete")
	if _, err := rc.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "remote"}}}}); err != nil {
		t.Fatal(err)
	}
	entered()
	if _, err := lc.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "app"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	// The application's write is the later one: last writer wins, and the
	// remote edit it overwrote is in the conflict log.
	for side, c := range map[string]*mongo.Collection{"local": lc, "remote": rc} {
		if d := findOne(t, ctx, c, 1); d["v"] != "app" {
			t.Errorf("%s document %v, want the application's later write", side, d)
		}
	}
	cs, err := s.Conflicts(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Kept != LocalSide || cs[0].Remote.Lookup("v").StringValue() != "remote" {
		t.Errorf("conflict log %v, want the remote edit lost to the local one", cs)
	}
}

// blockSyncer holds the syncer's next command among cmds on namespace coll
// of db's server for half a second; the returned func waits until it is
// held.
func blockSyncer(t *testing.T, ctx context.Context, db *mongo.Database, coll string, cmds ...string) func() {
	t.Helper()
	data := bson.D{{Key: "failCommands", Value: cmds}, {Key: "appName", Value: regressApp},
		{Key: "namespace", Value: db.Name() + "." + coll}, {Key: "blockConnection", Value: true}, {Key: "blockTimeMS", Value: 500}}
	cmd := bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: bson.D{{Key: "times", Value: 1}}}, {Key: "data", Value: data}}
	raw, err := db.Client().Database("admin").RunCommand(ctx, cmd).Raw()
	if err != nil {
		t.Fatalf("configureFailPoint: %v", err)
	}
	count, _ := raw.Lookup("count").AsInt64OK()
	return func() {
		t.Helper()
		wait := bson.D{{Key: "waitForFailPoint", Value: "failCommand"}, {Key: "timesEntered", Value: count + 1}, {Key: "maxTimeMS", Value: 20000}}
		if err := db.Client().Database("admin").RunCommand(ctx, wait).Err(); err != nil {
			t.Fatalf("waitForFailPoint: %v", err)
		}
	}
}

// A downloaded document and its new base are written together: when the
// base cannot be saved, the document is not applied either. Applied alone,
// its echo looked like a local edit stamped after the remote edit it copies,
// and could win last-writer-wins over a newer remote edit, overwriting it
// with older content. Here every base save fails; once the syncer stops,
// nothing local may differ from its base (no phantom local edit).
func TestDownloadAppliesDocumentAndBaseTogether(t *testing.T) {
	ctx := testCtx(t)
	p := newRegressPair(t)
	lc, rc := p.localCtl.Collection("c"), p.remoteCtl.Collection("c")
	if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	s := startSynced(t, ctx, Config{Local: p.localSync, Remote: p.remoteSync, Collections: []string{"c"}, Backoff: fastBackoff})
	failSyncer(t, ctx, p.localSync, "alwaysOn", localDocsColl, bson.D{{Key: "errorCode", Value: 91}}, "update")
	wait := bson.D{{Key: "waitForFailPoint", Value: "failCommand"}, {Key: "timesEntered", Value: 2}, {Key: "maxTimeMS", Value: 20000}}
	if _, err := rc.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	// Two failed base saves: the download tried, and retried.
	if err := p.localCtl.Client().Database("admin").RunCommand(ctx, wait).Err(); err != nil {
		t.Fatalf("waitForFailPoint: %v", err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	failOff(t, ctx, p.localSync)
	pending, err := s.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pending["c"] != 0 {
		t.Fatalf("a downloaded document was applied without its base: %d phantom local edits (local %v)", pending["c"], findOne(t, ctx, lc, 1))
	}
	// And it all goes through once the base can be saved.
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if d := findOne(t, ctx, lc, 1); d["v"] != int32(1) {
		t.Fatalf("local document %v after the restart, want v 1", d)
	}
}

// A conflict decided by an upload whose commit went through but was
// reported failed with TransientTransactionError (so the driver ran the
// transaction again, which then found the remote already equal): the
// conflict is still logged. The retry used to drop the earlier attempt's
// pending entry as if that attempt had never committed.
func TestConflictLoggedWhenCommitReportedFailedButApplied(t *testing.T) {
	ctx := testCtx(t)
	p := newRegressPair(t)
	lc, rc := p.localCtl.Collection("c"), p.remoteCtl.Collection("c")
	if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "base"}}); err != nil {
		t.Fatal(err)
	}
	s := startSynced(t, ctx, Config{Local: p.localSync, Remote: p.remoteSync, Collections: []string{"c"}, Backoff: fastBackoff})
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Concurrent edits while the syncer is away; the local one is later.
	if _, err := rc.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "remote"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "local"}}}}); err != nil {
		t.Fatal(err)
	}
	// The commit runs, then its reply says it failed and may be retried
	// from the start.
	failSyncer(t, ctx, p.remoteSync, bson.D{{Key: "times", Value: 1}}, "", bson.D{{Key: "writeConcernError", Value: bson.D{
		{Key: "code", Value: 112}, {Key: "codeName", Value: "WriteConflict"}, {Key: "errmsg", Value: "reported failed, applied"},
		{Key: "errorLabels", Value: bson.A{"TransientTransactionError"}}}}}, "commitTransaction")
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	for side, c := range map[string]*mongo.Collection{"local": lc, "remote": rc} {
		if d := findOne(t, ctx, c, 1); d["v"] != "local" {
			t.Errorf("%s document %v, want the later local edit", side, d)
		}
	}
	cs, err := s.Conflicts(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Kept != LocalSide || cs[0].Remote.Lookup("v").StringValue() != "remote" {
		t.Fatalf("conflict log %v, want the remote edit lost to the local one", cs)
	}
}

// A bootstrap batch commits its documents and their bases together. When
// saving the bases failed after the documents were written, the copied
// document looked like a local edit; once the remote changed it, that
// stale copy won last-writer-wins and overwrote the newer remote edit.
func TestBootstrapAppliesDocumentsAndBasesTogether(t *testing.T) {
	ctx := testCtx(t)
	p := newRegressPair(t)
	lc, rc := p.localCtl.Collection("c"), p.remoteCtl.Collection("c")
	if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	failSyncer(t, ctx, p.localSync, "alwaysOn", localDocsColl, bson.D{{Key: "errorCode", Value: 91}}, "insert", "update")
	s := startSyncer(t, ctx, Config{Local: p.localSync, Remote: p.remoteSync, Collections: []string{"c"}, Backoff: fastBackoff})
	wait := bson.D{{Key: "waitForFailPoint", Value: "failCommand"}, {Key: "timesEntered", Value: 2}, {Key: "maxTimeMS", Value: 20000}}
	if err := p.localCtl.Client().Database("admin").RunCommand(ctx, wait).Err(); err != nil {
		t.Fatalf("waitForFailPoint: %v", err)
	}
	if _, err := rc.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	failOff(t, ctx, p.localSync)
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	for side, c := range map[string]*mongo.Collection{"local": lc, "remote": rc} {
		if d := findOne(t, ctx, c, 1); d["v"] != int32(1) {
			t.Errorf("%s document %v, want the remote edit (v 1)", side, d)
		}
	}
	if cs, err := s.Conflicts(ctx, "c"); err != nil || len(cs) != 0 {
		t.Errorf("conflicts %v, %v: the bootstrap copy is no local edit", cs, err)
	}
}

// An upload decided a conflict and committed, then writing the conflict
// log failed, and the remote changed again before the retry. The retry
// (which finds its own landed write and brings the newer remote edit down)
// still logs the conflict: it used to drop it with the pending record.
func TestConflictLoggedWhenLogWriteFailsAndRemoteMovesOn(t *testing.T) {
	ctx := testCtx(t)
	p := newRegressPair(t)
	lc, rc := p.localCtl.Collection("c"), p.remoteCtl.Collection("c")
	if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "base"}}); err != nil {
		t.Fatal(err)
	}
	s := startSynced(t, ctx, Config{Local: p.localSync, Remote: p.remoteSync, Collections: []string{"c"}, Backoff: fastBackoff})
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "remote"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "local"}}}}); err != nil {
		t.Fatal(err)
	}
	failSyncer(t, ctx, p.localSync, "alwaysOn", localConflictsColl, bson.D{{Key: "errorCode", Value: 91}}, "update", "insert")
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The local edit won on the remote; its conflict is not logged yet.
	eventually(t, "the local edit on the remote", func() (bool, string) {
		d := findOne(t, ctx, rc, 1)
		return d["v"] == "local", fmt.Sprintf("remote %v", d)
	})
	if _, err := rc.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "remote again"}}}}); err != nil {
		t.Fatal(err)
	}
	failOff(t, ctx, p.localSync)
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	for side, c := range map[string]*mongo.Collection{"local": lc, "remote": rc} {
		if d := findOne(t, ctx, c, 1); d["v"] != "remote again" {
			t.Errorf("%s document %v, want the newest remote edit", side, d)
		}
	}
	cs, err := s.Conflicts(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Kept != LocalSide || cs[0].Remote.Lookup("v").StringValue() != "remote" {
		t.Fatalf("conflict log %v, want the first remote edit lost to the local one", cs)
	}
}

// The local edit won a conflict on the remote, but the conflict log write
// failed; then the application wrote on top and the remote changed again, a
// second conflict. Both are logged, the first before the second is decided
// (it used to be replaced by the second's pending record unlogged). The
// remote-won form of this cannot happen any more: a remote-won outcome
// reaches the local side only together with its log entry.
func TestPendingConflictLoggedBeforeTheNextReplacesIt(t *testing.T) {
	ctx := testCtx(t)
	var logFailed atomic.Int64
	p := newRegressPair(t)
	lc, rc := p.localCtl.Collection("c"), p.remoteCtl.Collection("c")
	if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "base"}}); err != nil {
		t.Fatal(err)
	}
	s := startSynced(t, ctx, Config{Local: p.localSync, Remote: p.remoteSync, Collections: []string{"c"}, Backoff: fastBackoff, Conflict: LocalWins,
		OnError: func(err error) {
			if strings.Contains(err.Error(), "log conflict") {
				logFailed.Add(1)
			}
			t.Logf("error: %v", err)
		}, Logger: testLogger(t)})
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	set := func(c *mongo.Collection, v string) {
		t.Helper()
		if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: v}}}}); err != nil {
			t.Fatal(err)
		}
	}
	set(lc, "local1")
	set(rc, "remote1")
	failSyncer(t, ctx, p.localSync, "alwaysOn", localConflictsColl, bson.D{{Key: "errorCode", Value: 91}}, "update", "insert")
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the local edit on the remote", func() (bool, string) {
		d := findOne(t, ctx, rc, 1)
		return d["v"] == "local1", fmt.Sprintf("remote %v", d)
	})
	set(lc, "local2")
	set(rc, "remote2")
	// Let the upload meet the second edits while the log still fails.
	n := logFailed.Load()
	eventually(t, "an upload attempt after the second edits", func() (bool, string) {
		return logFailed.Load() > n+1, fmt.Sprint(logFailed.Load())
	})
	failOff(t, ctx, p.localSync)
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Conflicts(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	lost := map[string]bool{}
	for _, c := range cs {
		if c.Kept == LocalSide {
			lost[c.Remote.Lookup("v").StringValue()] = true
		}
	}
	if !lost["remote1"] || !lost["remote2"] {
		t.Fatalf("conflict log loses remote edits %v, want remote1 and remote2", lost)
	}
}

// testLogger sends a syncer's debug records to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Stop returns promptly while a local transaction keeps meeting transient
// errors. The local side ran its transactions in the driver's
// WithTransaction, which retries transient errors for 120 s whatever its
// context says (and an operation cut short by the context inside a
// transaction is labeled transient): `mongotide sync --local-dir` did not
// exit within 10 s of SIGINT during a bootstrap.
func TestStopDuringLocalTransactionRetries(t *testing.T) {
	ctx := testCtx(t)
	p := newRegressPair(t)
	var errs errorLog
	s, err := New(withClock(t, Config{Local: p.localSync, Remote: p.remoteSync, Collections: []string{"c"}, OnError: errs.add}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	// Every local write the syncer makes fails as a write conflict would.
	failSyncer(t, ctx, p.localSync, "alwaysOn", "c", bson.D{{Key: "errorCode", Value: 112}, {Key: "errorLabels", Value: bson.A{"TransientTransactionError"}}}, "insert", "update", "delete")
	if _, err := p.remoteCtl.Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the download failing", func() bool { return errs.len() > 0 })
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Stop(sctx); err != nil {
		t.Fatalf("Stop after %s: %v", time.Since(start).Round(time.Millisecond), err)
	}
	failOff(t, ctx, p.localCtl)
}
