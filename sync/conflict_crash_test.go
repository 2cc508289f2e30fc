package sync

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// failCommand arms MongoDB's failCommand failpoint on client's server for
// times activations of commands (on namespace ns unless ""), and disarms it
// at cleanup.
func failCommand(t *testing.T, ctx context.Context, client *mongo.Client, times int, commands []string, ns string, data bson.D) {
	t.Helper()
	d := append(bson.D{{Key: "failCommands", Value: commands}}, data...)
	if ns != "" {
		d = append(d, bson.E{Key: "namespace", Value: ns})
	}
	err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "configureFailPoint", Value: "failCommand"},
		{Key: "mode", Value: bson.D{{Key: "times", Value: times}}}, {Key: "data", Value: d}}).Err()
	if err != nil {
		t.Fatalf("configureFailPoint: %v", err)
	}
	t.Cleanup(func() {
		_ = client.Database("admin").RunCommand(context.Background(), bson.D{{Key: "configureFailPoint", Value: "failCommand"},
			{Key: "mode", Value: "off"}}).Err()
	})
}

// The conflict log write comes after the remote transaction that resolved
// the conflict. When it fails (as if the process stopped right there), the
// retried upload finds both sides already equal; the conflict recorded as
// pending before the commit is then logged, exactly once.
func TestConflictLogSurvivesFailureAfterRemoteCommit(t *testing.T) {
	for _, tc := range []struct {
		name       string
		localLater bool // A's edit wins (its upload overwrote the remote) or loses
		commands   []string
		data       bson.D
		times      int
	}{
		{"local won, log write errors", true, []string{"update"}, bson.D{{Key: "errorCode", Value: 8}}, 1},
		{"remote won, log write errors", false, []string{"update"}, bson.D{{Key: "errorCode", Value: 8}}, 1},
		// The driver retries a write once after a network error: two
		// dropped connections fail the log write.
		{"local won, connection dropped", true, []string{"update"}, bson.D{{Key: "closeConnection", Value: true}}, 2},
		{"remote won, connection dropped", false, []string{"update"}, bson.D{{Key: "closeConnection", Value: true}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			e := newPairEnv(t, ctx, LastWriterWins)
			var logFailed atomic.Int64
			e.a.cfg.OnError = func(err error) {
				if strings.Contains(err.Error(), "log conflict") {
					logFailed.Add(1)
				}
			}
			first, second, want := e.la, e.lb, "b"
			if tc.localLater {
				first, second, want = e.lb, e.la, "a"
			}
			if _, err := first.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: "early"}}}}); err != nil {
				t.Fatal(err)
			}
			laterThan(time.Now())
			if _, err := second.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: want}}}}); err != nil {
				t.Fatal(err)
			}
			if err := e.b.Start(ctx); err != nil {
				t.Fatal(err)
			}
			eventually(t, "B uploaded", func() (bool, string) {
				m := findOne(t, ctx, e.rc, 1)
				return m != nil && m["a"] != "base", fmt.Sprintf("%v", m)
			})
			ns := e.la.Database().Name() + "." + localConflictsColl
			failCommand(t, ctx, e.localServer, tc.times, tc.commands, ns, tc.data)
			if err := e.a.Start(ctx); err != nil {
				t.Fatal(err)
			}
			for _, c := range []*mongo.Collection{e.la, e.lb, e.rc} {
				eventually(t, c.Database().Name()+" converged", func() (bool, string) {
					m := findOne(t, ctx, c, 1)
					return m != nil && m["a"] == want, fmt.Sprintf("%v", m)
				})
			}
			eventually(t, "conflict logged after the failure", func() (bool, string) {
				list, err := e.a.Conflicts(ctx, "c")
				return err == nil && len(list) == 1, fmt.Sprintf("%d entries, %v", len(list), err)
			})
			if err := e.a.WaitSynced(ctx); err != nil {
				t.Fatal(err)
			}
			if logFailed.Load() == 0 {
				t.Fatal("the conflict log write never failed: the failpoint did not fire")
			}
			list, err := e.a.Conflicts(ctx, "c")
			if err != nil || len(list) != 1 {
				t.Fatalf("conflict log = %+v, %v; want exactly one entry", list, err)
			}
			wantKept := RemoteSide
			if tc.localLater {
				wantKept = LocalSide
			}
			if list[0].Kept != wantKept || list[0].Local.Lookup("a").StringValue() != map[bool]string{true: "a", false: "early"}[tc.localLater] {
				t.Fatalf("conflict = %+v", list[0])
			}
			if n := e.aReported.Load(); n != 1 {
				t.Fatalf("OnConflict called %d times, want 1", n)
			}
			// Settled: the base entry no longer carries the pending conflict.
			base, _, err := loadMeta(ctx, e.a.localDocs, "c", rawID(t, 1))
			if err != nil || base.Pending != nil {
				t.Fatalf("base = %+v, %v; want no pending conflict", base, err)
			}
		})
	}
}

// A remote transaction that fails to commit leaves a pending conflict
// behind; the retried upload decides the same conflict again and it is
// logged once.
func TestConflictLoggedOnceWhenRemoteCommitFails(t *testing.T) {
	ctx := testCtx(t)
	e := newPairEnv(t, ctx, LastWriterWins)
	if _, err := e.lb.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: "b"}}}}); err != nil {
		t.Fatal(err)
	}
	laterThan(time.Now())
	if _, err := e.la.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: "a"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B uploaded", func() (bool, string) {
		m := findOne(t, ctx, e.rc, 1)
		return m != nil && m["a"] == "b", fmt.Sprintf("%v", m)
	})
	var commitFailed atomic.Int64
	e.a.cfg.OnError = func(err error) {
		if strings.Contains(err.Error(), "upload to") {
			commitFailed.Add(1)
		}
	}
	remoteClient := e.rc.Database().Client()
	failCommand(t, ctx, remoteClient, 1, []string{"commitTransaction"}, "", bson.D{{Key: "errorCode", Value: 8}})
	if err := e.a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*mongo.Collection{e.la, e.lb, e.rc} {
		eventually(t, c.Database().Name()+" converged", func() (bool, string) {
			m := findOne(t, ctx, c, 1)
			return m != nil && m["a"] == "a", fmt.Sprintf("%v", m)
		})
	}
	if err := e.a.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if commitFailed.Load() == 0 {
		t.Fatal("the remote commit never failed: the failpoint did not fire")
	}
	list, err := e.a.Conflicts(ctx, "c")
	if err != nil || len(list) != 1 || list[0].Kept != LocalSide || e.aReported.Load() != 1 {
		t.Fatalf("conflict log = %+v, %v (%d reported); want one kept-local entry reported once", list, err, e.aReported.Load())
	}
	base, _, err := loadMeta(ctx, e.a.localDocs, "c", rawID(t, 1))
	if err != nil || base.Pending != nil {
		t.Fatalf("base = %+v, %v; want the failed attempt's pending conflict gone", base, err)
	}
}
