package sync

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// An upload that decided a conflict committed on the remote, but its log
// write failed, so the base entry still holds the old base (here: no
// document) with the pending conflict. When the application then makes the
// local document equal that stale base again (it deletes the document it
// inserted), the pending conflict must still be logged, exactly once, and
// the delete must reach the remote: neither the retried upload (the local
// document "equals the base") nor the download of a later remote write
// (the local side "did not change") may drop it. The download stream
// skips the echo of the upload itself, so no other handling comes by.
func TestPendingConflictSurvivesStaleBase(t *testing.T) {
	for _, tc := range []struct {
		name        string
		remoteAfter bool // the remote writes on top of the upload too
	}{
		{"local delete only", false},
		{"local delete, then a remote write on top", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			local, remote := newDB(t, "local"), newDB(t, "remote")
			lc, rc := local.Collection("c"), remote.Collection("c")
			var logFailed atomic.Int64
			var reported atomic.Int64
			s, err := New(withClock(t, Config{Local: local, Remote: remote, Collections: []string{"c"}, ReplicaID: "A", Backoff: fastBackoff,
				OnError: func(err error) {
					if strings.Contains(err.Error(), "log conflict") {
						logFailed.Add(1)
					}
				},
				OnConflict: func(Conflict) { reported.Add(1) }}))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Stop(context.Background()) })
			// Bootstrapped on an empty collection: document 7 has no base.
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.WaitSynced(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			// Both sides create document 7; the local one is later and wins.
			if _, err := rc.InsertOne(ctx, bson.D{{Key: "_id", Value: 7}, {Key: "v", Value: "remote"}}); err != nil {
				t.Fatal(err)
			}
			clockOf(t).Advance()
			if _, err := lc.InsertOne(ctx, bson.D{{Key: "_id", Value: 7}, {Key: "v", Value: "local"}}); err != nil {
				t.Fatal(err)
			}
			// Every conflict log write fails until disarmed.
			disarm := failUntilOff(t, ctx, local, local.Name()+"."+localConflictsColl)
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the local insert won on the remote and its log write failed", func() (bool, string) {
				m := findOne(t, ctx, rc, 7)
				return m != nil && m["v"] == "local" && logFailed.Load() > 0, fmt.Sprintf("remote %v, %d log failures", m, logFailed.Load())
			})
			if _, err := lc.DeleteOne(ctx, bson.D{{Key: "_id", Value: 7}}); err != nil {
				t.Fatal(err)
			}
			if tc.remoteAfter {
				before := logFailed.Load()
				if _, err := rc.UpdateOne(ctx, bson.D{{Key: "_id", Value: 7}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "remote again"}}}}); err != nil {
					t.Fatal(err)
				}
				// The download of that write is handled (not an echo): it
				// either applies the write locally, dropping the record, or
				// keeps failing on the log write.
				eventually(t, "the remote write was handled", func() (bool, string) {
					m := findOne(t, ctx, lc, 7)
					return (m != nil && m["v"] == "remote again") || logFailed.Load() >= before+2, fmt.Sprintf("local %v", m)
				})
			}
			disarm()
			eventually(t, "both sides converged", func() (bool, string) {
				l, r := findOne(t, ctx, lc, 7), findOne(t, ctx, rc, 7)
				return fmt.Sprint(l) == fmt.Sprint(r), fmt.Sprintf("local %v, remote %v", l, r)
			})
			if err := s.WaitSynced(ctx); err != nil {
				t.Fatal(err)
			}
			list, err := s.Conflicts(ctx, "c")
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, c := range list {
				lv, _ := c.Local.Lookup("v").StringValueOK()
				rv, _ := c.Remote.Lookup("v").StringValueOK()
				if lv == "local" && rv == "remote" {
					n++
					if c.Kept != LocalSide {
						t.Errorf("conflict %+v: want the local insert kept", c)
					}
				}
			}
			if n != 1 {
				t.Fatalf("conflict log = %+v; want the insert-vs-insert conflict exactly once", list)
			}
			if got := reported.Load(); got != int64(len(list)) {
				t.Fatalf("OnConflict called %d times for %d entries", got, len(list))
			}
			if !tc.remoteAfter {
				// The delete was made on top of the uploaded insert.
				if m := findOne(t, ctx, rc, 7); m != nil {
					t.Fatalf("remote still holds %v; the local delete was lost", m)
				}
			}
			base, _, err := loadMeta(ctx, s.localDocs, "c", rawID(t, 7))
			if err != nil || base.Pending != nil {
				t.Fatalf("base = %+v, %v; want no pending conflict", base, err)
			}
		})
	}
}

// failUntilOff makes every update of namespace ns on db's server fail (an
// error code) until the returned function (also run at cleanup) turns the
// failpoint off.
func failUntilOff(t *testing.T, ctx context.Context, db *mongo.Database, ns string) func() {
	t.Helper()
	failCommand(t, ctx, db.Client(), 1<<30, []string{"update"}, ns, bson.D{{Key: "errorCode", Value: 8}})
	return func() {
		err := db.Client().Database("admin").RunCommand(ctx, bson.D{{Key: "configureFailPoint", Value: "failCommand"},
			{Key: "mode", Value: "off"}}).Err()
		if err != nil {
			t.Fatalf("failpoint off: %v", err)
		}
	}
}
