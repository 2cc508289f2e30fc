package sync

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Every replica records itself on the remote: name, version, when it was
// last seen, and how far it has synced each collection; ForgetReplica
// retires one.
func TestReplicaRegistry(t *testing.T) {
	ctx := testCtx(t)
	remote := newDB(t, "remote")
	var syncers []*Syncer
	for i := range 2 {
		s := startSynced(t, ctx, withClock(t, Config{
			Local: newDB(t, fmt.Sprint("local", i)), Remote: remote, Collections: []string{"c"}, Backoff: fastBackoff,
			ReplicaID: fmt.Sprint("r", i), ReplicaName: fmt.Sprint("device-", i), HeartbeatInterval: 20 * time.Millisecond,
		}))
		syncers = append(syncers, s)
	}
	if _, err := remote.Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	written, err := operationTime(ctx, remote)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "both replicas registered, synced past the write", func() (bool, string) {
		rs, err := syncers[0].Replicas(ctx)
		if err != nil {
			return false, err.Error()
		}
		ok := len(rs) == 2
		for _, r := range rs {
			past := r.SyncedPast["c"]
			ok = ok && !past.Before(written) && r.Name == "device-"+r.ID[1:] && r.Version != "" &&
				time.Since(r.LastSeen) < time.Minute && !r.FirstSeen.After(r.LastSeen)
		}
		return ok, fmt.Sprintf("%+v (write at %v)", rs, written)
	})
	if err := syncers[0].ForgetReplica(ctx, "nope"); !errors.Is(err, ErrUnknownReplica) {
		t.Fatalf("ForgetReplica(unknown) = %v", err)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := syncers[1].Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if err := syncers[0].ForgetReplica(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	rs, err := syncers[0].Replicas(ctx)
	if err != nil || len(rs) != 1 || rs[0].ID != "r0" {
		t.Fatalf("after forgetting r1: %+v, %v", rs, err)
	}
}
