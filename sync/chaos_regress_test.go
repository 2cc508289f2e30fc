package sync

import (
	"context"
	"fmt"
	"testing"

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
	if err := db.Client().Database("admin").RunCommand(ctx, cmd).Err(); err != nil {
		t.Fatalf("failpoint off: %v", err)
	}
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
